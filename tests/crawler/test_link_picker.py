"""Article and next-page links of list pages: hand-written section pages, real list pages.

The hand-written pages (``tests/data/list_pages/``) hold every kind of link a section page has;
the expected articles are listed in full, so a wrong pick or a miss fails. The real pages
(163.com, tieba, a Discuz forum, CNN, Wired, Yahoo in ``../shared/corpora``) are scored for
precision and recall against a site-specific rule written after reading each page, the way a
source's ``link_pattern`` would be.
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urldefrag, urljoin

import lxml.html
import pytest

from crawler.link_picker import (
    MAX_ANCHORS,
    PickedLinks,
    Refusal,
    is_article_url,
    pick_links,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "list_pages"


def assert_accounted(picked: PickedLinks) -> None:
    """Every link of the page ends up somewhere: nothing is lost without being counted."""
    assert set(picked.refused) == set(Refusal)
    total = len(picked.articles) + len(picked.next_pages) + picked.duplicates
    assert total + sum(picked.refused.values()) == picked.links


def urls(picked: PickedLinks) -> list[str]:
    return [link.url for link in picked.articles]


# --- Hand-written section pages ----------------------------------------------------------------


def test_french_section_page() -> None:
    page = "https://www.journal-exemple.fr/international/"
    picked = pick_links((DATA / "fr_section.html").read_bytes(), page)
    site = "https://www.journal-exemple.fr"
    assert urls(picked) == [
        f"{site}/international/article/2024/05/17/"
        "la-guerre-en-ukraine-entre-dans-une-nouvelle-phase_6233541_3210.html",
        f"{site}/international/20240517-le-g7-s-accorde-sur-l-usage-des-avoirs-russes",
        f"{site}/international/gaza-l-onu-alerte-sur-la-famine-dans-le-nord-de-l-enclave.html",
        f"{site}/economie/la-bce-pourrait-baisser-ses-taux-des-juin-1234567.php",
        "https://blogs.journal-exemple.fr/carnets/2024/05/16/carnet-de-route-a-kharkiv/",
        f"{site}/international/article/2024/05/16/elections-en-inde-le-bjp-en-tete_6233402_3210"
        ".html?utm_source=newsletter&utm_medium=email",
        f"{site}/videos/video/2024/05/15/au-soudan-la-guerre-oubliee_6233311_1669088.html",
        f"{site}/international/live/2024/05/17/direct-guerre-en-ukraine_6233600_3210.html",
    ]
    # The first link to the lead story is its photo (empty alt): the headline gives the text.
    assert picked.articles[0].text == "La guerre en Ukraine entre dans une nouvelle phase"
    assert picked.next_pages == (f"{site}/international/?page=2",)
    assert picked.refused[Refusal.BAD_URL] == 2  # mailto:, javascript:
    assert picked.refused[Refusal.OFFSITE] == 2  # Twitter, Facebook
    assert_accounted(picked)


def test_english_wordpress_category_page() -> None:
    page = "https://news.example.org/category/world/"
    picked = pick_links((DATA / "en_category.html").read_bytes(), page)
    site = "https://news.example.org"
    assert urls(picked) == [
        f"{site}/2024/05/17/un-security-council-votes-on-gaza-resolution/",
        f"{site}/article/123456/eu-leaders-meet-in-brussels",
        f"{site}/news/world-asia-68912345",
        f"{site}/world/2024/may/16/japan-economy-shrinks-in-first-quarter",
        f"{site}/story/kenya-police-mission-haiti/",
        f"{site}/world/how-a-small-island-nation-is-fighting-rising-seas",
        f"{site}/world/europe/france-election-results-2024-05-12",
        f"{site}/read.php?id=987654",
    ]
    # "Next »" and the numbered "2" are the same page; 3 and 41 are not the next one.
    assert picked.next_pages == (f"{site}/category/world/page/2/",)
    assert picked.refused[Refusal.BAD_URL] == 2  # tel:, a broken IPv6 literal
    assert picked.refused[Refusal.OFFSITE] == 1  # the ad server
    assert_accounted(picked)


def test_chinese_government_list_page_in_gb2312() -> None:
    page = "http://www.example.gov.cn/xwfb/index.html"
    picked = pick_links((DATA / "zh_gov_list.html").read_bytes(), page)
    assert [(link.url, link.text) for link in picked.articles] == [
        (
            "http://www.example.gov.cn/xwfb/202405/t20240517_123456.html",
            "我市召开人工智能产业发展推进会",
        ),
        (
            "http://www.example.gov.cn/zcjd/202405/t20240516_123401.html",
            "《关于促进人工智能产业高质量发展的若干措施》政策解读",
        ),
        (
            "http://www.example.gov.cn/zwgk/2024-05/16/content_6951234.htm",
            "市政府常务会议研究部署数字经济工作",
        ),
        ("http://www.example.gov.cn/xwfb/content_12345.htm", "示例市举办国际人工智能合作论坛"),
        # A subdomain of the same registered domain (gov.cn is a public suffix, not the site).
        (
            "http://fgw.example.gov.cn/fzggdt/202405/t20240515_99887.html",
            "市发展改革委发布算力基础设施建设方案",
        ),
    ]
    assert picked.next_pages == ("http://www.example.gov.cn/xwfb/index_1.html",)
    # www.gov.cn and www.other.gov.cn are other sites.
    assert picked.refused[Refusal.OFFSITE] == 2
    assert_accounted(picked)


def test_charset_from_the_http_header_when_the_page_declares_none() -> None:
    body = (DATA / "zh_gov_list.html").read_bytes().replace(b"; charset=gb2312", b"")
    page = "http://www.example.gov.cn/xwfb/index.html"
    picked = pick_links(body, page, encoding="gb2312")
    assert picked.articles[0].text == "我市召开人工智能产业发展推进会"
    assert pick_links(body.decode("gb2312"), page).articles[0].text == picked.articles[0].text


def test_people_daily_subdomains_and_allowed_domains() -> None:
    page = "http://www.people.com.cn/GB/59476/index.html"
    body = (DATA / "zh_people_section.html").read_bytes()
    people = [
        "http://world.people.com.cn/n1/2024/0517/c1002-40237654.html",
        "http://politics.people.com.cn/n1/2024/0516/c1001-40236789.html",
        "http://www.people.com.cn/n1/2024/0515/c32306-40235678.html",
    ]
    picked = pick_links(body, page)
    assert urls(picked) == people
    # index2.html, not index1.html (the page itself) nor index3.html: the link says "下一页".
    assert picked.next_pages == ("http://www.people.com.cn/GB/59476/index2.html",)
    assert picked.refused[Refusal.OFFSITE] == 1
    xinhua = "http://www.xinhuanet.com/politics/2024-05/17/c_1130142345.htm"
    allowed = pick_links(body, page, allowed_domains=["xinhuanet.com"])
    assert urls(allowed) == [*people[:3], xinhua]
    assert allowed.refused[Refusal.OFFSITE] == 0


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # dates
        ("https://x.example/2024/05/17/some-story/", True),
        ("https://x.example/politics/2024-05/17/c_1130142345.htm", True),
        ("https://x.example/n1/2024/0517/c1002-40237654.html", True),
        ("https://x.example/xwfb/202405/t20240517_123.html", True),
        ("https://x.example/20240517/8f3e9a2b4c/c.html", True),
        ("https://x.example/world/reuters-style-slug-2024-05-17/", True),
        ("https://x.example/2014/07/22/world/asia/giant-insect-china/index.html", True),
        # ids
        ("https://x.example/zwgk/content_12345.htm", True),
        ("https://x.example/p/6855922500", True),
        ("https://x.example/20/0802/09/FJ112AIS00018AOR.html", True),
        ("https://x.example/news/show.aspx?id=990c7733-9293-4441-982e-a44af000bb19", True),
        # sections, archives, tools
        ("https://x.example/", False),
        ("https://x.example/world/", False),
        ("https://x.example/2024/05/17/", False),
        ("https://x.example/2024/05/", False),
        ("https://x.example/archives/2024/05/17/index.html", False),
        ("https://x.example/tag/2024-elections-in-india-and-pakistan/", False),
        ("https://x.example/author/jane-smith-1234567/", False),
        ("https://x.example/GB/59476/index.html", False),
        ("https://x.example/xxgk/node_12345.htm", False),
        ("https://x.example/news/page/2/", False),
        ("https://x.example/news/?page=2", False),
        ("https://x.example/keywords/6/d/62db751f/1.html", False),
        ("https://x.example/photos/2024/05/17/kharkiv-1234567.jpg", False),
        ("https://x.example/forum.php?mod=redirect&tid=202746&goto=lastpost", False),
        ("https://comment.x.example/FJ0TBG9Q00019QIF.html", False),
    ],
)
def test_article_url_rules(url: str, expected: bool) -> None:
    assert is_article_url(url) is expected


def test_newspaper4k_labelled_urls(corpora: Path) -> None:
    """newspaper4k's own article/not-article labels for 40 real URLs of many sites."""
    listing = corpora / "pages/newspaper4k/tests/data/test_urls.txt"
    labelled = [line.split(" ", 1) for line in listing.read_text().splitlines() if line.strip()]
    assert len(labelled) == 40
    wrong = [url for label, url in labelled if is_article_url(url.strip()) != (label == "1")]
    assert wrong == []


