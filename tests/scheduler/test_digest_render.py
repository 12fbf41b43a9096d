"""The full daily digest: its model built from a fixture day, and its renderers.

The Markdown and HTML digests of the fixture day are compared with the reviewed golden
files in ``tests/data/digest/``. After an intended change, regenerate them with::

    VEILLE_UPDATE_GOLDEN=1 python -m pytest tests/scheduler/test_digest_render.py

and review the diff of the golden files like any other change.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import feedparser
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from scheduler.digest_model import (
    DailyDigest,
    DayCount,
    DigestStory,
    FailingSource,
    InitiativeSection,
    MemberLink,
    RunLine,
    SilentSource,
    SourceWatch,
    TagLine,
    build_daily_digest,
    digest_from_dict,
    lead_of,
)
from scheduler.digest_render import (
    render_atom,
    render_html,
    render_json,
    render_markdown,
    render_text,
    safe_url,
)
from storage.models import CrawlRun
from storage.records import (
    ArticleRecord,
    ComparisonRecord,
    CopyCheck,
    CopyKind,
    Extracted,
    FetchedPage,
    PublishedFrom,
    TagRecord,
)
from storage.repository import store_article, upsert_source
from storage.urls import canonicalize_url

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "digest"
DAY = date(2026, 11, 21)
TIMEZONE = "Europe/Paris"
LABELS = {"waico": "World AI Cooperation Organization (WAICO)",
          "gaigi": "Global AI Governance Initiative"}  # fmt: skip


def record(
    source: str, url: str, title: str, text: str, *, language: str,
    published: datetime, fetched: datetime, tags: tuple[TagRecord, ...] = (),
    copy: CopyCheck | None = None, comparison: ComparisonRecord | None = None,
) -> ArticleRecord:  # fmt: skip
    page = FetchedPage(
        url=url, final_url=url, source_id=source, body=b"<html></html>",
        content_type="text/html", encoding="utf-8", fetched_at=fetched,
    )  # fmt: skip
    return ArticleRecord(
        page=page,
        extracted=Extracted(text=text, title=title, language=language),
        canonical_url=canonicalize_url(url),
        published=published,
        published_from=PublishedFrom.PAGE,
        tags=tags,
        copy_check=copy or CopyCheck(fingerprint=url, signature=None),
        comparison=comparison,
    )


def tag(initiative: str, score: float, *evidence: tuple[str, str]) -> TagRecord:
    return TagRecord(initiative, score, True,
                     tuple({"phrase": phrase, "term": phrase, "zone": zone, "start": 0, "end": 1}
                           for phrase, zone in evidence))  # fmt: skip


def compared(status: str, seed: str, *facts: str) -> ComparisonRecord:
    return ComparisonRecord(
        status=status, status_seed_id=seed, status_reason="test",
        nearest=({"seed_id": seed, "score": 0.7, "reasons": []},),
        new_facts=tuple({"key": f, "phrase": f, "kind": "date", "start": 0, "end": 1}
                        for f in facts),
        novel_sentences=(), seed_count=3,
    )  # fmt: skip


WATCH = SourceWatch(
    intervals={source: timedelta(hours=6)
               for source in ("wire", "journal", "mirror", "xinhua", "deadsite", "gazette")},
    silent_after_intervals=4,
)  # fmt: skip
"""Every fixture source polled every 6 hours: silent after 24 hours without a new article."""


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


WAICO_TEXT = (
    "Shanghai, 20 November. The World AI Cooperation Organization held its first council "
    "meeting on Thursday and approved a budget of 2 billion yuan for capacity-building "
    "programmes in developing countries, to start on 12 December 2025. Delegates from "
    "forty countries attended the meeting, which adopted the organisation's statutes and "
    "elected its first secretary general after two days of talks."
)


def fill_fixture_day(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        for source_id, name, language in [
            ("wire", "Wire Agency", "en"), ("journal", "Le Journal", "fr"),
            ("mirror", "Mirror News", "en"), ("xinhua", "Xinhua", "zh"),
            ("deadsite", "Dead Site", "en"), ("gazette", "Quiet Gazette", "en"),
        ]:  # fmt: skip
            upsert_source(session, source_id=source_id, name=name, language=language)
    waico = tag("waico", 3.2, ("World AI Cooperation Organization", "lead"),
                ("WAICO", "title"))  # fmt: skip
    with sessions.begin() as session:
        original = store_article(session, record(
            "wire", "https://wire.example/waico-council.html",
            "WAICO council approves first budget", WAICO_TEXT, language="en",
            published=at(20, 22), fetched=at(21, 6), tags=(waico,),
            comparison=compared("follow-up", "seed-waico-launch", "12 December 2025",
                                "2 billion yuan"),
        ))  # fmt: skip
    assert original is not None
    with sessions.begin() as session:
        store_article(session, record(
            "journal", "https://journal.example/fr/waico-budget",
            "L'OMCIA adopte son premier budget", "Le conseil de l'organisation a adopté...",
            language="fr", published=at(21, 7), fetched=at(21, 8),
            tags=(tag("waico", 2.1, ("Organisation mondiale de coopération", "body")),),
            copy=CopyCheck("fr", None, copy_of=original, kind=CopyKind.NEAR, similarity=0.7),
            comparison=compared("known", "seed-waico-launch"),
        ))  # fmt: skip
        store_article(session, record(
            "mirror", "https://mirror.example/2026/11/21/waico-budget",
            "WAICO council approves first budget", WAICO_TEXT, language="en",
            published=at(21, 9), fetched=at(21, 9, 30), tags=(waico,),
            copy=CopyCheck("wire", None, copy_of=original, kind=CopyKind.EXACT, similarity=1.0),
        ))  # fmt: skip
        store_article(session, record(
            "xinhua", "https://xinhua.example/zh/waico-members.htm",
            "世界人工智能合作组织迎来新成员", "世界人工智能合作组织21日宣布，三个新成员国加入。",
            language="zh", published=at(21, 3), fetched=at(21, 10),
            tags=(tag("waico", 2.8, ("世界人工智能合作组织", "title")),),
            comparison=compared("new", "seed-waico-launch"),
        ))  # fmt: skip
        store_article(session, record(
            "wire", "https://wire.example/waico-recap.html", "What is WAICO? A recap",
            "WAICO was proposed in July 2025 in Shanghai.", language="en",
            published=at(21, 11), fetched=at(21, 12), tags=(waico,),
            comparison=compared("known", "seed-waico-launch"),
        ))  # fmt: skip
        store_article(session, record(
            "wire", "https://wire.example/gaigi-forum.html",
            "Forum on the Global AI Governance Initiative opens in Geneva",
            "Diplomats met in Geneva to discuss the Global AI Governance Initiative and the "
            "cooperation organisation.", language="en", published=at(21, 13),
            fetched=at(21, 14),
            tags=(tag("gaigi", 3.5, ("Global AI Governance Initiative", "title")),
                  tag("waico", 1.1, ("cooperation organisation", "body"))),
            comparison=compared("new", "seed-gaigi"),
        ))  # fmt: skip
        store_article(session, record(
            "wire", "https://wire.example/football.html", "Football results",
            "The match ended in a draw.", language="en", published=at(21, 15),
            fetched=at(21, 15), tags=(TagRecord("waico", 0.1, False, ()),),
        ))  # fmt: skip
        # Earlier days, for the trend; and the next day (local), which is not this digest's.
        store_article(session, record(
            "wire", "https://wire.example/waico-older.html", "WAICO statutes drafted",
            "Older news.", language="en", published=at(19, 9), fetched=at(19, 9), tags=(waico,),
        ))  # fmt: skip
        store_article(session, record(
            "wire", "https://wire.example/waico-tomorrow.html", "WAICO tomorrow",
            "Next day.", language="en", published=at(21, 23, 30), fetched=at(21, 23, 30),
            tags=(waico,),
        ))  # fmt: skip
        # The gazette's last article, about nothing followed; then it goes quiet.
        store_article(session, record(
            "gazette", "https://gazette.example/fair.html", "Local fair opens",
            "The fair opened.", language="en", published=at(18, 8), fetched=at(18, 8),
            tags=(TagRecord("waico", 0.0, False, ()),),
        ))  # fmt: skip
        session.add_all([
            CrawlRun(  # the day before: the gazette has been watched for a day by the 21st
                trigger="schedule", source_ids=["gazette"], status="finished",
                started_at=at(20, 20), finished_at=at(20, 20, 1), feeds_polled=1,
                entries_seen=8, articles_known=8,
                stats={"per_source": {"gazette": {"feeds_polled": 1, "articles_new": 0}}},
            ),
            CrawlRun(
                trigger="schedule", source_ids=["wire", "journal", "deadsite", "gazette"],
                status="finished", started_at=at(21, 5, 58), finished_at=at(21, 6, 3),
                feeds_polled=3, feeds_failed=2, entries_seen=40, articles_new=3,
                articles_known=30, articles_failed=4,
                failures={"feeds/failed/http_404": 2, "articles/failed/empty_extraction": 3,
                          "articles/failed/not_html": 1},
                stats={"per_source": {
                    "wire": {"feeds_polled": 2, "feeds_failed": 0, "articles_new": 2},
                    "journal": {"feeds_polled": 1, "feeds_failed": 0, "articles_new": 1},
                    "deadsite": {"feeds_polled": 0, "feeds_failed": 2,
                                 "failures": {"feeds/failed/http_404": 2}},
                    "gazette": {"feeds_polled": 1, "feeds_failed": 0, "articles_new": 0},
                }},
            ),
            CrawlRun(
                trigger="manual", source_ids=["xinhua", "deadsite", "gazette"],
                status="finished",
                started_at=at(21, 9, 58), finished_at=at(21, 10, 1), feeds_polled=1,
                feeds_failed=1, entries_seen=5, articles_new=1, articles_known=4,
                articles_failed=1, failures={"articles/failed/empty_extraction": 1},
                stats={"per_source": {
                    "xinhua": {"feeds_polled": 1, "feeds_failed": 0, "articles_new": 1},
                    "deadsite": {"feeds_polled": 0, "feeds_failed": 1,
                                 "failures": {"feeds/failed/http_404": 1}},
                    "gazette": {"feeds_polled": 1, "feeds_failed": 0, "articles_new": 0},
                }},
            ),
        ])  # fmt: skip


@pytest.fixture
def fixture_digest(sessions: sessionmaker[Session]) -> DailyDigest:
    fill_fixture_day(sessions)
    with sessions() as session:
        return build_daily_digest(session, DAY, TIMEZONE, labels=LABELS, watch=WATCH)


def check_golden(name: str, rendered: str) -> None:
    path = GOLDEN / name
    if os.environ.get("VEILLE_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run with VEILLE_UPDATE_GOLDEN=1 and review it"
    assert rendered == path.read_text(encoding="utf-8")


def test_the_model_groups_stories_by_initiative(fixture_digest: DailyDigest) -> None:
    digest = fixture_digest
    assert [s.initiative for s in digest.sections] == ["waico", "gaigi"]
    waico = digest.sections[0]
    assert (waico.new, waico.follow_up, len(waico.known)) == (2, 1, 1)
    assert waico.articles == 6  # relevant waico articles of the day, copies included
    assert [d.count for d in waico.trend] == [0, 0, 0, 0, 1, 0, 6]
    budget = waico.stories[0]
    assert budget.status == "follow-up"
    assert budget.title == "WAICO council approves first budget"
    assert budget.url == "https://wire.example/waico-council.html"
    assert (budget.site_count, budget.languages) == (3, ("en", "fr"))
    assert len(budget.members) == 3
    assert budget.new_facts == ("12 December 2025", "2 billion yuan")
    assert budget.tag_for("waico") == TagLine("waico", 3.2, "WAICO", "title")
    assert budget.lead.endswith("…") and len(budget.lead) <= 301
    assert budget.published == date(2026, 11, 20)  # 22:00 UTC is the 20th in Paris too
    titles = {s.title for section in digest.sections for s in section.stories + section.known}
    assert "Football results" not in titles
    assert "WAICO tomorrow" not in titles  # 23:30 UTC is the 22nd in Paris
    assert digest.story_count == 4 and digest.article_count == 6
    assert digest.failing_sources == (FailingSource("deadsite", "Dead Site", 2, "http_404"),)
    # Crawled twice on the day and once the evening before, with no new article: silent.
    assert digest.silent_sources == (
        SilentSource("gazette", "Quiet Gazette", 2, at(20, 23), at(18, 8)),
    )
    assert digest.extraction_failures == (("empty_extraction", 4), ("not_html", 1))
    assert [run.trigger for run in digest.runs] == ["schedule", "manual"]


def test_irrelevant_stories_are_included_only_when_asked(
    sessions: sessionmaker[Session],
) -> None:
    fill_fixture_day(sessions)
    with sessions() as session:
        digest = build_daily_digest(session, DAY, TIMEZONE, include_irrelevant=True)
    other = digest.sections[-1]
    assert other.initiative is None
    assert [s.title for s in other.stories] == ["Football results"]


def test_markdown_and_html_match_the_golden_files(fixture_digest: DailyDigest) -> None:
    check_golden("fixture-day.md", render_markdown(fixture_digest))
    check_golden("fixture-day.html", render_html(fixture_digest))
    check_golden("fixture-day.txt", render_text(fixture_digest))


def test_html_is_self_contained(fixture_digest: DailyDigest) -> None:
    html = render_html(fixture_digest)
    assert "<svg" in html and "max-width" in html
    assert "<link" not in html and "<img" not in html and "src=" not in html
    assert "@import" not in html and "url(" not in html


def test_json_round_trips(fixture_digest: DailyDigest) -> None:
    assert digest_from_dict(json.loads(render_json(fixture_digest))) == fixture_digest


def test_atom_parses_without_bozo(fixture_digest: DailyDigest) -> None:
    feed_url = "https://veille.example/digest.atom"
    atom = render_atom([(DAY, render_html(fixture_digest)),
                        (date(2026, 11, 20), "<p>Quiet day</p>")], feed_url)  # fmt: skip
    parsed = feedparser.parse(atom)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert [e.title for e in parsed.entries] == [
        "Veille daily digest for 2026-11-21",
        "Veille daily digest for 2026-11-20",
    ]
    assert "WAICO council approves first budget" in parsed.entries[0].content[0].value


HOSTILE = "<script>alert(1)</script>"
SAFE_TAGS = {"html", "head", "meta", "title", "style", "body", "main", "h1", "h2", "h3", "p",
             "section", "article", "div", "span", "strong", "em", "a", "ul", "li", "svg",
             "line", "rect", "time"}  # fmt: skip
LONG_URL = "https://very-long-host-name.example/" + "a-path-segment/" * 30 + "?q=" + "x" * 200


class ElementsAndLinks(HTMLParser):
    """The elements, links and event-handler attributes of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.hrefs: list[str] = []
        self.event_handlers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if name == "href":
                self.hrefs.append(value or "")
            if name.startswith("on"):
                self.event_handlers.append(name)


