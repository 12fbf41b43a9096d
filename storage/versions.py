"""Articles that change after publication: re-checks, versions and their diffs.

Articles younger than a set age are fetched again now and then, with the validators of the
last fetch (``If-None-Match`` / ``If-Modified-Since``). When the text changed, the old text
is kept as an :class:`~storage.models.ArticleVersion` with a unified diff to the new one,
the article carries the new text and a higher version number, and its story is marked
updated. Functions take a session and never commit.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from storage.models import Article, ArticleVersion, RawPage
from storage.records import ArticleRecord
from storage.repository import replace_tags
from storage.stories import mark_story_updated


@dataclass(frozen=True, slots=True)
class RecheckTarget:
    article_id: int
    etag: str | None
    last_modified: str | None


def find_recheck_due(
    session: Session,
    canonical_urls: Iterable[str],
    *,
    fetched_after: datetime,
    checked_before: datetime,
) -> dict[str, RecheckTarget]:
    """The stored articles among these URLs that are young enough and not checked lately."""
    urls = list(canonical_urls)
    if not urls:
        return {}
    last_look = func.coalesce(Article.checked_at, Article.fetched_at)
    rows = session.execute(
        select(Article.canonical_url, Article.id, Article.etag, Article.last_modified).where(
            Article.canonical_url.in_(urls),
            Article.fetched_at >= fetched_after,
            last_look <= checked_before,
            Article.text.is_not(None),  # an exact copy follows its original
        )
    )
    return {
        url: RecheckTarget(article_id, etag, modified) for url, article_id, etag, modified in rows
    }


@dataclass(frozen=True, slots=True)
class DueRecheck:
    canonical_url: str
    url: str
    title: str | None
    published: datetime
    target: RecheckTarget


def find_source_rechecks(
    session: Session,
    source_id: str,
    *,
    fetched_after: datetime,
    checked_before: datetime,
    limit: int = 200,
) -> list[DueRecheck]:
    """A source's articles young enough to be checked again and not checked lately.

    Rechecks do not wait for the article's feed to change: a feed that still lists an
    article is often byte for byte the same while the article is being corrected.
    """
    last_look = func.coalesce(Article.checked_at, Article.fetched_at)
    rows = session.execute(
        select(
            Article.canonical_url, Article.url, Article.title, Article.published, Article.id,
            Article.etag, Article.last_modified,
        )
        .where(
            Article.source_id == source_id,
            Article.fetched_at >= fetched_after,
            last_look <= checked_before,
            Article.text.is_not(None),
        )
        .order_by(last_look)
        .limit(limit)
    )  # fmt: skip
    return [
        DueRecheck(canonical, url, title, published, RecheckTarget(article_id, etag, modified))
        for canonical, url, title, published, article_id, etag, modified in rows
    ]


def mark_checked(
    session: Session,
    article_id: int,
    at: datetime,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
) -> None:
    """Record an unchanged re-check (a 304, or the same text)."""
    values: dict[str, object] = {"checked_at": at}
    if etag:
        values["etag"] = etag
    if last_modified:
        values["last_modified"] = last_modified
    session.execute(update(Article).where(Article.id == article_id).values(**values))


def text_diff(old: str, new: str, old_label: str, new_label: str) -> str:
    return "\n".join(
        difflib.unified_diff(old.splitlines(), new.splitlines(), old_label, new_label, lineterm="")
    )


def record_recheck(session: Session, article_id: int, record: ArticleRecord) -> bool:
    """Store what a re-check found; True when the text changed (a new version)."""
    article = session.get(Article, article_id)
    if article is None:
        raise LookupError(f"no article {article_id}")
    page, new_text = record.page, record.extracted.text
    at = page.fetched_at
    if article.text is None or article.text == new_text:
        mark_checked(session, article_id, at, etag=page.etag, last_modified=page.last_modified)
        return False
    session.add(
        ArticleVersion(
            article_id=article_id,
            version=article.version,
            title=article.title,
            text=article.text,
            diff=text_diff(
                article.text,
                new_text,
                f"version {article.version}",
                f"version {article.version + 1}",
            ),
            fetched_at=article.checked_at or article.fetched_at,
        )
    )
    article.text = new_text
    article.title = record.extracted.title or article.title
    article.version += 1
    article.updated_at = article.checked_at = at
    article.etag, article.last_modified = page.etag, page.last_modified
    if record.copy_check is not None and record.copy_check.fingerprint:
        article.content_fingerprint = record.copy_check.fingerprint
    raw = session.get(RawPage, article_id)
    if raw is not None:
        raw.body_zlib = record.stored_body()
        raw.size = len(page.body)
        raw.fetched_at = at
    if record.tags is not None:
        replace_tags(session, article_id, record.tags)
    if article.story_id is not None:
        mark_story_updated(session, article.story_id, at)
    return True
