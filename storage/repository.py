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
from typing import Any

from sqlalchemy import delete, func, select, update
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
from storage.stories import adopt_declared_copies, join_story, save_signature
from storage.urls import UnusableUrl, canonicalize_url

# SQLite accepts at most 32766 bound parameters per statement; stay well below.
_LOOKUP_BATCH = 500


def _insert(session: Session, model: type[Base]) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql_insert(model)
    if dialect == "sqlite":
        return sqlite_insert(model)
    raise UnsupportedDatabase(f"Veille supports SQLite and PostgreSQL, not {dialect}")


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
    now = utcnow()
    statement = _insert(session, KnownUrl).values(
        url=url,
        outcome=outcome.value,
        article_id=article_id,
        source_id=source_id,
        detail=detail,
        first_seen=now,
        last_seen=now,
    )
    session.execute(
        statement.on_conflict_do_update(index_elements=[KnownUrl.url], set_={"last_seen": now})
    )


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
    statement = (
        _insert(session, Article)
        .values(
            source_id=page.source_id,
            crawl_run_id=crawl_run_id,
            url=page.url,
            canonical_url=record.canonical_url,
            final_url=page.final_url,
            declared_canonical_url=extracted.declared_canonical_url,
            feed_url=page.feed_url,
            title=extracted.title,
            text=None if exact else extracted.text,
            author=extracted.author,
            sitename=extracted.sitename,
            description=extracted.description,
            language=extracted.language,
            language_detected=extracted.language_detected,
            published=record.published,
            published_from=record.published_from.value,
            fetched_at=page.fetched_at,
            relevant=record.relevant,
            tagged_at=utcnow() if record.tags is not None else None,
            etag=page.etag,
            last_modified=page.last_modified,
            content_fingerprint=check.fingerprint if check else None,
            duplicate_of=check.copy_of if check else None,
            similarity=check.similarity if check else None,
        )
        .on_conflict_do_nothing(index_elements=[Article.canonical_url])
        .returning(Article.id)
    )
    article_id = session.execute(statement).scalar_one_or_none()
    if article_id is None:
        target_id = session.scalar(
            select(Article.id).where(Article.canonical_url == record.canonical_url)
        )
    else:
        target_id = article_id
        if record.tags is not None:
            _add_tags(session, article_id, record.tags)
        if check is not None:
            _file_in_story(session, article_id, check, page.fetched_at)
        if record.comparison is not None:
            save_comparison(session, article_id, record.comparison)
        session.add(
            RawPage(
                article_id=article_id,
                content_type=page.content_type,
                encoding=page.encoding,
                size=len(page.body),
                body_zlib=record.stored_body(),
                fetched_at=page.fetched_at,
            )
        )
        session.flush()
    for alias in _aliases(record):
        remember_url(
            session, alias, UrlOutcome.ARTICLE, source_id=page.source_id, article_id=target_id
        )
    return article_id


def _file_in_story(session: Session, article_id: int, check: CopyCheck, at: datetime) -> None:
    article = session.get(Article, article_id)
    assert article is not None
    story_id = None
    if check.copy_of is not None:
        original = session.get(Article, check.copy_of)
        if original is not None:
            if original.story_id is None:  # stored before stories existed
                join_story(session, original, None)
            story_id = original.story_id
    join_story(session, article, story_id)
    if check.copy_of is None:  # pages stored earlier may name this one as their canonical
        adopt_declared_copies(
            session, article, [article.canonical_url, article.url, article.final_url]
        )
    if check.signature is not None and check.kind is not CopyKind.EXACT:
        save_signature(session, article_id, check.signature, at)


def _add_tags(session: Session, article_id: int, tags: Iterable[TagRecord]) -> None:
    session.add_all(
        ArticleTag(
            article_id=article_id,
            initiative=tag.initiative,
            score=tag.score,
            relevant=tag.relevant,
            evidence=list(tag.evidence),
        )
        for tag in tags
    )


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
    for url in (record.page.url, record.page.final_url):
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