def hostile_digest() -> DailyDigest:
    member = MemberLink("evil", f"Evil {HOSTILE}", "evil.example", f"T {HOSTILE}",
                        "JaVaScRiPt:alert(1)", "en")  # fmt: skip
    story = DigestStory(
        story_id=1, title=HOSTILE, url="javascript:alert(document.cookie)",
        published=DAY, site_count=2, languages=("en",),
        members=(member, replace(member, url="https://ok.example/a?x=1&y=<b>")),
        tags=(TagLine("waico", 1.0, f'"><img src=x onerror=alert(1)> {HOSTILE}', "title"),),
        status="follow-up", nearest_seed=None, new_facts=(HOSTILE,),
        lead="broken \udc80 utf-8 \ud800 and a ]( [link](javascript:alert(1)) <b>bold</b>",
    )  # fmt: skip
    linked = replace(story, story_id=2, title="Lone \udcff surrogate", url="https://ok.example/")
    data_url = replace(story, story_id=3, title="data", url="data:text/html,<script>")
    # Strings without a space to break at, as headlines and facts sometimes are.
    unbroken = replace(
        story, story_id=4, title=LONG_URL, url=LONG_URL, new_facts=("9" * 120,),
        lead="Lead " + "无空格的中文长句" * 40,
        members=(replace(member, source_name="S" * 150, site="a" * 150 + ".example",
                         url=LONG_URL),) * 2,
    )  # fmt: skip
    section = InitiativeSection(
        initiative="waico", label=f"Label {HOSTILE}",
        stories=(story, linked, data_url, unbroken),
        known=(replace(story, status="known"),), articles=3, new=0, follow_up=3,
        trend=tuple(DayCount(DAY, n) for n in range(7)),
    )  # fmt: skip
    run = RunLine(1, "finished", "manual", at(21, 6), 1, 0, 1, 0, 0)
    return DailyDigest(DAY, "UTC", 3, 3, (section,),
                       (FailingSource("evil", HOSTILE, 1, HOSTILE),), ((HOSTILE, 1),),
                       (run,))  # fmt: skip


