"""The digest's model: a range of days, silent sources, and a constant number of queries.

The fixture day is the one of the golden-file tests (:mod:`tests.scheduler.test_digest_render`).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from crawler.config import SourceConfig, load_config
from scheduler.digest_model import (
    LEAD_LENGTH,
    DailyDigest,
    SourceWatch,
    build_daily_digest,
    digest_from_dict,
    lead_of,
)
from scheduler.digest_render import render_html, render_json, render_markdown, render_text
from scheduler.status import SourceState, assess_source
from storage.models import Article, CrawlRun, Story
from storage.records import ComparisonRecord, CopyCheck, CopyKind
from storage.repository import store_article, upsert_source
from storage.seeds import story_comparison, story_comparisons
from tests.scheduler.test_digest_render import (
    DAY,
    LABELS,
    TIMEZONE,
    WATCH,
    at,
    compared,
    fill_fixture_day,
    record,
    tag,
)

# A range of days


def test_a_digest_of_several_days_covers_them_all_and_says_so(
    sessions: sessionmaker[Session],
) -> None:
    fill_fixture_day(sessions)
    with sessions() as session:
        one = build_daily_digest(session, DAY, TIMEZONE, labels=LABELS)
        three = build_daily_digest(session, DAY, TIMEZONE, labels=LABELS, days=3)
    assert (three.day, three.first_day, three.days) == (DAY, date(2026, 11, 19), 3)
    # The article stored on the 19th joins; the one stored on the 22nd (Paris) does not.
    assert (three.article_count, three.story_count) == (one.article_count + 1, one.story_count + 1)
    waico = three.sections[0]
    assert waico.articles == 7
    titles = [s.title for s in waico.stories + waico.known]
    assert "WAICO statutes drafted" in titles and "WAICO tomorrow" not in titles
    # The trend still ends on the digest's day, and is the same as the one-day digest's.
    assert waico.trend == one.sections[0].trend
    assert waico.trend[-1].day == DAY and len(waico.trend) == 7

    heading = "Veille digest for 2026-11-19 to 2026-11-21 (3 days)"
    assert render_markdown(three).startswith(f"# {heading}\n")
    assert render_text(three).startswith(f"{heading} (Europe/Paris)\n")
    html = render_html(three)
    assert f"<title>{heading}</title>" in html and f"<h1>{heading}</h1>" in html
    assert render_markdown(one).startswith("# Veille daily digest for 2026-11-21\n")
    assert digest_from_dict(json.loads(render_json(three))) == three


def test_an_empty_range_says_so_and_a_range_of_no_day_is_refused(
    sessions: sessionmaker[Session],
) -> None:
    fill_fixture_day(sessions)
    with sessions() as session:
        quiet = build_daily_digest(session, date(2026, 11, 18), TIMEZONE, days=2)
        assert "No relevant article was stored in these 2 days." in render_text(quiet)
        with pytest.raises(ValueError, match="at least one day"):
            build_daily_digest(session, DAY, TIMEZONE, days=0)


def test_the_range_follows_local_midnights_across_a_clock_change(
    sessions: sessionmaker[Session],
) -> None:
    """Paris leaves summer time on 25 October 2026: that day lasts 25 hours."""
    with sessions.begin() as session:
        upsert_source(session, source_id="wire", name="Wire", language="en")
    stored = {  # UTC instant -> local (Paris) day
        "before": datetime(2026, 10, 23, 21, 59, tzinfo=UTC),  # 23:59 on the 23rd
        "first": datetime(2026, 10, 23, 22, 0, tzinfo=UTC),  # 00:00 on the 24th (UTC+2)
        "last": datetime(2026, 10, 25, 22, 59, tzinfo=UTC),  # 23:59 on the 25th (UTC+1)
        "after": datetime(2026, 10, 25, 23, 0, tzinfo=UTC),  # 00:00 on the 26th
    }
    with sessions.begin() as session:
        for name, moment in stored.items():
            store_article(session, record(
                "wire", f"https://wire.example/{name}.html", f"WAICO {name}", f"Text {name}.",
                language="en", published=moment, fetched=moment,
                tags=(tag("waico", 2.0, ("WAICO", "title")),),
            ))  # fmt: skip
    with sessions() as session:
        digest = build_daily_digest(session, date(2026, 10, 25), TIMEZONE, days=2)
    titles = sorted(s.title for s in digest.sections[0].stories)
    assert titles == ["WAICO first", "WAICO last"]


# Silent sources


def test_silent_sources_are_judged_at_the_end_of_the_day_like_veille_status(
    sessions: sessionmaker[Session],
) -> None:
    fill_fixture_day(sessions)
    with sessions() as session:
        digest = build_daily_digest(session, DAY, TIMEZONE, watch=WATCH)
        unwatched = build_daily_digest(session, DAY, TIMEZONE)
        # Judged at 08:00 UTC on the day (a digest of today), the gazette was watched for
        # only 12 hours: too early to call it silent.
        morning = build_daily_digest(session, DAY, TIMEZONE, watch=WATCH, now=at(21, 8))
        runs = list(session.scalars(select(CrawlRun).order_by(CrawlRun.started_at.desc())))
    # The dead site is failing, not silent; the wire stored articles; the mirror was never
    # crawled; the gazette's three crawls brought nothing for over 24 hours.
    assert [s.source_id for s in digest.silent_sources] == ["gazette"]
    gazette = digest.silent_sources[0]
    assert (gazette.name, gazette.runs) == ("Quiet Gazette", 2)
    assert gazette.since == datetime(2026, 11, 20, 23, tzinfo=UTC)  # midnight in Paris
    assert gazette.last_article == datetime(2026, 11, 18, 8, tzinfo=UTC)
    assert unwatched.silent_sources == () and morning.silent_sources == ()

    # ``veille status`` says the same of every watched source at the same instant.
    end = datetime(2026, 11, 21, 23, tzinfo=UTC)
    judged = {
        source_id: assess_source(
            SourceConfig(id=source_id, feeds=[f"https://{source_id}.example/feed.xml"]),
            runs, now=end, interval=interval,
            failing_after_runs=2, silent_after_intervals=WATCH.silent_after_intervals,
        ).state
        for source_id, interval in WATCH.intervals.items()
    }  # fmt: skip
    assert {s for s, state in judged.items() if state == SourceState.SILENT} == {"gazette"}
    assert judged["deadsite"] == SourceState.FAILING

    text = render_text(digest)
    assert "Silent sources:\n- Quiet Gazette (gazette): no new article in 2 crawls since " \
           "2026-11-21 00:00; last article stored 2026-11-18 09:00\n" in text  # fmt: skip
    assert "Silent sources" not in render_text(unwatched)
    assert digest_from_dict(json.loads(render_json(digest))) == digest


def test_the_watch_comes_from_the_configuration(tmp_path: Path) -> None:
    path = tmp_path / "veille.toml"
    path.write_text(
        '[scheduler]\ndefault_interval = "2h"\nsilent_after_intervals = 3\n\n'
        '[[sources]]\nid = "wire"\nfeeds = ["https://wire.example/feed.xml"]\n\n'
        '[[sources]]\nid = "hourly"\nfeeds = ["https://hourly.example/feed.xml"]\n'
        'interval = "1h"\n\n'
        '[[sources]]\nid = "off"\nfeeds = ["https://off.example/feed.xml"]\nenabled = false\n',
        encoding="utf-8",
    )
    watch = SourceWatch.from_config(load_config(path))
    assert watch == SourceWatch({"wire": timedelta(hours=2), "hourly": timedelta(hours=1)}, 3)


# A constant number of queries


def count_queries(sessions: sessionmaker[Session], **options: object) -> tuple[int, DailyDigest]:
    engine = sessions.kw["bind"]
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        with sessions() as session:
            digest = build_daily_digest(session, DAY, TIMEZONE, watch=WATCH, **options)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    return len(statements), digest


def add_stories(sessions: sessionmaker[Session], count: int) -> list[int]:
    """``count`` more stories on the day, each compared with the seeds, each with an exact
    copy (stored without a text of its own); the copies' ids."""
    copies = []
    with sessions.begin() as session:
        for n in range(count):
            url = f"https://wire.example/more-{n}.html"
            first = store_article(session, record(
                "wire", url, f"WAICO story {n}", f"Story {n} text.", language="en",
                published=at(21, 6), fetched=at(21, 7),
                tags=(tag("waico", 2.0, ("WAICO", "title")),),
                comparison=compared("follow-up", "seed-waico-launch", f"{n} December 2026"),
            ))  # fmt: skip
            copies.append(store_article(session, record(
                "mirror", f"https://mirror.example/more-{n}", f"WAICO story {n}",
                f"Story {n} text.", language="en", published=at(21, 8), fetched=at(21, 9),
                tags=(tag("waico", 2.0, ("WAICO", "title")),),
                copy=CopyCheck("x", None, copy_of=first, kind=CopyKind.EXACT, similarity=1.0),
            )))  # fmt: skip
    return [copy for copy in copies if copy is not None]