# --- Pagination ---------------------------------------------------------------------------------


def page_with(*hrefs: str) -> str:
    links = "".join(f'<a href="{href}">{number}</a>' for number, href in enumerate(hrefs, 1))
    return f"<html><body><p>{links}</p></body></html>"


def test_page_numbers_without_a_next_link() -> None:
    html = page_with("/news/?page=1", "/news/?page=2", "/news/?page=3", "/news/?page=4")
    # The first page does not say whether it is page 0 or 1: both candidates are offered.
    first = pick_links(html, "https://x.example/news/")
    assert first.next_pages == ("https://x.example/news/?page=1", "https://x.example/news/?page=2")
    third = pick_links(html, "https://x.example/news/?page=3")
    assert third.next_pages == ("https://x.example/news/?page=4",)
    wordpress = page_with("/news/page/2/", "/news/page/3/", "/news/page/4/")
    assert pick_links(wordpress, "https://x.example/news/page/3/").next_pages == (
        "https://x.example/news/page/4/",
    )
    chinese = page_with("index_1.html", "index_2.html", "index_49.html")
    assert pick_links(chinese, "http://x.example/xwfb/index_1.html").next_pages == (
        "http://x.example/xwfb/index_2.html",
    )


def test_next_links_in_several_languages() -> None:
    for label in ("Next ›", "Page suivante", "suivant »", "下一页>", "下页", "Older posts"):
        html = f'<a href="/liste?offset=40">{label}</a><a href="/liste?offset=80">3</a>'
        picked = pick_links(html, "https://x.example/liste")
        assert picked.next_pages == ("https://x.example/liste?offset=40",), label
    assert pick_links('<a href="/l?o=1">Suivre</a>', "https://x.example/l").next_pages == ()