def test_hostile_strings_are_shown_as_text() -> None:
    digest = hostile_digest()
    html = render_html(digest)
    html.encode("utf-8")  # no lone surrogate left
    assert "<script" not in html.lower()
    parsed = ElementsAndLinks()
    parsed.feed(html)
    assert parsed.tags <= SAFE_TAGS, parsed.tags - SAFE_TAGS
    assert parsed.hrefs and all(href.startswith(("http://", "https://")) for href in parsed.hrefs)
    assert not parsed.event_handlers
    assert "<img" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<a href="https://ok.example/">Lone \ufffd surrogate</a>' in html
    assert 'href="https://ok.example/a?x=1&amp;y=&lt;b&gt;"' in html
    markdown = render_markdown(digest)
    markdown.encode("utf-8")
    assert "<script>" not in markdown
    assert "](javascript:" not in markdown.lower() and "](<javascript:" not in markdown.lower()
    assert "\\<script\\>alert\\(1\\)\\</script\\>" in markdown
    for rendered in (render_text(digest), render_json(digest)):
        rendered.encode("utf-8")
        assert "\ufffd" in rendered
    assert b"<script" not in render_atom([(DAY, html)], "https://veille.example/feed.atom")
    assert not feedparser.parse(render_atom([(DAY, html)], "https://veille.example/f")).bozo


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.org/a?b=1", "https://example.org/a?b=1"),
        ("http://example.org", "http://example.org"),
        ("https://a.example:8080/p?q=1#f", "https://a.example:8080/p?q=1#f"),
        ("HTTPS://EXAMPLE.ORG/x", "HTTPS://EXAMPLE.ORG/x"),
        ("https://例子.测试/新闻", "https://例子.测试/新闻"),
        ("https://example.org/a\tb", "https://example.org/ab"),
        ("https://example.org/\udc80", "https://example.org/\ufffd"),
        ("https://[::1/", None),
        ("  http://example.org/\n", "http://example.org/"),
        ("javascript:alert(1)", None),
        ("java\nscript:alert(1)", None),
        (" JAVASCRIPT:alert(1)", None),
        ("data:text/html,<script>", None),
        ("vbscript:msgbox", None),
        ("//example.org/a", None),
        ("https:///nohost", None),
        ("", None),
    ],
)
def test_safe_url_keeps_only_http_links(url: str, expected: str | None) -> None:
    assert safe_url(url) == expected