def test_the_number_of_queries_does_not_grow_with_the_stories(
    sessions: sessionmaker[Session],
) -> None:
    fill_fixture_day(sessions)
    few, small = count_queries(sessions)
    copies = add_stories(sessions, 30)
    with sessions.begin() as session:  # as chosen before copies lost their text
        copy = session.get_one(Article, copies[7])
        session.get_one(Story, copy.story_id).representative_id = copy.id
    many, large = count_queries(sessions)
    assert large.story_count == small.story_count + 30
    assert many == few, f"{few} queries for {small.story_count} stories, {many} for more"
    story = next(s for s in large.sections[0].stories if s.title == "WAICO story 7")
    assert (story.status, story.new_facts, story.site_count) == (
        "follow-up", ("7 December 2026",), 2)  # fmt: skip
    # The representative is the copy: its lead is its original's text.
    assert story.url == "https://mirror.example/more-7"
    assert story.lead == "Story 7 text."


def test_reading_in_small_chunks_gives_the_same_digest(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks of 2 ids exercise every chunk boundary that 500 would on a big day."""
    fill_fixture_day(sessions)
    add_stories(sessions, 5)
    _, whole = count_queries(sessions)
    monkeypatch.setattr("scheduler.digest_model._IN_CHUNK", 2)
    monkeypatch.setattr("storage.seeds._IN_CHUNK", 2)
    queries, chunked = count_queries(sessions)
    assert chunked == whole
    assert queries > 20  # it did read in many small chunks


def comparison_of(status: str, nearest: list[tuple[str, float]], *facts: str) -> ComparisonRecord:
    return ComparisonRecord(
        status=status, status_seed_id=nearest[0][0] if nearest else None, status_reason="test",
        nearest=tuple({"seed_id": s, "score": score, "reasons": ["dates"]} for s, score in nearest),
        new_facts=tuple({"key": f.lower(), "phrase": f, "kind": "date", "start": 0, "end": 1}
                        for f in facts),
        novel_sentences=(), seed_count=4,
    )  # fmt: skip


def test_stories_are_compared_with_the_seeds_from_their_members_in_one_batch(
    sessions: sessionmaker[Session],
) -> None:
    """Follow-up if one member is, else new if one is, else known; the best-scoring seed of any
    member (each member's list is ranked best first); the new facts of the members whose
    status the story took."""
    with sessions.begin() as session:
        upsert_source(session, source_id="wire", name="Wire", language="en")

    def store(url: str, comparison: ComparisonRecord | None, copy_of: int | None = None) -> int:
        with sessions.begin() as session:
            stored = store_article(session, record(
                "wire", url, "WAICO", f"Text of {url}.", language="en", published=at(21, 6),
                fetched=at(21, 7), comparison=comparison,
                copy=CopyCheck(url, None, copy_of=copy_of, kind=CopyKind.NEAR, similarity=0.8)
                if copy_of else None,
            ))  # fmt: skip
        assert stored is not None
        return stored

    first = store("https://a.example/1", comparison_of("known", [("s1", 0.9), ("s3", 0.2)]))
    store("https://b.example/1", comparison_of("follow-up", [("s2", 0.5)], "May 2026", "9 GW"),
          copy_of=first)  # fmt: skip
    store("https://c.example/1", comparison_of("new", [("s4", 0.95)], "Lima"), copy_of=first)
    store("https://d.example/1", comparison_of("follow-up", [], "9 GW", "June"), copy_of=first)
    new = store("https://e.example/1", comparison_of("new", [("s5", 0.3)], "Quito"))
    store("https://f.example/1", comparison_of("known", [("s5", 0.8)], "Lima"), copy_of=new)
    alone = store("https://g.example/1", None)
    with sessions() as session:
        story_of = {a.id: a.story_id for a in session.scalars(select(Article))}
        stories = [story_of[first], story_of[new], story_of[alone], 999_999]
        compared = story_comparisons(session, stories)
        assert story_comparison(session, story_of[first]) == compared[story_of[first]]
    assert compared[story_of[first]] == {
        "status": "follow-up", "nearest_seed": "s4", "members_compared": 4,
        "new_facts": [{"key": "may 2026", "phrase": "May 2026"}, {"key": "9 gw", "phrase": "9 GW"},
                      {"key": "june", "phrase": "June"}],
    }  # fmt: skip
    assert compared[story_of[new]] == {
        "status": "new", "nearest_seed": "s5", "members_compared": 2,
        "new_facts": [{"key": "quito", "phrase": "Quito"}],
    }  # fmt: skip
    nothing = {"status": None, "nearest_seed": None, "new_facts": [], "members_compared": 0}
    assert compared[story_of[alone]] == compared[999_999] == nothing


def test_a_lead_is_the_same_whether_the_text_starts_with_words_or_with_spaces() -> None:
    words = " ".join(f"word{n}" for n in range(200))
    for text in [words, " " * 5000 + words, "\n\t " * 400 + words, ("a  " * 200) + words]:
        expected = " ".join(text.split())[:LEAD_LENGTH]
        lead = lead_of(text)
        assert lead.endswith("…") and expected.startswith(lead[:-1].rstrip())
        assert len(lead) > LEAD_LENGTH // 2
    assert lead_of(" " * 5000 + "short") == "short"
    assert lead_of("x" * 1000) == "x" * LEAD_LENGTH + "…"