# --- Bounds and bad input -----------------------------------------------------------------------


def test_thousands_of_links_are_bounded_and_counted() -> None:
    anchors = "".join(f'<a href="/2024/05/17/story-number-{n}.html">{n}</a>' for n in range(10_000))
    html = f"<html><body>{anchors}</body></html>".encode()
    picked = pick_links(html, "https://x.example/news/")
    assert len(picked.articles) == 500
    assert picked.articles[-1].url == "https://x.example/2024/05/17/story-number-499.html"
    # 4,500 beyond max_links among the scanned, 5,000 never looked at.
    assert picked.refused[Refusal.OVER_LIMIT] == 10_000 - 500
    assert picked.links == 10_000
    assert_accounted(picked)
    few = pick_links(html, "https://x.example/news/", max_links=20)
    assert len(few.articles) == 20
    assert few.refused[Refusal.OVER_LIMIT] == 10_000 - 20
    assert MAX_ANCHORS == 5_000


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"", "empty body"),
        (b" \r\n\t", "empty body"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10", "binary content, not HTML"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", None),
        (json.dumps({"items": [{"url": "https://x.example/2024/05/17/a.html"}]}).encode(), None),
        (
            b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><item>'
            b"<link>https://x.example/2024/05/17/a.html</link></item></channel></rss>",
            None,
        ),
    ],
)
def test_a_body_that_is_not_html_gives_no_links(body: bytes, problem: str | None) -> None:
    picked = pick_links(body, "https://x.example/news/")
    assert picked.articles == ()
    assert picked.next_pages == ()
    assert picked.problem == problem
    assert_accounted(picked)


