"""Article extraction: page bytes to clean text and metadata, and the choice of a publication date.

The functions here are pure (apart from reading the clock in :func:`extract`) so that tests and
``bench/extraction.py`` call them directly; the Scrapy pipeline is a thin adapter over them,
which has them run in the crawl's CPU pool (:mod:`pipelines.cpu_pool`). trafilatura's
``Document`` is converted into our own :class:`~storage.records.Extracted` here and goes no
further.
"""

from __future__ import annotations

import codecs
import logging
from collections.abc import Callable
from copy import copy
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import TYPE_CHECKING, Self
from urllib.parse import urlsplit

from lxml.html import HtmlElement
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from w3lib.encoding import html_to_unicode, http_content_type_encoding

from pipelines.cpu_pool import CpuPool, PreparedArticle, WorkerCrashed, cpu_workers
from storage.crawl_stats import count_event
from storage.database import create_database_engine, make_session_factory
from storage.models import UrlOutcome
from storage.poll_state import forget_body
from storage.records import ArticleRecord, Extracted, FetchedPage, PublishedFrom
from storage.repository import remember_url
from storage.urls import canonicalize_url

if TYPE_CHECKING:
    from py3langid.langid import LanguageIdentifier
    from trafilatura.settings import Extractor

    from pipelines.page_analysis import PageJob

logger = logging.getLogger(__name__)

