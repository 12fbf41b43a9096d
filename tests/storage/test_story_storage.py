"""Stories as storing an article files them, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, event, func, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from storage.models import Article, Source, Story
from storage.records import (
    ArticleRecord,
    CopyCheck,
    CopyKind,
    Extracted,
    FetchedPage,
    PublishedFrom,
)
from storage.repository import store_article, upsert_source
from storage.stories import (
    find_by_canonical_url,
    find_copy_by_fingerprint,
    find_copy_id_by_fingerprint,
    find_id_by_canonical_url,
)
from storage.urls import canonicalize_url

FETCHED = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)


def make_record(
    url: str,
    *,
    text: str = "Body text.",
    language: str | None = "en",
    declared: str | None = None,
    check: CopyCheck | None = None,
    minutes: int = 0,
    source_id: str = "wire",
) -> ArticleRecord:
    fetched = FETCHED + timedelta(minutes=minutes)
    page = FetchedPage(
        url=url, final_url=url, source_id=source_id, body=b"<html></html>",
        content_type="text/html", encoding="utf-8", fetched_at=fetched,
    )  # fmt: skip
    extracted = Extracted(
        text=text, title=f"Title of {url}", language=language, declared_canonical_url=declared
    )
    return ArticleRecord(
        page=page, extracted=extracted, canonical_url=canonicalize_url(url),
        published=fetched - timedelta(hours=1), published_from=PublishedFrom.PAGE,
        copy_check=check,
    )  # fmt: skip


def fingerprints(n: int) -> CopyCheck:
    return CopyCheck(f"fingerprint-{n}", bytes([1, n]))


def store(sessions: sessionmaker[Session], record: ArticleRecord) -> int:
    with sessions.begin() as session:
        article_id = store_article(session, record)
    assert article_id is not None
    return article_id


def story_of(session: Session, article_id: int) -> Story:
    article = session.get(Article, article_id)
    assert article is not None and article.story_id is not None
    story = session.get(Story, article.story_id)
    assert story is not None
    return story


def add_source(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        upsert_source(session, source_id="wire", name="Wire", language="en")


def test_a_new_article_starts_a_story_of_its_own(sessions: sessionmaker[Session]) -> None:
    add_source(sessions)
    english = store(sessions, make_record("https://wire.example/a.html", check=fingerprints(1)))
    unknown = store(
        sessions,
        make_record("https://wire.example/b.html", language=None, check=fingerprints(2)),
    )
    with sessions() as session:
        story = story_of(session, english)
        assert (story.article_count, story.site_count, story.languages) == (1, 1, ["en"])
        assert story.first_seen == story.last_seen == FETCHED
        assert (story.representative_id, story.title) == (
            english,
            "Title of " + "https://wire.example/a.html",
        )
        assert story.updated_at is None
        assert story_of(session, unknown).languages == []


def test_storing_a_new_article_reads_no_article_row_back(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    add_source(sessions)
    selects: list[str] = []

    def collect(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    event.listen(engine, "before_cursor_execute", collect)
    try:
        store(sessions, make_record("https://wire.example/new.html", check=fingerprints(1)))
    finally:
        event.remove(engine, "before_cursor_execute", collect)
    assert not [statement for statement in selects if "articles.text" in statement]


def test_a_copy_of_an_article_stored_before_stories_existed_starts_its_story(
    sessions: sessionmaker[Session],
) -> None:
    add_source(sessions)
    old = store(sessions, make_record("https://wire.example/old.html", text="The full story."))
    with sessions() as session:
        assert session.get(Article, old).story_id is None  # type: ignore[union-attr]
    copy = store(
        sessions,
        make_record(
            "https://mirror.example/copy.html", language="fr", minutes=5,
            check=CopyCheck("f-copy", b"s", copy_of=old, kind=CopyKind.NEAR, similarity=0.7),
        ),
    )  # fmt: skip
    with sessions() as session:
        story = story_of(session, copy)
        assert story_of(session, old).id == story.id
        assert (story.article_count, story.site_count, story.languages) == (2, 2, ["en", "fr"])
        assert (story.first_seen, story.last_seen) == (FETCHED, FETCHED + timedelta(minutes=5))
        assert story.representative_id == old  # published first


def test_pages_that_named_a_canonical_leave_their_stories_for_its_story(
    sessions: sessionmaker[Session],
) -> None:
    add_source(sessions)
    target = "https://wire.example/report.html"
    alone = store(sessions, make_record("https://a.example/1", declared=target,
                                        check=fingerprints(1)))  # fmt: skip
    followed = store(sessions, make_record("https://b.example/2", declared=target,
                                           check=fingerprints(2), minutes=1))  # fmt: skip
    follower = store(
        sessions,
        make_record(
            "https://c.example/3", minutes=2,
            check=CopyCheck("f3", b"s3", copy_of=followed, kind=CopyKind.NEAR, similarity=0.6),
        ),
    )  # fmt: skip
    with sessions() as session:
        left = story_of(session, followed).id
        deleted = story_of(session, alone).id
    report = store(sessions, make_record(target, check=fingerprints(4), minutes=3))
    with sessions() as session:
        story = story_of(session, report)
        assert story_of(session, alone).id == story_of(session, followed).id == story.id
        assert (story.article_count, story.site_count) == (3, 3)
        assert session.scalars(
            select(Article.duplicate_of).where(Article.id.in_([alone, followed]))
        ).all() == [report, report]
        assert session.get(Story, deleted) is None
        kept = session.get(Story, left)
        assert kept is not None
        assert (kept.article_count, kept.representative_id) == (1, follower)
        assert kept.first_seen == kept.last_seen == FETCHED + timedelta(minutes=2)
        assert session.scalar(select(func.count()).select_from(Story)) == 2


def test_id_lookups_find_what_the_row_lookups_find(sessions: sessionmaker[Session]) -> None:
    add_source(sessions)
    first = store(sessions, make_record("https://wire.example/1", check=fingerprints(1)))
    exact = CopyCheck("fingerprint-1", b"s", copy_of=first, kind=CopyKind.EXACT, similarity=1.0)
    store(sessions, make_record("https://mirror.example/1", check=exact))
    with sessions() as session:
        assert find_copy_id_by_fingerprint(session, "fingerprint-1") == first
        assert find_copy_by_fingerprint(session, "fingerprint-1").id == first  # type: ignore[union-attr]
        assert find_copy_id_by_fingerprint(session, "fingerprint-9") is None
        url = "https://mirror.example/1"
        assert find_id_by_canonical_url(session, url) == find_by_canonical_url(session, url).id  # type: ignore[union-attr]
        assert find_id_by_canonical_url(session, "https://wire.example/none") is None


def test_declared_canonical_urls_are_indexed(engine: Engine) -> None:
    indexes = {index["name"]: index for index in inspect(engine).get_indexes("articles")}
    index = indexes["ix_articles_declared_canonical_url"]
    assert index["column_names"] == ["declared_canonical_url"]
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            definition = connection.execute(
                text("select indexdef from pg_indexes where indexname = :name"),
                {"name": "ix_articles_declared_canonical_url"},
            ).scalar_one()
        assert "USING hash" in definition


def test_a_page_may_declare_a_canonical_url_longer_than_a_btree_entry(
    sessions: sessionmaker[Session],
) -> None:
    """A btree index on PostgreSQL refuses entries over 2,704 bytes: the page would be lost."""
    add_source(sessions)
    declared = "https://wire.example/?token=" + "".join(f"{n:x}" for n in range(2000))
    assert len(declared) > 2704
    record = make_record("https://mirror.example/long", declared=declared, check=fingerprints(1))
    article_id = store(sessions, record)
    with sessions() as session:
        stored = session.get(Article, article_id)
        assert stored is not None and stored.declared_canonical_url == declared


def test_a_source_added_in_the_same_session_is_written_before_the_article(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        session.add(Source(id="fresh", name="Fresh"))
        article_id = store_article(
            session, make_record("https://fresh.example/1", source_id="fresh")
        )
    assert article_id is not None


def test_the_first_article_with_a_fingerprint_is_one_index_look_up(engine: Engine) -> None:
    # Right after a bulk load, with no statistics, PostgreSQL walked the primary key for
    # `ORDER BY id LIMIT 1`, reading every article when none had the fingerprint.
    with engine.begin() as connection:
        connection.execute(
            text("insert into sources (id, created_at, updated_at) values ('bulk', :at, :at)"),
            {"at": FETCHED},
        )
        connection.execute(
            Article.__table__.insert(),
            [
                {
                    "source_id": "bulk", "url": f"https://bulk.example/{n}",
                    "canonical_url": f"https://bulk.example/{n}",
                    "final_url": f"https://bulk.example/{n}", "text": "Text.",
                    "published": FETCHED, "published_from": "page", "fetched_at": FETCHED,
                    "content_fingerprint": f"{n:064x}", "language_detected": False,
                }
                for n in range(3000)
            ],
        )  # fmt: skip
    query = "select id from articles where content_fingerprint = :fingerprint"
    query += " and text is not null order by id limit 1"
    explain = "explain" if engine.dialect.name == "postgresql" else "explain query plan"
    with engine.connect() as connection:
        plan = connection.execute(text(f"{explain} {query}"), {"fingerprint": "none"}).all()
    assert "ix_articles_content_fingerprint_id" in " ".join(map(str, plan))