def test_invalid_pattern_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"link pattern '\(unclosed' is not a regular expression"):
        pick_links("<a href='/a'>a</a>", "https://x.example/", pattern="(unclosed")


def test_hosts_without_a_registered_domain_must_match_with_their_port() -> None:
    html = page_with(
        "http://127.0.0.1:8000/2024/05/17/same-server.html",
        "http://127.0.0.1:9000/2024/05/17/other-server.html",
    )
    picked = pick_links(html, "http://127.0.0.1:8000/news/")
    assert urls(picked) == ["http://127.0.0.1:8000/2024/05/17/same-server.html"]
    assert picked.refused[Refusal.OFFSITE] == 1


def test_link_text_falls_back_to_title_and_image_alt() -> None:
    html = (
        '<a href="/2024/05/17/one-story.html"><img src="a.jpg" alt="Une photo"></a>'
        '<a href="/2024/05/17/two-story.html" title="Un titre"> </a>'
    )
    picked = pick_links(html, "https://x.example/")
    assert [link.text for link in picked.articles] == ["Une photo", "Un titre"]


# --- Real list pages ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RealPage:
    path: str
    url: str
    gold: str
    """What an article link of this site looks like, written after reading the page."""
    ambiguous: str | None
    """Links that are neither clearly articles nor clearly not (videos, galleries, live rooms)."""
    precision: float
    recall: float
    found: tuple[str, ...]
    refused: tuple[str, ...]
    next_pages: tuple[str, ...] = ()