def test_lead_is_cut_at_a_word() -> None:
    assert lead_of("short text") == "short text"
    lead = lead_of("word " * 100)
    assert lead.endswith("word…") and len(lead) <= 301


def test_review_decisions_are_respected(sessions: sessionmaker[Session]) -> None:
    """A story marked irrelevant leaves the digest; corrected tags move a story."""
    from storage.models import Article, Story
    from storage.reviews import record_decision

    fill_fixture_day(sessions)
    with sessions() as session:
        before = build_daily_digest(session, DAY, TIMEZONE, labels=LABELS)
    budget, *_ = before.sections[0].stories
    assert budget.story_id is not None
    with sessions.begin() as session:
        football = session.scalar(
            select(Article.story_id).where(Article.title == "Football results")
        )
        assert session.get(Story, football) is not None
        record_decision(session, budget.story_id, "irrelevant", reviewer="alice")
        record_decision(session, football, "relevant", reviewer="bob")
        record_decision(session, football, "tag", reviewer="bob", initiative="gaigi")
    with sessions() as session:
        after = build_daily_digest(session, DAY, TIMEZONE, labels=LABELS)
    titles = {
        section.initiative: [s.title for s in section.stories + section.known]
        for section in after.sections
    }
    assert budget.title not in [t for shown in titles.values() for t in shown]
    assert "Football results" in titles["gaigi"]
    [football_story] = [
        s for section in after.sections for s in section.stories if s.title == "Football results"
    ]
    assert football_story.tag_for("gaigi") == TagLine(
        "gaigi", 1.0, "tagged by bob in review", "review"
    )
