"""Reads and writes of Veille's records.

Every function takes a session and never commits: the caller frames the
transaction. Uniqueness is enforced by the database (``insert ... on conflict do
nothing``), never by select-then-insert, so concurrent crawlers cannot store the
same article twice.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, selectinload

from storage.database import UnsupportedDatabase
from storage.models import (
    Article,
    ArticleTag,
    Base,
    CrawlRun,
    KnownUrl,
    RawPage,
    RunStatus,
    Source,
    UrlOutcome,
    utcnow,
)
from storage.records import ArticleRecord, CopyCheck, CopyKind, TagRecord
from storage.seeds import save_comparison
from storage.stories import (
    adopt_declared_copies,
    find_id_by_canonical_url,
    join_story,
    save_signature,
    start_story,
    story_of,
)
from storage.urls import UnusableUrl, canonicalize_url

# SQLite accepts at most 32766 bound parameters per statement; stay well below.
_LOOKUP_BATCH = 500


def _insert(session: Session, model: type[Base]) -> Any:
    return _dialect_insert(session.get_bind().dialect.name, model)


def _dialect_insert(dialect: str, table: Any) -> Any:
    if dialect == "postgresql":
        return postgresql_insert(table)
    if dialect == "sqlite":
        return sqlite_insert(table)
    raise UnsupportedDatabase(f"Veille supports SQLite and PostgreSQL, not {dialect}")


# Statements run for every stored article are built once (per dialect where the syntax
# differs) and executed with parameters: building one per call, and its cache key, cost
# more CPU than the database takes to run it.


@cache
def _insert_article(dialect: str) -> Any:
    """Insert an article unless its canonical URL is stored already; returns its id, if new."""
    articles = Article.__table__
    return (
        _dialect_insert(dialect, articles)
        .on_conflict_do_nothing(index_elements=[articles.c.canonical_url])
        .returning(articles.c.id)
    )


@cache
def _upsert_known_urls(dialect: str) -> Any:
    """Insert known URLs; one known already keeps its outcome and gets a new ``last_seen``."""
    known_urls = KnownUrl.__table__
    statement = _dialect_insert(dialect, known_urls)
    return statement.on_conflict_do_update(
        index_elements=[known_urls.c.url], set_={"last_seen": statement.excluded.last_seen}
    )


_INSERT_TAGS = insert(ArticleTag.__table__)
_INSERT_RAW_PAGE = insert(RawPage.__table__)


def upsert_source(
    session: Session, *, source_id: str, name: str | None, language: str | None
) -> None:
    """Create the source row, or update its name and language."""
    now = utcnow()
    statement = _insert(session, Source).values(
        id=source_id, name=name, language=language, created_at=now, updated_at=now
    )
    statement = statement.on_conflict_do_update(
        index_elements=[Source.id],
        set_={"name": name, "language": language, "updated_at": now},
    )
    session.execute(statement)


def find_known_urls(session: Session, urls: Iterable[str]) -> set[str]:
    """The subset of these canonical URLs that need not be fetched again."""
    wanted = list(dict.fromkeys(urls))
    found: set[str] = set()
    for start in range(0, len(wanted), _LOOKUP_BATCH):
        batch = wanted[start : start + _LOOKUP_BATCH]
        found.update(session.scalars(select(KnownUrl.url).where(KnownUrl.url.in_(batch))))
    return found


def is_known_url(session: Session, url: str) -> bool:
    return session.get(KnownUrl, url) is not None


def remember_url(
    session: Session,
    url: str,
    outcome: UrlOutcome,
    *,
    source_id: str | None = None,
    article_id: int | None = None,
    detail: str | None = None,
) -> None:
    """Record that ``url`` (canonical) was fetched with this outcome; the first outcome stays."""
    _remember(session, [url], outcome, source_id=source_id, article_id=article_id, detail=detail)


def _remember(
    session: Session,
    urls: list[str],
    outcome: UrlOutcome,
    *,
    source_id: str | None,
    article_id: int | None,
    detail: str | None = None,
) -> None:
    """:func:`remember_url` for distinct URLs, in one statement."""
    now = utcnow()
    rows = [
        {
            "url": url,
            "outcome": outcome.value,
            "article_id": article_id,
            "source_id": source_id,
            "detail": detail,
            "first_seen": now,
            "last_seen": now,
        }
        for url in urls
    ]
    session.execute(_upsert_known_urls(session.get_bind().dialect.name), rows)


def store_article(
    session: Session, record: ArticleRecord, *, crawl_run_id: int | None = None
) -> int | None:
    """Store an extracted article with its raw page; None if its canonical URL is stored already.

    The URL as linked, the URL after redirects and the canonical URL are all
    remembered, so none of them is requested again.
    """
    page, extracted = record.page, record.extracted
    check = record.copy_check
    exact = check is not None and check.kind is CopyKind.EXACT
    dialect = session.get_bind().dialect.name
    values = {
        "source_id": page.source_id,
        "crawl_run_id": crawl_run_id,
        "url": page.url,
        "canonical_url": record.canonical_url,
        "final_url": page.final_url,
        "declared_canonical_url": extracted.declared_canonical_url,
        "feed_url": page.feed_url,
        "title": extracted.title,
        "text": None if exact else extracted.text,
        "author": extracted.author,
        "sitename": extracted.sitename,
        "description": extracted.description,
        "language": extracted.language,
        "language_detected": extracted.language_detected,
        "published": record.published,
        "published_from": record.published_from.value,
        "fetched_at": page.fetched_at,
        "relevant": record.relevant,
        "tagged_at": utcnow() if record.tags is not None else None,
        "etag": page.etag,
        "last_modified": page.last_modified,
        "content_fingerprint": check.fingerprint if check else None,
        "duplicate_of": check.copy_of if check else None,
        "similarity": check.similarity if check else None,
    }
    article_id = session.execute(_insert_article(dialect), values).scalar_one_or_none()
    if article_id is None:
        target_id = find_id_by_canonical_url(session, record.canonical_url)
    else:
        target_id = article_id
        if record.tags is not None:
            _add_tags(session, article_id, record.tags)
        if check is not None:
            _file_in_story(session, article_id, record, check)
        session.execute(
            _INSERT_RAW_PAGE,
            {
                "article_id": article_id,
                "content_type": page.content_type,
                "encoding": page.encoding,
                "size": len(page.body),
                "body_zlib": record.stored_body(),
                "fetched_at": page.fetched_at,
            },
        )
        if record.comparison is not None:
            save_comparison(session, article_id, record.comparison)
    aliases = _aliases(record)
    _remember(session, aliases, UrlOutcome.ARTICLE, source_id=page.source_id, article_id=target_id)
    return article_id


def _file_in_story(
    session: Session, article_id: int, record: ArticleRecord, check: CopyCheck
) -> None:
    story_id = story_of(session, check.copy_of) if check.copy_of is not None else None
    if story_id is None:
        story_id = start_story(
            session,
            article_id,
            title=record.extracted.title,
            language=record.extracted.language,
            fetched_at=record.page.fetched_at,
        )
    else:
        join_story(session, article_id, story_id)
    if check.copy_of is None:  # pages stored earlier may name this one as their canonical
        urls = (record.canonical_url, record.page.url, record.page.final_url)
        adopt_declared_copies(session, article_id, story_id, dict.fromkeys(urls))
    if check.signature is not None and check.kind is not CopyKind.EXACT:
        save_signature(session, article_id, check.signature, record.page.fetched_at)


def _add_tags(session: Session, article_id: int, tags: Iterable[TagRecord]) -> None:
    rows = [
        {
            "article_id": article_id,
            "initiative": tag.initiative,
            "score": tag.score,
            "relevant": tag.relevant,
            "evidence": list(tag.evidence),
        }
        for tag in tags
    ]
    if rows:  # executed with no rows, an insert would add one row of defaults
        session.execute(_INSERT_TAGS, rows)


def replace_tags(session: Session, article_id: int, tags: Iterable[TagRecord]) -> None:
    """Set an article's tags (after the taxonomy changed) and its relevance flag."""
    tags = list(tags)
    session.execute(delete(ArticleTag).where(ArticleTag.article_id == article_id))
    _add_tags(session, article_id, tags)
    session.execute(
        update(Article)
        .where(Article.id == article_id)
        .values(relevant=any(tag.relevant for tag in tags), tagged_at=utcnow())
    )


