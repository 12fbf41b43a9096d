"""Article links and next-page links of a news list page (a section, a tag, a forum board).

A source may name list pages to scan (``pages``). For one downloaded page, this module says
which links are articles to fetch and which lead to the next page of the list; the spider
follows those up to its pagination depth. It is pure (no network, no settings, no logging):
the caller logs and counts what was refused, by reason.

With a ``pattern`` (the source's ``link_pattern``), the articles are exactly the same-site links
whose URL it matches. Without one, :func:`is_article_url` decides from the URL alone: an article
has a date in its path, a long numeric or hexadecimal id, or a slug of several words, and is not
a section, tag, author, search, account, feed or archive page, the homepage, a media file or a
redirect. URLs are what list pages have in common across sites and languages; their layout is
not. The rules are checked on real list pages (163.com, tieba, a Discuz forum, CNN, Yahoo,
Wired) and on newspaper4k's labelled URLs, in ``tests/crawler/test_link_picker.py``.

Work is bounded: at most :data:`MAX_ANCHORS` links of a page are examined and at most
``max_links`` articles kept; the others are counted as ``over_limit``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import SplitResult, parse_qsl, unquote, urldefrag, urljoin, urlsplit

import lxml.etree
import lxml.html
from courlan import extract_domain
from w3lib.encoding import html_to_unicode
from w3lib.html import strip_html5_whitespace
from w3lib.url import safe_url_string

from storage.urls import canonicalize_url

MAX_ANCHORS = 5_000
"""Links examined on one page; a real list page has a few hundred (163.com's front page: 1,200)."""
MAX_TEXT_CHARS = 300
"""A link's text is a title hint; a whole teaser wrapped in a link is cut to this."""


class Refusal(StrEnum):
    """Why a link of the page is not followed."""

    OFFSITE = "offsite"
    """Another site than the page's (subdomains of the page's registered domain count as its)."""
    NOT_ARTICLE = "not_article"
    """A section, tag, pagination or utility link, the page itself, or not matching the pattern."""
    OVER_LIMIT = "over_limit"
    """Beyond the first MAX_ANCHORS links of the page, or beyond ``max_links`` articles."""
    BAD_URL = "bad_url"
    """Not an http(s) URL (``mailto:``, ``javascript:``), unparseable, or absurdly long."""


@dataclass(frozen=True, slots=True)
class PickedLink:
    url: str
    """Absolute, without fragment, as the page gives it (non-ASCII characters escaped)."""
    text: str
    """The link's text, whitespace collapsed (its ``title`` or image ``alt`` if it has none)."""


@dataclass(frozen=True, slots=True)
class PickedLinks:
    articles: tuple[PickedLink, ...]
    """In page order, each article once (the first link to it, with the first non-empty text)."""
    next_pages: tuple[str, ...]
    """The next page of the list: usually one URL; two when the page does not say which number
    it is and both ``?page=1`` and ``?page=2`` (0- or 1-based numbering) are offered."""
    refused: dict[Refusal, int] = field(default_factory=dict)
    """Every reason, zero included."""
    duplicates: int = 0
    """Further links to an article or next page already picked from this page."""
    links: int = 0
    """Links of the page considered: articles + next pages + duplicates + all refused."""
    problem: str | None = None
    """Why nothing could be read from the body (empty, binary, not parseable), else None."""


def pick_links(
    html: str | bytes,
    page_url: str,
    *,
    pattern: str | re.Pattern[str] | None = None,
    max_links: int = 500,
    encoding: str | None = None,
    allowed_domains: Collection[str] = (),
) -> PickedLinks:
    """The article links and next-page links of the list page ``html`` found at ``page_url``.

    ``encoding`` is the HTTP header's charset, if any, for a ``bytes`` body. ``allowed_domains``
    are further sites whose links count as the page's own (a source's ``allowed_domains``).
    An invalid ``pattern`` or ``page_url`` raises ``ValueError``; a body that is not HTML gives
    no links and a ``problem``, without raising.
    """
    link_pattern = _compile(pattern)
    root, problem = _parse_html(html, encoding)
    if root is None:
        return PickedLinks((), (), _no_refusals(), problem=problem)
    picker = _Picker(page_url, _base_url(root, page_url), link_pattern, max_links, allowed_domains)
    for number, element in enumerate(_links_of(root)):
        if number < MAX_ANCHORS:
            picker.add(element)
        else:
            picker.refuse(Refusal.OVER_LIMIT)
    return picker.result()


class _Picker:
    """The links of one page, sorted as they come: articles, next pages, duplicates, refused."""

    def __init__(
        self,
        page_url: str,
        base_url: str,
        pattern: re.Pattern[str] | None,
        max_links: int,
        allowed_domains: Collection[str],
    ) -> None:
        page = urlsplit(page_url)
        self._base_url = base_url
        self._pattern = pattern
        self._max_links = max_links
        self._is_same_site = _SiteMatcher(page, allowed_domains)
        self._page_position = _list_position(page)
        self._page_key = canonicalize_url(page_url)
        self._articles: dict[str, PickedLink] = {}  # by canonical URL
        self._explicit_next: dict[str, str] = {}
        self._numbered_next: dict[str, str] = {}
        self._refused = _no_refusals()
        self._duplicates = 0
        self._links = 0

    def refuse(self, reason: Refusal) -> None:
        self._links += 1
        self._refused[reason] += 1

    def add(self, element: lxml.html.HtmlElement) -> None:
        try:
            url = _absolute_url(element.get("href", ""), self._base_url)
            key = self._key(url)
        except ValueError:
            self.refuse(Refusal.BAD_URL)
            return
        parts = urlsplit(url)
        if not self._is_same_site(parts):
            self.refuse(Refusal.OFFSITE)
        elif key == self._page_key:
            self.refuse(Refusal.NOT_ARTICLE)
        elif key in self._articles or key in self._explicit_next or key in self._numbered_next:
            self._links += 1
            self._duplicates += 1
            known = self._articles.get(key)
            if known is not None and not known.text:
                self._articles[key] = PickedLink(known.url, _link_text(element))
            if key in self._numbered_next and _is_next_link(element):  # "2", then "Next ›"
                self._explicit_next[key] = self._numbered_next.pop(key)
        else:
            self._sort(element, url, key, parts)

    def _key(self, url: str) -> str:
        """Links to one article differ by tracking arguments (CNN's ``?hpt=hp_t2``): when the
        path alone names an article, the query is left out of the comparison."""
        without_query = url.split("?", 1)[0]
        if self._pattern is None and without_query != url and is_article_url(without_query):
            return canonicalize_url(without_query)
        return canonicalize_url(url)

    def _sort(self, element: lxml.html.HtmlElement, url: str, key: str, parts: SplitResult) -> None:
        is_numbered_next = _is_successor(self._page_position, _list_position(parts))
        if self._pattern is not None:
            is_article = self._pattern.search(url) is not None
        else:
            is_article = not is_numbered_next and is_article_url(url)
        if is_article and len(self._articles) >= self._max_links:
            self.refuse(Refusal.OVER_LIMIT)
            return
        self._links += 1
        if is_article:
            self._articles[key] = PickedLink(url, _link_text(element))
        elif is_numbered_next:
            self._numbered_next[key] = url
        elif _is_next_link(element):
            self._explicit_next[key] = url
        else:
            self._refused[Refusal.NOT_ARTICLE] += 1

    def result(self) -> PickedLinks:
        # A "next" link says which page follows; page numbers are a guess, used only without one.
        next_pages = self._explicit_next or self._numbered_next
        refused = dict(self._refused)
        if self._explicit_next:
            refused[Refusal.NOT_ARTICLE] += len(self._numbered_next)
        return PickedLinks(
            articles=tuple(self._articles.values()),
            next_pages=tuple(next_pages.values()),
            refused=refused,
            duplicates=self._duplicates,
            links=self._links,
        )


# --- What an article URL looks like -----------------------------------------------------------

_DATE = re.compile(
    r"(?<![0-9])(?:19|20)[0-9]{2}(?:"
    r"(?:0[1-9]|1[0-2])/?(?:0[1-9]|[12][0-9]|3[01])"  # 20240517, 202405/17
    # 2024/05/17, 2024-5-17, 2024/0517, 2024-05/17
    r"|[-/_.](?:0?[1-9]|1[0-2])[-/_.]?(?:0?[1-9]|[12][0-9]|3[01])"
    r"|/(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*/[0-9]{1,2}"  # 2024/may/17
    r"|[-/_](?:0[1-9]|1[0-2])"  # 2024/05, only with a slug after it
    r")(?![0-9])",
    re.IGNORECASE,
)
_LONG_NUMBER = re.compile(r"(?<![0-9])[0-9]{5,}(?![0-9])")
_HEX_ID = re.compile(  # 8 or more hexadecimal digits, not all decimal, not a word
    r"(?<![0-9a-z])(?=[0-9a-z]*[0-9])(?=[0-9a-z]*[a-f])[0-9a-f]{8,}(?![0-9a-z])", re.IGNORECASE
)
_CODE_ID = re.compile(  # 10 or more letters and digits, 4 of them digits: FJ112AIS00018AOR
    r"(?<![0-9a-z])(?=(?:[a-z]*[0-9]){4})(?=[0-9]*[a-z])[0-9a-z]{10,}(?![0-9a-z])", re.IGNORECASE
)
_ID_VALUE = re.compile(r"[0-9]{4,}|[0-9a-f]{8,}|[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}", re.I)
_SLUG_SEPARATORS = re.compile(r"[-_+.,~\s]+")
_PAGE_SEGMENT = re.compile(r"/page/([0-9]{1,5})/?$", re.IGNORECASE)
_PAGE_SUFFIX = re.compile(  # forum-9-2.html, index_1.htm, People's Daily's index2.html
    r"(?:[_-]|(?<=/index)|(?<=/list))([0-9]{1,5})(\.[a-z]{2,6})$", re.IGNORECASE
)
_INDEX_FILE = re.compile(r"/(?:index|default|list)(?:\.[a-z]{2,6})?$", re.IGNORECASE)
_LISTING_STEM = re.compile(
    r"^(?:index|default|home|main|list|node|channel|column|lanmu|more)(?:[_-]?[0-9]+)*$",
    re.IGNORECASE,
)

_PAGE_PARAMETERS = frozenset({"page", "paged", "pg", "pageno", "page_no", "pagenum", "pagina"})
_ID_PARAMETERS = frozenset(
    {"id", "aid", "tid", "nid", "docid", "newsid", "articleid", "contentid", "storyid", "postid"}
)
_SECTION_WORDS = frozenset(
    {
        # sections, tags, people, archives
        "tag", "tags", "topic", "topics", "category", "categories", "categorie", "rubrique",
        "rubriques", "section", "sections", "theme", "themes", "dossier", "dossiers",
        "keyword", "keywords", "label", "labels", "author", "authors", "auteur", "auteurs",
        "journaliste", "journalistes", "user", "users", "profile", "profil", "member", "members",
        "people", "staff", "home", "archive", "archives", "page", "special", "specials", "zhuanti",
        # utilities
        "search", "recherche", "login", "logout", "signin", "signup", "register", "account",
        "compte", "subscribe", "subscription", "abonnement", "abonnements", "newsletter",
        "newsletters", "about", "a-propos", "contact", "contacts", "feed", "feeds", "rss", "atom",
        "privacy", "cookies", "terms", "legal", "mentions-legales", "cgu", "help", "aide", "faq",
        "sitemap", "plan-du-site", "jobs", "careers", "emplois", "advertise", "publicite", "shop",
        "boutique", "redirect", "redir", "goto", "share", "print",
    }
)  # fmt: skip
_STORY_WORDS = frozenset({"article", "articles", "story", "stories", "post", "posts"})
_NON_CONTENT_HOSTS = frozenset(
    {"comment", "comments", "passport", "login", "reg", "account", "accounts", "mail", "help",
     "search", "sitemap"}
)  # fmt: skip
_MEDIA_EXTENSIONS = frozenset(
    """jpg jpeg png gif webp svg bmp ico tif tiff avif heic mp3 m4a aac ogg oga wav flac mp4 m4v
    mov avi wmv flv webm mkv mpg mpeg 3gp pdf doc docx xls xlsx ppt pptx odt ods odp rtf epub csv
    txt zip rar 7z gz tgz tar bz2 xz exe msi dmg apk ipa css js mjs json xml rss atom woff woff2
    ttf eot otf swf""".split()  # noqa: SIM905 (a list literal would take 20 lines)
)
_PAGE_EXTENSIONS = frozenset(
    ["html", "htm", "shtml", "xhtml", "php", "asp", "aspx", "jsp", "cms", "ece", "ghtml"]
)  # fmt: skip
_MIN_SLUG_WORDS = 4
"""Words in the last segment of an ``.html`` article link; section names have fewer
(``/economie/entreprises-et-marches.html`` has three)."""
_MIN_BARE_SLUG_WORDS = 6
"""The same without an extension, where section paths are slugs too
(``/world/middle-east-and-north-africa/`` has five)."""


def is_article_url(url: str) -> bool:
    """Whether an absolute URL looks like a news article's rather than a section's or a tool's."""
    parts = urlsplit(url)
    path = unquote(parts.path)
    segments = [segment for segment in path.lower().split("/") if segment]
    if not segments or _is_refused_outright(parts, segments):
        return False
    stem, extension = _split_extension(segments[-1])
    is_index = _LISTING_STEM.match(stem) is not None
    if is_index:  # /2024/05/17/slug/index.html is an article, /GB/59476/index.html a section
        segments = segments[:-1]
        path = path[: path.rstrip("/").rfind("/") + 1]
        if not segments:
            return False
        stem, extension = segments[-1], ""
    if _has_date(path):
        return True
    if any(_split_extension(segment)[0] in _SECTION_WORDS for segment in segments):
        return False
    if not is_index and _has_id(path, parts.query):
        return True
    words = sum(1 for word in _SLUG_SEPARATORS.split(stem) if any(map(str.isalpha, word)))
    if len(segments) > 1 and segments[-2] in _STORY_WORDS:
        return words >= 2
    return words >= (_MIN_SLUG_WORDS if extension in _PAGE_EXTENSIONS else _MIN_BARE_SLUG_WORDS)


def _is_refused_outright(parts: SplitResult, segments: list[str]) -> bool:
    """Media files, utility hosts, redirects and pagination, whatever else the URL says."""
    _, extension = _split_extension(segments[-1])
    if extension in _MEDIA_EXTENSIONS:
        return True
    if (parts.hostname or "").split(".", 1)[0] in _NON_CONTENT_HOSTS:
        return True
    if _PAGE_SEGMENT.search(parts.path):
        return True
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name.lower() in _PAGE_PARAMETERS or "redirect" in (name.lower(), value.lower()):
            return True
    return False


def _split_extension(segment: str) -> tuple[str, str]:
    stem, dot, extension = segment.rpartition(".")
    if not dot or not extension.isalnum() or len(extension) > 6:
        return segment, ""
    return stem, extension.lower()


def _has_date(path: str) -> bool:
    """A date in the path that names an article, not a date archive (``/2024/05/17/``)."""
    for match in _DATE.finditer(path):
        inside_a_word = not path[: match.start()].endswith("/")  # t20240517_1.html, slug-2024-05-17
        followed = any(character.isalnum() for character in path[match.end() :])
        if inside_a_word or followed:
            return True
    return False


def _has_id(path: str, query: str) -> bool:
    """A long number (``c_1130142345.htm``, ``/p/6855922500``) or hex id in the path or ``?id=``."""
    if _LONG_NUMBER.search(path) or _HEX_ID.search(path) or _CODE_ID.search(path):
        return True
    return any(
        name.lower() in _ID_PARAMETERS and _ID_VALUE.fullmatch(value)
        for name, value in parse_qsl(query, keep_blank_values=True)
    )


# --- Pagination ---------------------------------------------------------------------------------

_NEXT_LABELS = frozenset(
    {"next", "next page", "older", "older posts", "older entries", "older articles", "suivant",
     "suivante", "page suivante", "articles suivants", "下一页", "下页", "下一頁", "后一页",
     "weiter", "nächste", "nächste seite", "siguiente", "página siguiente", "successivo",
     "次へ", "次のページ", "다음"}
)  # fmt: skip
_NEXT_CLASSES = frozenset({"next", "nxt", "next-page", "nextpage", "page-next", "pagination-next"})
_LABEL_PUNCTUATION = " \t\r\n»›>→«‹<←·|…:.-–—()[]"


def _is_next_link(element: lxml.html.HtmlElement) -> bool:
    """``rel="next"``, a next-page class, or a label such as "Next »", "Page suivante", "下一页"."""
    if "next" in (element.get("rel") or "").lower().split():
        return True
    if _NEXT_CLASSES.intersection((element.get("class") or "").lower().split()):
        return True
    labels = (element.text_content(), element.get("aria-label"), element.get("title"))
    return any(
        label and " ".join(label.lower().split()).strip(_LABEL_PUNCTUATION) in _NEXT_LABELS
        for label in labels
    )


_ListPosition = tuple[tuple[str, str, str], int | None]


def _list_position(parts: SplitResult) -> _ListPosition:
    """Which list a URL shows (host, path, other query arguments) and its page number if stated.

    ``/news/``, ``/news/index.html``, ``/news/page/3/``, ``/news/index_2.html`` and
    ``/news/?page=3`` are pages of the same list; so are ``forum-9-1.html`` and ``forum-9-2.html``.
    """
    number = None
    query = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if number is None and name.lower() in _PAGE_PARAMETERS and value.isdigit():
            number = int(value)
        else:
            query.append(f"{name}={value}")
    path = parts.path or "/"
    if number is None and (match := _PAGE_SEGMENT.search(path) or _PAGE_SUFFIX.search(path)):
        number = int(match.group(1))
        path = path[: match.start()] + (match.group(2) if match.re is _PAGE_SUFFIX else "/")
    path = _INDEX_FILE.sub("/", path)
    return ((parts.netloc.lower(), path, "&".join(sorted(query))), number)


def _is_successor(page: _ListPosition, link: _ListPosition) -> bool:
    """Whether ``link`` is the page of the same list after ``page``.

    A page that does not state its number is the first: 1 in a 1-based numbering, 0 in a
    0-based one (Drupal's ``?page=1`` is its second page), so both 1 and 2 may follow it.
    """
    (page_list, page_number), (link_list, link_number) = page, link
    if link_list != page_list or link_number is None:
        return False
    if page_number is None:
        return link_number in (1, 2)
    return link_number == page_number + 1


# --- Parsing ------------------------------------------------------------------------------------


def _compile(pattern: str | re.Pattern[str] | None) -> re.Pattern[str] | None:
    if pattern is None or isinstance(pattern, re.Pattern):
        return pattern
    try:
        return re.compile(pattern)
    except re.error as error:
        raise ValueError(f"link pattern {pattern!r} is not a regular expression: {error}") from None


def _parse_html(
    html: str | bytes, encoding: str | None
) -> tuple[lxml.html.HtmlElement | None, str | None]:
    """The document's root element, or None and why not."""
    if isinstance(html, bytes):
        content_type = f"text/html; charset={encoding}" if encoding else None
        _, html = html_to_unicode(content_type, html)
    if not html.strip():
        return None, "empty body"
    if "\x00" in html[:4096]:
        return None, "binary content, not HTML"
    # Parsing bytes with a declared encoding: lxml refuses str with an XML encoding declaration.
    parser = lxml.html.HTMLParser(encoding="utf-8", remove_comments=True)
    try:
        root = lxml.html.document_fromstring(html.encode("utf-8", "replace"), parser=parser)
    except (lxml.etree.ParserError, ValueError) as error:
        return None, f"not parseable as HTML: {error}"
    return root, None


def _links_of(root: lxml.html.HtmlElement) -> Iterator[lxml.html.HtmlElement]:
    """Anchors with an ``href``, and ``<link rel="next">``, in document order."""
    for element in root.iter("a", "link"):
        if element.get("href") is None:
            continue
        if element.tag == "link" and "next" not in (element.get("rel") or "").lower().split():
            continue
        yield element


def _base_url(root: lxml.html.HtmlElement, page_url: str) -> str:
    """The page URL, or the document's ``<base href>`` (a Discuz forum's links need it)."""
    for href in root.xpath("//base/@href")[:1]:
        base = urljoin(page_url, strip_html5_whitespace(str(href)))
        if urlsplit(base).scheme in ("http", "https"):
            return base
    return page_url


def _absolute_url(href: str, base: str) -> str:
    """Raises ValueError for a link that is not a web address."""
    url, _ = urldefrag(urljoin(base, strip_html5_whitespace(href)))
    return safe_url_string(url)


def _link_text(element: lxml.html.HtmlElement) -> str:
    text = " ".join(element.text_content().split())
    if not text:
        text = element.get("title") or " ".join(element.xpath(".//img/@alt")[:1])
        text = " ".join(text.split())
    return text[:MAX_TEXT_CHARS]


def _no_refusals() -> dict[Refusal, int]:
    return dict.fromkeys(Refusal, 0)


class _SiteMatcher:
    """Whether a link is on the page's site: the same registered domain (``world.people.com.cn``
    for ``www.people.com.cn``, by the public suffix list), or one of ``allowed_domains``. Hosts
    without a registered domain (an IP address, ``localhost``) must match with their port."""

    def __init__(self, page: SplitResult, allowed_domains: Collection[str]) -> None:
        self._page_netloc = page.netloc.lower()
        self._allowed = tuple(domain.lower().strip(".") for domain in allowed_domains)
        self._cache: dict[str, str | None] = {}
        self._page_domain = self._domain(page.hostname or "")

    def __call__(self, link: SplitResult) -> bool:
        host = (link.hostname or "").lower()
        if any(host == domain or host.endswith("." + domain) for domain in self._allowed):
            return True
        if self._page_domain is None:
            return link.netloc.lower() == self._page_netloc
        return self._domain(host) == self._page_domain

    def _domain(self, host: str) -> str | None:
        if host not in self._cache:
            self._cache[host] = extract_domain(f"http://{host}/") if host else None
        return self._cache[host]