EARLIEST_PLAUSIBLE_DATE = datetime(1990, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE = timedelta(days=1)
"""Pages and feeds east of UTC state dates that are "tomorrow" in UTC."""

MIN_ARTICLE_CHARS = 80
"""Shorter texts are what trafilatura falls back to on pages without an article: a menu, a
cookie or "enable JavaScript" notice (typically under 60 characters). The shortest gold body
in the extraction benchmark has 369."""

# Below this probability the detected language is a guess, and the source's language wins.
_MIN_DETECTION_PROBABILITY = 0.9
# A declared language is overruled only by a near-certain identification of enough text.
_OVERRULE_DECLARED_PROBABILITY = 0.8
_OVERRULE_DECLARED_MIN_CHARS = 150
# Language identification is linear in the text; its first 2,000 characters suffice: on the
# benchmark's 1,000 news pages (5,100 characters of text on average) they give the same
# language as the first 5,000 on every page, in 1.3 ms rather than 2.2.
_DETECTION_SAMPLE_CHARS = 2000


# Built once; extract() copies it (a few microseconds) to set the per-page URL and date bound,
# because bare_extraction() ignores its own url= argument when given options.
# output_format="python" is required: with any other format the Document's text stays empty.
# htmldate's extensive search guesses from free text, down to the copyright year as 1 January,
# and a page date overrides the feed's. On the 851 pages of trafilatura's evaluation set with a
# gold date, turning it on adds 29 right dates and 62 wrong ones (52 on pages that state none),
# so it stays off and an undated page falls back to its feed entry's date.
@cache
def _options() -> Extractor:
    # trafilatura is imported on first use: a crawl process whose pages all go to the CPU pool
    # never loads it, nor the language model it imports.
    from trafilatura.settings import Extractor

    return Extractor(
        output_format="python",
        with_metadata=True,
        comments=False,
        date_params={
            "original_date": True,
            "extensive_search": False,
            "min_date": EARLIEST_PLAUSIBLE_DATE.date().isoformat(),
        },
    )


def extract(
    html: bytes | str,
    url: str,
    *,
    encoding: str | None = None,
    language_hint: str | None = None,
) -> Extracted | None:
    """Extract the article text and metadata of one page.

    Returns None when the page has no article text: not HTML, empty, or only boilerplate
    (under :data:`MIN_ARTICLE_CHARS` extracted).

    ``encoding`` is the charset declared by the HTTP ``Content-Type`` header, if any; pass the
    header's value rather than a guess, since bytes that are valid UTF-8 are read as UTF-8
    whatever it says. ``language_hint`` (the source's configured language) is used only when the
    page declares no language and its text is too short or ambiguous to identify.
    """
    from trafilatura import bare_extraction
    from trafilatura.settings import Document
    from trafilatura.utils import load_html

    text = html if isinstance(html, str) else _decode(html, encoding)
    tree = load_html(text)
    if tree is None:
        logger.debug("Not parseable as HTML: %s", url)
        return None
    now = datetime.now(UTC)
    defaults = _options()
    options = copy(defaults)
    options.url = options.source = url
    # Stop htmldate from picking future dates; is_plausible_date() checks again afterwards.
    options.date_params = {
        **defaults.date_params,
        "max_date": (now + FUTURE_TOLERANCE).date().isoformat(),
    }
    document = bare_extraction(tree, options=options)
    body = document.text.strip() if isinstance(document, Document) and document.text else ""
    if len(body) < MIN_ARTICLE_CHARS:
        logger.debug("No article text in %s (%d characters extracted)", url, len(body))
        return None

    language, detected = _choose_language(_declared_language(tree), body, language_hint, url)
    published = _page_date(document.date, tree)
    if published is not None and not is_plausible_date(published, now=now):
        logger.debug("Ignoring implausible page date %s in %s", published.isoformat(), url)
        published = None
    return Extracted(
        text=body,
        title=document.title or None,
        author=document.author or None,
        sitename=document.sitename or None,
        description=document.description or None,
        published=published,
        language=language,
        language_detected=detected,
        declared_canonical_url=_declared_canonical_url(document.url, url),
    )


def is_plausible_date(value: datetime, *, now: datetime) -> bool:
    """Whether ``value`` could be a publication date seen at ``now`` (both timezone-aware)."""
    if value.tzinfo is None or now.tzinfo is None:
        raise ValueError("is_plausible_date needs timezone-aware datetimes")
    return EARLIEST_PLAUSIBLE_DATE <= value <= now + FUTURE_TOLERANCE


def choose_published(
    page_date: datetime | None,
    feed_date: datetime | None,
    first_seen: datetime,
) -> tuple[datetime, PublishedFrom]:
    """Pick the most trusted plausible publication date: the page's, the feed entry's, else
    when we first saw the article. A date later than ``first_seen`` (beyond the timezone
    tolerance) is implausible: nothing is published after we have read it.
    """
    candidates = ((page_date, PublishedFrom.PAGE), (feed_date, PublishedFrom.FEED))
    for value, origin in candidates:
        if value is None:
            continue
        if is_plausible_date(value, now=first_seen):
            return value.astimezone(UTC), origin
        logger.debug(
            "Skipping implausible %s date %s (first seen %s)",
            origin,
            value.isoformat(),
            first_seen.isoformat(),
        )
    return first_seen.astimezone(UTC), PublishedFrom.FIRST_SEEN


def _decode(body: bytes, encoding: str | None) -> str:
    """Decode page bytes: valid UTF-8 first, then Scrapy's order (BOM, header, ``<meta>``),
    then trafilatura's detection.

    UTF-8 goes first because non-ASCII text in a legacy encoding is practically never valid
    UTF-8, whereas declared charsets are often stale (a page re-encoded to UTF-8 that still
    says ``gb2312``). w3lib maps declared names as browsers do (``gb2312`` reads as GB18030).
    """
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    header = f"text/html; charset={encoding}" if encoding else None
    _, text = html_to_unicode(header, body, auto_detect_fun=_guess_encoding)
    return text


def _guess_encoding(body: bytes) -> str | None:
    from trafilatura.utils import detect_encoding

    for guess in detect_encoding(body):
        try:
            return codecs.lookup(guess).name
        except LookupError:
            continue
    return None


def _declared_language(tree: HtmlElement) -> str | None:
    """The page's own language: ``<html lang>``, else ``og:locale``, else Content-Language."""
    declared = [tree.get("lang"), tree.get("xml:lang")]
    for meta in tree.iter("meta"):
        key = (meta.get("property") or meta.get("http-equiv") or "").strip().lower()
        if key in {"og:locale", "content-language"}:
            declared.append(meta.get("content"))
    for value in declared:
        language = _normalize_language(value)
        if language is not None:
            return language
    return None


def _normalize_language(value: str | None) -> str | None:
    """``fr-FR``, ``zh_CN``, ``zh-cmn-Hans``, ``EN, fr`` → ``fr``, ``zh``, ``zh``, ``en``."""
    if not value:
        return None
    first = value.split(",", 1)[0].strip().replace("_", "-")
    primary = first.split("-", 1)[0].lower()
    if primary in _CHINESE_CODES:  # py3langid says "yue" for traditional Chinese text
        return "zh"
    if len(primary) == 2 and primary.isascii() and primary.isalpha():
        return primary
    return None


_CHINESE_CODES = frozenset({"yue", "cmn", "wuu", "lzh", "zho", "chi", "hak", "nan", "gan"})


def detect_language(text: str, hint: str | None = None) -> str | None:
    """The language of a text (two letters), or ``hint`` when the text is too ambiguous."""
    return _choose_language(None, text, hint, "text")[0]


def _choose_language(
    declared: str | None, text: str, hint: str | None, url: str
) -> tuple[str | None, bool]:
    """The page's language and whether it was detected rather than declared.

    The declared language wins, except when the text plainly says otherwise: templates
    often hard-code ``<html lang="en">`` on pages written in Chinese.
    """
    identified, probability = _language_identifier().classify(text[:_DETECTION_SAMPLE_CHARS])
    identified = _normalize_language(identified)
    if declared is not None:
        overruled = (
            identified not in (None, declared)
            and probability >= _OVERRULE_DECLARED_PROBABILITY
            and len(text) >= _OVERRULE_DECLARED_MIN_CHARS
        )
        if not overruled:
            return declared, False
        logger.debug("%s declares language %s but its text is %s", url, declared, identified)
        return identified, True
    normalized_hint = _normalize_language(hint)
    if probability < _MIN_DETECTION_PROBABILITY and normalized_hint is not None:
        return normalized_hint, True
    return identified, True


@cache
def _language_identifier() -> LanguageIdentifier:
    # Loaded on first use, not at import (nor py3langid, a tenth of a second: a crawl process
    # whose pages all go to the CPU pool never needs it); normalized probabilities make the
    # threshold meaningful.
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def _page_date(stated: str | None, tree: HtmlElement) -> datetime | None:
    """The page-stated day from htmldate as an aware UTC datetime, with the time of day from
    ``article:published_time`` when that timestamp falls on the same day."""
    if not stated:
        return None
    try:
        day = date.fromisoformat(stated)
    except ValueError:
        logger.debug("Unreadable page date %r", stated)
        return None
    precise = _published_time_meta(tree)
    if precise is not None and day in {precise.date(), precise.astimezone(UTC).date()}:
        return precise.astimezone(UTC)
    return datetime.combine(day, time(), tzinfo=UTC)


def _published_time_meta(tree: HtmlElement) -> datetime | None:
    for meta in tree.iter("meta"):
        if (meta.get("property") or "").strip().lower() != "article:published_time":
            continue
        try:
            value = datetime.fromisoformat((meta.get("content") or "").strip())
        except ValueError:
            return None
        # A timestamp without an offset is local time of an unknown zone: keep only its day.
        return value if value.tzinfo is not None else None
    return None


def _declared_canonical_url(document_url: str | None, url: str) -> str | None:
    """trafilatura's document URL (og:url, canonical link, ...) when it is the page's own.

    trafilatura falls back to the URL we passed when the page declares none, so that value
    means "nothing declared" (or the same URL declared, which changes nothing downstream).
    """
    if not document_url or document_url == url:
        return None
    parts = urlsplit(document_url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return None
    return document_url


def build_article(page: FetchedPage) -> ArticleRecord | None:
    """The extraction stage for one page: its article record, with the publication date chosen
    and the feed entry's title when the page states none; None when the page has no article
    text (:func:`extract`)."""
    extracted = extract(
        page.body,
        page.final_url,
        encoding=http_content_type_encoding(page.content_type),
        language_hint=page.language_hint,
    )
    if extracted is None:
        return None
    published, published_from = choose_published(
        extracted.published, page.feed_published, page.fetched_at
    )
    if extracted.title is None and page.feed_title:
        extracted = replace(extracted, title=page.feed_title)
    return ArticleRecord(
        page=page,
        extracted=extracted,
        canonical_url=canonicalize_url(page.final_url),
        published=published,
        published_from=published_from,
    )


START_POOL_WITH_WAITING = 200
"""Requests waiting in the scheduler that start the CPU pool at once, rather than after
:data:`~pipelines.cpu_pool.START_AFTER_SECONDS` of pages prepared in-process: that many pages
to come are worth starting the workers for, and starting them early keeps both cores busy
from the start of a large crawl."""


class EmptyExtraction(DropItem):
    """trafilatura found no article text in the page."""


class ExtractionPipeline:
    """Turns a fetched page into an :class:`ArticleRecord`, or drops it as EmptyExtraction.

    The CPU-bound work of this stage and of the later ones for the page
    (:func:`pipelines.page_analysis.prepare_page`) runs in the crawl's :class:`CpuPool`,
    awaited, so that downloads go on meanwhile; the later stages find it done on the record.
    An empty page is remembered, so that it is not fetched again on every run; a page lost
    with a crashed worker is not, so that the next poll of its feed asks for it again.
    """

    pool: CpuPool
    _job: PageJob
    _prepare: Callable[[FetchedPage, PageJob], PreparedArticle | None]

    def __init__(
        self, crawler: Crawler, database_url: str, taxonomy_path: str | None, workers: int
    ) -> None:
        self.crawler = crawler
        self.workers = workers
        self._taxonomy_path = taxonomy_path
        self._engine = create_database_engine(database_url)
        self._sessions = make_session_factory(self._engine)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        return cls(
            crawler,
            settings["VEILLE_DATABASE_URL"],
            settings.get("VEILLE_TAXONOMY_PATH"),
            cpu_workers(settings),
        )

    def open_spider(self) -> None:
        # page_analysis builds on build_article() above: imported here, not at the top of the
        # module, so that the two do not import each other.
        from pipelines.page_analysis import PageJob, prepare_page, prepare_worker

        with self._sessions() as session:
            self._job = PageJob.for_crawl(self._taxonomy_path, session)
        self._prepare = prepare_page
        self.pool = CpuPool(
            self.workers, prepare_worker, (self._job,), preload=["pipelines.pool_preload"]
        )
        assert self.crawler.stats is not None
        self.crawler.stats.set_value("veille/cpu_pool/workers", self.pool.workers)

    async def process_item(self, item: FetchedPage) -> ArticleRecord:
        assert self.crawler.stats is not None
        if not self.pool.started:
            waiting = self._requests_waiting()
            if waiting >= START_POOL_WITH_WAITING:
                self.pool.start(f"{waiting} requests waiting")
        try:
            prepared = await self.pool.run(self._prepare, item, self._job)
        except WorkerCrashed:
            self._lost_with_worker(item)
            raise
        if prepared is None:
            logger.warning("No article text in %s: remembered, not fetched again", item.final_url)
            count_event(self.crawler.stats, "articles/failed/empty_extraction", item.source_id)
            with self._sessions.begin() as session:
                for url in {canonicalize_url(item.final_url), canonicalize_url(item.url)}:
                    remember_url(
                        session, url, UrlOutcome.EMPTY_EXTRACTION, source_id=item.source_id
                    )
            raise EmptyExtraction(f"no article text in {item.final_url}")
        return replace(prepared, page=item)  # the worker sent back the page without its body

    def _requests_waiting(self) -> int:
        """Requests scheduled and not yet sent (mostly articles, once the feeds are read)."""
        stats = self.crawler.stats
        assert stats is not None
        return stats.get_value("scheduler/enqueued", 0) - stats.get_value("scheduler/dequeued", 0)

    def _lost_with_worker(self, item: FetchedPage) -> None:
        assert self.crawler.stats is not None
        logger.warning(
            "Page %s lost: the worker process preparing it died; its feed is read again at "
            "the next poll",
            item.final_url,
        )
        count_event(self.crawler.stats, "articles/failed/worker_crashed", item.source_id)
        if item.feed_url and item.recheck_of is None:
            # As for a page that failed to download (crawler.spiders.articles.article_failed).
            with self._sessions.begin() as session:
                forget_body(session, item.source_id, item.feed_url, due_now=False)

    def close_spider(self) -> None:
        self.pool.shutdown()
        assert self.crawler.stats is not None
        self.crawler.stats.set_value("veille/cpu_pool/peak_waiting", self.pool.peak_waiting)
        self._engine.dispose()