GNE = "pages/gne/test_list_page/"
NP4K = "pages/newspaper4k/tests/data/html/"
TIEBA = "https://tieba.baidu.com/f?kw=%E8%B4%B4%E5%90%A7%E7%83%AD%E8%AE%AE&ie=utf-8"
REAL_PAGES = {
    "163 news 1": RealPage(
        GNE + "163/1.html.gz",
        "https://news.163.com/",
        gold=r"163\.com/(\d\d/\d{4}/\d\d/\w{16}\.html|article/\w{16}\.html|.*photoview/\w+/\d+\.html)",
        ambiguous=r"live\.163\.com/room/",
        precision=0.95,
        recall=0.99,
        found=(
            "https://news.163.com/20/0802/09/FJ112AIS00018AOR.html",
            "http://dy.163.com/article/FITJFGDC05188SSU.html",
            "http://dy.163.com/article/FIVNM2LD0537A693.html",
        ),
        refused=(
            "http://news.163.com/domestic/",
            "http://news.163.com/keywords/6/d/62db751f/1.html",
            "http://comment.tie.163.com/FJ0TBG9Q00019QIF.html",
            "http://news.163.com/special/2020chunyun/",
            "https://news.163.com/",
        ),
    ),
    "163 news 2": RealPage(
        GNE + "163/2.html.gz",
        "https://news.163.com/",
        gold=r"163\.com/(\d\d/\d{4}/\d\d/\w{16}\.html|article/\w{16}\.html|.*photo(view|new)/\w+/\d+\.html)",
        ambiguous=r"live\.163\.com/room/",
        precision=0.95,
        recall=0.99,
        found=(
            "https://tech.163.com/20/0802/11/FJ1781JS00097U81.html",
            "https://news.163.com/20/0802/10/FJ153QTF000189FH.html",
        ),
        refused=("http://news.163.com/rank/", "http://comment.tie.163.com/FIRTFMQD0001899O.html"),
    ),
    "Discuz forum board": RealPage(
        GNE + "netease_forum/1.html.gz",
        "https://n.netease.com/forum-9-1.html",
        gold=r"n\.netease\.com/(thread-\d+-\d+-\d+\.html|forum\.php\?mod=viewthread&tid=\d+)",
        ambiguous=None,
        precision=1.0,
        recall=0.95,
        found=(
            "https://n.netease.com/thread-202874-1-1.html",  # relative link, resolved by <base>
            "https://n.netease.com/forum.php?mod=viewthread&tid=149520&refer_site=bbs",
        ),
        refused=(
            "https://n.netease.com/forum-75-1.html",
            "https://n.netease.com/forum-9-3.html",
            "https://n.netease.com/home.php?mod=space&uid=797361",
            "https://n.netease.com/forum.php?mod=redirect&tid=202746&goto=lastpost",
        ),
        next_pages=("https://n.netease.com/forum-9-2.html",),
    ),
    "tieba board": RealPage(
        GNE + "tieba/1.html.gz",
        TIEBA,
        gold=r"tieba\.baidu\.com/p/\d+$",
        ambiguous=None,
        precision=1.0,
        recall=1.0,
        found=("https://tieba.baidu.com/p/6855922500", "https://tieba.baidu.com/p/6787608290"),
        refused=(
            f"{TIEBA}&tab=good",
            "https://tieba.baidu.com/home/main/?un=coolabed&ie=utf-8"
            "&id=tb.1.cf7ebd1c.vzlThEoRJyiBX6fGzH13fQ&fr=frs",
            "https://tieba.baidu.com/bawu2/platform/listMemberInfo"
            "?word=%E8%B4%B4%E5%90%A7%E7%83%AD%E8%AE%AE&ie=utf-8",
        ),
        next_pages=(f"{TIEBA}&pn=50",),
    ),
    "CNN front page": RealPage(
        NP4K + "cnn_main_site.html.gz",
        "http://edition.cnn.com/",
        gold=r"cnn\.com/(video/data/2\.0/video/\w+/)?\d{4}/\d\d/\d\d/",
        ambiguous=r"travel\.cnn\.com/",
        precision=1.0,
        recall=1.0,
        found=(
            "http://edition.cnn.com/2014/07/24/world/africa/air-algerie-flight/index.html?hpt=hp_t1",
            "http://edition.cnn.com/2014/07/22/world/asia/giant-insect-china/index.html"
            "?hpt=hp_inthenews",
        ),
        refused=(
            "http://edition.cnn.com/WORLD/",
            "http://edition.cnn.com/services/rss/",
            "http://edition.cnn.com/interactive_legal.html",
            "http://ireport.cnn.com/topics/293965?hpt=hp_t1",
        ),
    ),
    "Wired front page": RealPage(
        NP4K + "wired_main_site.html.gz",
        "https://www.wired.com/",
        gold=r"wired\.com/(story/|\d{4}/\d\d/)",
        ambiguous=r"wired\.com/(gallery|review|video/watch)/",
        precision=1.0,
        recall=1.0,
        found=(
            "https://www.wired.com/story/reddit-power-users-ipo/",
            "https://www.wired.com/2014/08/i-liked-everything-i-saw-on-facebook-for-two-days-"
            "heres-what-it-did-to-me/",
        ),
        refused=(
            "https://www.wired.com/category/science/environment-climate-change/",
            "https://www.wired.com/tag/video-games/",
            "https://www.wired.com/about/rss-feeds/",
            "https://www.wired.com/most-recent/",
        ),
    ),
    "Yahoo UK front page": RealPage(
        NP4K + "yahoo_main_site.html.gz",
        "https://uk.yahoo.com/",
        gold=r"yahoo\.com/.*-\d{9,}(-slideshow/|\.html)",
        ambiguous=None,
        precision=0.85,
        recall=1.0,
        found=("http://uk.news.yahoo.com/gout-disease-kings-rise-095558486.html",),
        refused=(
            "http://uk.news.yahoo.com/",
            "https://uk.search.yahoo.com/search?cs=bz&vm=r&p=Maria%20Putin&fr=fp-tts-903&fr2=ps"
            "&woeid=44418&fp=1",
            "https://login.yahoo.com/config/login?.src=fpctx&.intl=uk"
            "&.done=https%3A%2F%2Fuk.yahoo.com%2F",
        ),
    ),
}


def page_links(html: bytes, page_url: str) -> set[str]:
    """Every link of the page, made absolute independently of the code under test."""
    root = lxml.html.document_fromstring(html)
    base = urljoin(page_url, (root.xpath("//base/@href") or [""])[0])
    return {urldefrag(urljoin(base, href.strip()))[0] for href in root.xpath("//a/@href")}


def without_scheme(url: str) -> str:
    return url.split("://", 1)[-1]


