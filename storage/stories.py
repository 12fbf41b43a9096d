"""Stories: the articles that tell one story, however many sites ran it.

An article joins a story when it is an exact copy, a near-copy, or declares another
stored article as its canonical page; otherwise it starts a story of its own. The
story's counts (articles, sites, languages), its time span and its representative are
recomputed from its members whenever one joins. Functions take a session and never
commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from storage.models import Article, ArticleSignature, Story
from storage.urls import host_of


def find_copy_by_fingerprint(session: Session, fingerprint: str) -> Article | None:
    """The first stored article with exactly this normalised text."""
    return session.scalars(
        select(Article)
        .where(Article.content_fingerprint == fingerprint, Article.text.is_not(None))
        .order_by(Article.id)
        .limit(1)
    ).first()


def find_by_canonical_url(session: Session, canonical_url: str) -> Article | None:
    return session.scalars(select(Article).where(Article.canonical_url == canonical_url)).first()


def iter_signatures(session: Session, since: datetime) -> Iterator[tuple[int, bytes]]:
    """Persisted MinHash signatures of articles stored since ``since``, oldest first."""
    rows = session.execute(
        select(ArticleSignature.article_id, ArticleSignature.signature)
        .where(ArticleSignature.created_at >= since)
        .order_by(ArticleSignature.article_id)
        .execution_options(yield_per=2000)
    )
    yield from rows


def iter_dated_signatures(
    session: Session, since: datetime
) -> Iterator[tuple[int, bytes, datetime]]:
    """As :func:`iter_signatures`, with the time each signature was stored."""
    rows = session.execute(
        select(ArticleSignature.article_id, ArticleSignature.signature, ArticleSignature.created_at)
        .where(ArticleSignature.created_at >= since)
        .order_by(ArticleSignature.article_id)
        .execution_options(yield_per=2000)
    )
    yield from rows


def signatures_of(session: Session, article_ids: list[int]) -> dict[int, bytes]:
    rows = session.execute(
        select(ArticleSignature.article_id, ArticleSignature.signature).where(
            ArticleSignature.article_id.in_(article_ids)
        )
    )
    return {article_id: signature for article_id, signature in rows}


def save_signature(session: Session, article_id: int, signature: bytes, at: datetime) -> None:
    session.add(ArticleSignature(article_id=article_id, signature=signature, created_at=at))


def join_story(session: Session, article: Article, story_id: int | None) -> Story:
    """Put ``article`` in story ``story_id`` (a new story when None) and refresh the story."""
    if story_id is None:
        story = Story(
            title=article.title,
            first_seen=article.fetched_at,
            last_seen=article.fetched_at,
            representative_id=article.id,
            languages=[],
        )
        session.add(story)
        session.flush()
    else:
        story = session.get(Story, story_id)
        if story is None:
            raise LookupError(f"no story {story_id}")
    article.story_id = story.id
    session.flush()
    refresh_story(session, story)
    return story


def refresh_story(session: Session, story: Story) -> None:
    """Recompute a story's counts, span and representative from its members."""
    members = list(
        session.scalars(select(Article).where(Article.story_id == story.id).order_by(Article.id))
    )
    if not members:
        return
    story.article_count = len(members)
    story.site_count = len({host_of(member.canonical_url) for member in members})
    story.languages = sorted({member.language for member in members if member.language})
    story.first_seen = min(member.fetched_at for member in members)
    story.last_seen = max(member.fetched_at for member in members)
    with_text = [member for member in members if member.text]
    # The earliest published member with a text of its own; the fullest text breaks ties.
    representative = min(
        with_text or members, key=lambda m: (m.published, -len(m.text or ""), m.id)
    )
    story.representative_id = representative.id
    story.title = representative.title


def adopt_declared_copies(session: Session, article: Article, urls: Iterable[str]) -> int:
    """Bring into ``article``'s story the stored pages that declared it as their canonical page
    before it was stored (``urls``: its canonical URL and the URLs it was fetched at).

    Returns how many joined. Stories they leave empty are deleted.
    """
    declarers = list(
        session.scalars(
            select(Article).where(
                Article.declared_canonical_url.in_(list(urls)),
                Article.id != article.id,
                or_(Article.story_id.is_(None), Article.story_id != article.story_id),
            )
        )
    )
    left: set[int] = set()
    for declarer in declarers:
        if declarer.story_id is not None:
            left.add(declarer.story_id)
        declarer.story_id = article.story_id
        declarer.duplicate_of = article.id
    session.flush()
    for story_id in left:
        story = session.get(Story, story_id)
        if story is None:
            continue
        if session.scalar(select(Article.id).where(Article.story_id == story_id).limit(1)):
            refresh_story(session, story)
        else:
            session.delete(story)
    if declarers and article.story_id is not None:
        story = session.get(Story, article.story_id)
        if story is not None:
            refresh_story(session, story)
    return len(declarers)


def mark_story_updated(session: Session, story_id: int, at: datetime) -> None:
    session.execute(update(Story).where(Story.id == story_id).values(updated_at=at))