def _aliases(record: ArticleRecord) -> list[str]:
    aliases = [record.canonical_url]
    for url in dict.fromkeys((record.page.url, record.page.final_url)):  # often one URL
        try:
            aliases.append(canonicalize_url(url))
        except UnusableUrl:
            continue
    return list(dict.fromkeys(aliases))


def read_raw_page(session: Session, article_id: int) -> bytes | None:
    """The article's downloaded bytes, decompressed."""
    raw = session.get(RawPage, article_id)
    return zlib.decompress(raw.body_zlib) if raw is not None else None


def start_crawl_run(
    session: Session, *, trigger: str, source_ids: list[str], pid: int | None = None
) -> CrawlRun:
    run = CrawlRun(
        trigger=trigger,
        source_ids=source_ids,
        status=RunStatus.RUNNING.value,
        started_at=utcnow(),
        pid=pid,
        failures={},
        stats={},
    )
    session.add(run)
    session.flush()
    return run


def record_crawl_counts(session: Session, run_id: int, **values: Any) -> None:
    """Write the crawl's counts (``feeds_polled=...``, ``failures={...}``, ``stats={...}``)."""
    session.execute(update(CrawlRun).where(CrawlRun.id == run_id).values(**values))


def finish_crawl_run(
    session: Session,
    run_id: int,
    *,
    status: RunStatus,
    exit_code: int | None = None,
    error: str | None = None,
    finished_at: datetime | None = None,
) -> None:
    session.execute(
        update(CrawlRun)
        .where(CrawlRun.id == run_id)
        .values(
            status=status.value,
            exit_code=exit_code,
            error=error,
            finished_at=finished_at or utcnow(),
        )
    )


def get_crawl_run(session: Session, run_id: int) -> CrawlRun | None:
    return session.get(CrawlRun, run_id)


def iter_articles(
    session: Session,
    *,
    since: datetime | None = None,
    source_ids: list[str] | None = None,
) -> Iterator[Article]:
    """Stored articles, oldest fetch first; ``since`` compares with the fetch time."""
    query = (
        select(Article)
        .options(selectinload(Article.tags), selectinload(Article.comparison))
        .order_by(Article.fetched_at, Article.id)
    )
    if since is not None:
        query = query.where(Article.fetched_at >= since)
    if source_ids:
        query = query.where(Article.source_id.in_(source_ids))
    yield from session.scalars(query.execution_options(yield_per=500))


def count_articles(session: Session, *, crawl_run_id: int | None = None) -> int:
    query = select(func.count()).select_from(Article)
    if crawl_run_id is not None:
        query = query.where(Article.crawl_run_id == crawl_run_id)
    return session.scalar(query) or 0