@pytest.mark.parametrize("name", REAL_PAGES)
def test_real_list_page(corpora: Path, name: str) -> None:
    case = REAL_PAGES[name]
    html = gzip.decompress((corpora / case.path).read_bytes())
    picked = pick_links(html, case.url)
    assert_accounted(picked)
    assert picked.problem is None
    gold, ambiguous = re.compile(case.gold), re.compile(case.ambiguous or r"(?!)")
    chosen = {without_scheme(url) for url in urls(picked)}
    expected = {without_scheme(url) for url in page_links(html, case.url) if gold.search(url)}
    # An article linked with several tracking arguments (?hpt=hp_t1, ?hpt=hp_mid) is picked once.
    chosen_paths = {url.split("?", 1)[0] for url in chosen}
    missed = {
        url
        for url in expected - chosen
        if not (gold.search(path := url.split("?", 1)[0]) and path in chosen_paths)
    }
    wrong = {url for url in chosen if not gold.search(url) and not ambiguous.search(url)}
    recall = 1 - len(missed) / len(expected)
    precision = 1 - len(wrong) / len(chosen)
    assert recall >= case.recall, sorted(missed)
    assert precision >= case.precision, sorted(wrong)
    assert len(expected) >= 20
    for url in case.found:
        assert url in urls(picked)
    for url in case.refused:
        assert url not in urls(picked)
        assert url not in picked.next_pages
    assert picked.next_pages == case.next_pages


def test_one_article_linked_with_several_tracking_arguments_is_picked_once(corpora: Path) -> None:
    html = gzip.decompress((corpora / NP4K / "cnn_main_site.html.gz").read_bytes())
    picked = pick_links(html, "http://edition.cnn.com/")
    story = "http://edition.cnn.com/2014/07/22/world/asia/giant-insect-china/index.html"
    assert {f"{story}?hpt=hp_inthenews", f"{story}?hpt=hp_mid", story} <= page_links(
        html, "http://edition.cnn.com/"
    )
    assert [url for url in urls(picked) if url.startswith(story)] == [f"{story}?hpt=hp_inthenews"]


def test_pattern_picks_exactly_the_matching_links(corpora: Path) -> None:
    html = gzip.decompress((corpora / GNE / "163/1.html.gz").read_bytes())
    pattern = r"^https?://news\.163\.com/\d\d/\d{4}/\d\d/\w{16}\.html$"
    picked = pick_links(html, "https://news.163.com/", pattern=pattern)
    expected = {url for url in page_links(html, "https://news.163.com/") if re.match(pattern, url)}
    assert set(urls(picked)) == expected
    assert len(picked.articles) >= 40
    assert_accounted(picked)
    # Same result with a compiled pattern; a matching link on another site stays refused.
    offsite = '<a href="https://www.163.com.evil.example/20/0802/09/FJ112AIS00018AOR.html">x</a>'
    other = pick_links(offsite, "https://news.163.com/", pattern=re.compile(pattern[1:]))
    assert other.articles == ()
    assert other.refused[Refusal.OFFSITE] == 1


@pytest.mark.parametrize(
    ("name", "url", "related", "not_related"),
    [
        (
            "chinese_article_002",
            "http://www.news.cn/fortune/2023-11/17/c_1129981476.htm",
            [
                "http://www.news.cn/politics/2023-11/15/c_1129976247.htm",
                "http://www.news.cn/video/20221230/1ad218344bd14d90b8c2317cb36da6af/c.html",
            ],
            ["https://www.news.cn/depthobserve.htm", "http://www.news.cn/tw/index.html"],
        ),
        (
            "time_001",
            "https://time.com/6330957/james-hansen-climate-warning-geoengineering-study/",
            [
                "https://time.com/6264143/geoengineering-climate-scientists-divided/",
                "https://time.com/6329920/snooze-button-sleep-health/"
                "?utm_source=roundup&utm_campaign=20230202",
            ],
            [
                "https://time.com/section/climate",
                "https://time.com/tag/adaptation",
                "https://time.com/author/alejandro-de-la-garza/",
                "https://time.com/collection/best-inventions-2023/"
                "?utm_source=roundup&utm_campaign=20230202",
            ],
        ),
    ],
)
def test_related_articles_of_an_article_page(
    corpora: Path, name: str, url: str, related: list[str], not_related: list[str]
) -> None:
    html = gzip.decompress((corpora / NP4K / f"{name}.html.gz").read_bytes())
    picked = pick_links(html, url)
    for link in related:
        assert link in urls(picked)
    for link in not_related:
        assert link not in urls(picked)
    assert url not in urls(picked)  # the page itself
