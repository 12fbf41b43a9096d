"""Storage on SQLite and on PostgreSQL: schema, uniqueness, known URLs, crawl runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from storage.database import current_revision, head_revision, make_session_factory, open_database
from storage.models import Article, Base, CrawlRun, KnownUrl, RunStatus, UrlOutcome
from storage.records import ArticleRecord, Extracted, FetchedPage, PublishedFrom
from storage.repository import (
    count_articles,
    find_known_urls,
    finish_crawl_run,
    get_crawl_run,
    iter_articles,
    read_raw_page,
    record_crawl_counts,
    remember_url,
    replace_tags,
    start_crawl_run,
    store_article,
    upsert_source,
)
from storage.urls import canonicalize_url

FETCHED = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)


def make_record(
    url: str, *, text: str = "Body text.", final_url: str | None = None
) -> ArticleRecord:
    page = FetchedPage(
        url=url,
        final_url=final_url or url,
        source_id="wire",
        body=f"<html><body><p>{text}</p></body></html>".encode(),
        content_type="text/html; charset=utf-8",
        encoding="utf-8",
        fetched_at=FETCHED,
        feed_url="https://wire.example/feed.xml",
    )
    extracted = Extracted(text=text, title="A title", language="en")
    return ArticleRecord(
        page=page,
        extracted=extracted,
        canonical_url=canonicalize_url(final_url or url),
        # 08:00 in UTC+8 is midnight UTC: stored and read back as UTC.
        published=datetime(2026, 11, 21, 8, 0, tzinfo=timezone(timedelta(hours=8))),
        published_from=PublishedFrom.PAGE,
    )


def add_source(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        upsert_source(session, source_id="wire", name="Wire", language="en")


def test_new_database_is_migrated_to_head_and_matches_the_models(engine: Engine) -> None:
    assert current_revision(engine) == head_revision(engine) is not None
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_opening_twice_is_harmless(database_url: str, engine: Engine) -> None:
    again = open_database(database_url)
    assert current_revision(again) == head_revision(again)
    again.dispose()


def test_article_is_stored_once_per_canonical_url(sessions: sessionmaker[Session]) -> None:
    add_source(sessions)
    with sessions.begin() as session:
        first = store_article(session, make_record("https://wire.example/a.html?utm_source=x"))
    with sessions.begin() as session:
        again = store_article(session, make_record("https://wire.example/a.html#top"))
    assert first is not None
    assert again is None
    with sessions() as session:
        assert count_articles(session) == 1
        stored = session.get(Article, first)
        assert stored is not None
        assert stored.canonical_url == "https://wire.example/a.html"
        assert stored.url == "https://wire.example/a.html?utm_source=x"


def test_datetimes_come_back_aware_and_in_utc(sessions: sessionmaker[Session]) -> None:
    add_source(sessions)
    with sessions.begin() as session:
        article_id = store_article(session, make_record("https://wire.example/b.html"))
    with sessions() as session:
        stored = session.get(Article, article_id)
        assert stored is not None
        assert stored.published == datetime(2026, 11, 21, 0, 0, tzinfo=UTC)
        assert stored.published.utcoffset() == timedelta(0)
        assert stored.fetched_at == FETCHED


def test_raw_page_is_kept_compressed_and_reads_back(sessions: sessionmaker[Session]) -> None:
    add_source(sessions)
    record = make_record("https://wire.example/c.html", text="x" * 10_000)
    with sessions.begin() as session:
        article_id = store_article(session, record)
    with sessions() as session:
        assert article_id is not None
        assert read_raw_page(session, article_id) == record.page.body
        stored = session.get(Article, article_id)
        assert stored is not None and stored.raw_page is not None
        assert len(stored.raw_page.body_zlib) < len(record.page.body) / 10


def test_linked_and_redirected_urls_are_known_after_storing(
    sessions: sessionmaker[Session],
) -> None:
    add_source(sessions)
    record = make_record(
        "http://wire.example/short/9?utm_medium=rss", final_url="https://wire.example/2026/d.html"
    )
    with sessions.begin() as session:
        store_article(session, record)
    with sessions() as session:
        known = find_known_urls(
            session,
            [
                "http://wire.example/short/9",
                "https://wire.example/2026/d.html",
                "https://wire.example/never-seen.html",
            ],
        )
    assert known == {"http://wire.example/short/9", "https://wire.example/2026/d.html"}


def test_remembered_failure_keeps_its_first_outcome(sessions: sessionmaker[Session]) -> None:
    url = "https://wire.example/report.pdf"
    with sessions.begin() as session:
        remember_url(session, url, UrlOutcome.NOT_HTML, detail="application/pdf")
    with sessions.begin() as session:
        remember_url(session, url, UrlOutcome.EMPTY_EXTRACTION)
    with sessions() as session:
        known = session.get(KnownUrl, url)
        assert known is not None
        assert known.outcome == "not_html"
        assert known.last_seen >= known.first_seen
        assert find_known_urls(session, [url]) == {url}


def test_many_urls_are_looked_up_in_batches(sessions: sessionmaker[Session]) -> None:
    urls = [f"https://wire.example/{i}.html" for i in range(1200)]
    with sessions.begin() as session:
        for url in urls[::3]:
            remember_url(session, url, UrlOutcome.EMPTY_EXTRACTION)
    with sessions() as session:
        assert find_known_urls(session, urls) == set(urls[::3])


def test_crawl_run_lifecycle(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        run_id = start_crawl_run(session, trigger="test", source_ids=["wire"], pid=42).id
    with sessions.begin() as session:
        record_crawl_counts(
            session,
            run_id,
            feeds_polled=3,
            articles_new=5,
            failures={"articles/failed/not_html": 1},
            stats={"close_reason": "finished"},
        )
        finish_crawl_run(session, run_id, status=RunStatus.FINISHED, exit_code=0)
    with sessions() as session:
        run = get_crawl_run(session, run_id)
        assert run is not None
        assert (run.status, run.feeds_polled, run.articles_new) == ("finished", 3, 5)
        assert run.failures == {"articles/failed/not_html": 1}
        assert run.duration_seconds is not None and run.duration_seconds >= 0
        assert session.scalar(select(func.count()).select_from(CrawlRun)) == 1


def test_source_upsert_updates_name(sessions: sessionmaker[Session]) -> None:
    add_source(sessions)
    with sessions.begin() as session:
        upsert_source(session, source_id="wire", name="Wire Service", language="fr")
    with sessions() as session:
        name, language = session.execute(
            text("select name, language from sources where id = 'wire'")
        ).one()
    assert (name, language) == ("Wire Service", "fr")


def test_export_order_and_since_filter(sessions: sessionmaker[Session]) -> None:
    add_source(sessions)
    with sessions.begin() as session:
        store_article(session, make_record("https://wire.example/e1.html"))
        store_article(session, make_record("https://wire.example/e2.html"))
    with sessions() as session:
        everything = [a.canonical_url for a in iter_articles(session)]
        later = list(iter_articles(session, since=FETCHED + timedelta(seconds=1)))
    assert everything == ["https://wire.example/e1.html", "https://wire.example/e2.html"]
    assert later == []


def test_sqlite_runs_in_wal_mode(sqlite_url: str) -> None:
    engine = open_database(sqlite_url)
    with engine.connect() as connection:
        assert connection.execute(text("pragma journal_mode")).scalar() == "wal"
        assert connection.execute(text("pragma foreign_keys")).scalar() == 1
    engine.dispose()


def test_upgrading_an_old_database_keeps_its_articles(database_url: str) -> None:
    from storage.database import create_database_engine, upgrade_database

    engine = create_database_engine(database_url)
    upgrade_database(engine, "0001")
    with engine.begin() as connection:
        connection.execute(
            text(
                "insert into sources (id, created_at, updated_at) values "
                "('w', '2026-11-01 00:00:00+00', '2026-11-01 00:00:00+00')"
            )
        )
        connection.execute(text(
            "insert into articles (source_id, url, canonical_url, final_url, text, "
            "language_detected, published, published_from, fetched_at) values ('w', "
            "'https://w.example/1', 'https://w.example/1', 'https://w.example/1', 'Old text', "
            "false, '2026-11-01 00:00:00+00', 'page', '2026-11-01 00:00:00+00')"
        ))  # fmt: skip
    upgrade_database(engine)
    assert current_revision(engine) == head_revision(engine)
    with make_session_factory(engine)() as session:
        [article] = session.scalars(select(Article)).all()
        assert (article.text, article.version, article.story_id) == ("Old text", 1, None)
    engine.dispose()


def test_tags_are_stored_with_evidence_and_can_be_replaced(
    sessions: sessionmaker[Session],
) -> None:
    from dataclasses import replace

    from storage.records import TagRecord

    add_source(sessions)
    evidence = ({"phrase": "WAICO", "term": "waico", "zone": "title", "start": 0, "end": 5},)
    record = replace(
        make_record("https://wire.example/t.html"),
        tags=(
            TagRecord("waico", 0.92, True, evidence),
            TagRecord("dsr", 0.2, False, ()),
        ),
    )
    with sessions.begin() as session:
        article_id = store_article(session, record)
    assert article_id is not None
    with sessions() as session:
        stored = session.get(Article, article_id)
        assert stored is not None and stored.relevant is True and stored.tagged_at is not None
        assert [(t.initiative, t.relevant) for t in stored.tags] == [
            ("waico", True),
            ("dsr", False),
        ]
        assert stored.tags[0].evidence == list(evidence)
    with sessions.begin() as session:
        replace_tags(session, article_id, [TagRecord("dsr", 0.4, False, ())])
    with sessions() as session:
        stored = session.get(Article, article_id)
        assert stored is not None and stored.relevant is False
        assert [t.initiative for t in stored.tags] == ["dsr"]


def test_an_untagged_article_has_unknown_relevance(sessions: sessionmaker[Session]) -> None:
    add_source(sessions)
    with sessions.begin() as session:
        article_id = store_article(session, make_record("https://wire.example/u.html"))
    with sessions() as session:
        stored = session.get(Article, article_id)
        assert stored is not None and stored.relevant is None and stored.tags == []


def test_copies_join_the_story_of_their_original(sessions: sessionmaker[Session]) -> None:
    from dataclasses import replace

    from storage.models import Story
    from storage.records import CopyCheck, CopyKind

    add_source(sessions)
    original = replace(
        make_record("https://wire.example/story.html", text="The wire story."),
        copy_check=CopyCheck(fingerprint="f1", signature=b"sig-1"),
    )
    with sessions.begin() as session:
        original_id = store_article(session, original)
    exact = replace(
        make_record("https://mirror.example/copy.html", text="The wire story."),
        copy_check=CopyCheck("f1", b"sig-1", copy_of=original_id, kind=CopyKind.EXACT,
                             similarity=1.0),
    )  # fmt: skip
    near = replace(
        make_record("https://other.example/near.html", text="The wire story, trimmed."),
        copy_check=CopyCheck("f2", b"sig-2", copy_of=original_id, kind=CopyKind.NEAR,
                             similarity=0.8),
        published=original.published + timedelta(hours=2),  # a later, longer rewrite
    )  # fmt: skip
    fresh = replace(
        make_record("https://wire.example/other.html", text="Another story."),
        copy_check=CopyCheck(fingerprint="f3", signature=b"sig-3"),
    )
    with sessions.begin() as session:
        exact_id = store_article(session, exact)
        near_id = store_article(session, near)
        fresh_id = store_article(session, fresh)
    with sessions() as session:
        stored = {i: session.get(Article, i) for i in (original_id, exact_id, near_id, fresh_id)}
        assert stored[exact_id].text is None  # type: ignore[union-attr]
        assert stored[exact_id].original.text == "The wire story."  # type: ignore[union-attr]
        assert stored[near_id].text == "The wire story, trimmed."  # type: ignore[union-attr]
        story_ids = {i: a.story_id for i, a in stored.items()}  # type: ignore[union-attr]
        assert story_ids[original_id] == story_ids[exact_id] == story_ids[near_id]
        assert story_ids[fresh_id] != story_ids[original_id]
        story = session.get(Story, story_ids[original_id])
        assert story is not None
        assert (story.article_count, story.site_count) == (3, 3)
        assert story.representative_id == original_id
        from storage.stories import signatures_of

        signatures = signatures_of(session, [original_id, exact_id, near_id])
        assert signatures == {original_id: b"sig-1", near_id: b"sig-2"}


def test_a_page_stored_before_the_canonical_it_names_joins_that_story_later(
    sessions: sessionmaker[Session],
) -> None:
    from dataclasses import replace

    from storage.models import Story
    from storage.records import CopyCheck

    add_source(sessions)
    target_url = "https://wire.example/original.html"
    digest = make_record("https://digest.example/rewrite.html", text="A rewritten digest.")
    digest = replace(
        digest,
        extracted=replace(digest.extracted, declared_canonical_url=target_url),
        copy_check=CopyCheck("f-digest", b"sig-digest"),
    )
    with sessions.begin() as session:
        digest_id = store_article(session, digest)
    target = replace(
        make_record(target_url, text="The original report."),
        copy_check=CopyCheck("f-original", b"sig-original"),
    )
    with sessions.begin() as session:
        target_id = store_article(session, target)
    with sessions() as session:
        stored_digest = session.get(Article, digest_id)
        stored_target = session.get(Article, target_id)
        assert stored_digest is not None and stored_target is not None
        assert stored_digest.story_id == stored_target.story_id
        assert stored_digest.duplicate_of == target_id
        assert session.scalar(select(func.count()).select_from(Story)) == 1
        story = session.get(Story, stored_target.story_id)
        assert story is not None and story.article_count == 2
