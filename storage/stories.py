"""Stories: the articles that tell one story, however many sites ran it.

An article joins a story when it is an exact copy, a near-copy, or declares another
stored article as its canonical page; otherwise it starts a story of its own. The
story's counts (articles, sites, languages), its time span and its representative are
recomputed from its members whenever one joins. Functions take a session and never
commit.

Storing an article runs these for every new page, so the common path (a story of one
article, nobody declaring it canonical) reads and writes columns with statements built
once, never whole rows through the ORM. The rarer paths (an original stored before stories
existed, declarers adopted, stories merged) use ORM statements, which keep articles and
stories already loaded in the session in step.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from sqlalchemy import bindparam, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from storage.models import Article, ArticleSignature, Story
from storage.urls import host_of

_ARTICLES = Article.__table__
_STORIES = Story.__table__

_COPY_ID_BY_FINGERPRINT = (
    select(_ARTICLES.c.id)
    .where(
        _ARTICLES.c.content_fingerprint == bindparam("fingerprint"), _ARTICLES.c.text.is_not(None)
    )
    .order_by(_ARTICLES.c.id)
    .limit(1)
)
_ID_BY_CANONICAL_URL = select(_ARTICLES.c.id).where(
    _ARTICLES.c.canonical_url == bindparam("canonical_url")
)
_INSERT_SIGNATURE = insert(ArticleSignature.__table__)
_INSERT_STORY = insert(_STORIES).returning(_STORIES.c.id)
# Core, so for an article stored in this transaction only: no session holds it loaded.
_FILE_NEW_ARTICLE = (
    update(_ARTICLES)
    .where(_ARTICLES.c.id == bindparam("article"))
    .values(story_id=bindparam("story"))
)
_DECLARERS = select(_ARTICLES.c.id, _ARTICLES.c.story_id).where(
    _ARTICLES.c.declared_canonical_url.in_(bindparam("urls", expanding=True)),
    _ARTICLES.c.id != bindparam("article"),
    or_(_ARTICLES.c.story_id.is_(None), _ARTICLES.c.story_id != bindparam("story")),
)
_MEMBERS = (
    select(
        _ARTICLES.c.id,
        _ARTICLES.c.canonical_url,
        _ARTICLES.c.title,
        _ARTICLES.c.language,
        _ARTICLES.c.published,
        _ARTICLES.c.fetched_at,
        func.length(_ARTICLES.c.text).label("text_length"),
    )
    .where(_ARTICLES.c.story_id == bindparam("story"))
    .order_by(_ARTICLES.c.id)
)


def find_copy_by_fingerprint(session: Session, fingerprint: str) -> Article | None:
    """The first stored article with exactly this normalised text."""
    return session.scalars(
        select(Article)
        .where(Article.content_fingerprint == fingerprint, Article.text.is_not(None))
        .order_by(Article.id)
        .limit(1)
    ).first()


def find_copy_id_by_fingerprint(session: Session, fingerprint: str) -> int | None:
    """The id of :func:`find_copy_by_fingerprint`'s article, without reading the article."""
    return session.execute(_COPY_ID_BY_FINGERPRINT, {"fingerprint": fingerprint}).scalar()


def find_by_canonical_url(session: Session, canonical_url: str) -> Article | None:
    return session.scalars(select(Article).where(Article.canonical_url == canonical_url)).first()


def find_id_by_canonical_url(session: Session, canonical_url: str) -> int | None:
    """The id of the article stored under this canonical URL, without reading the article."""
    return session.execute(_ID_BY_CANONICAL_URL, {"canonical_url": canonical_url}).scalar()


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
    session.execute(
        _INSERT_SIGNATURE, {"article_id": article_id, "signature": signature, "created_at": at}
    )


def start_story(
    session: Session,
    article_id: int,
    *,
    title: str | None,
    language: str | None,
    fetched_at: datetime,
) -> int:
    """A new story of one article stored in this transaction; its id.

    A story of one member needs no reading back: the article is its representative, one
    site, its language, and its fetch time both ends of the span.
    """
    values = _one_member(article_id, title, language, fetched_at)
    story_id: int = session.execute(_INSERT_STORY, values).scalar_one()
    session.execute(_FILE_NEW_ARTICLE, {"article": article_id, "story": story_id})
    return story_id


def story_of(session: Session, article_id: int) -> int | None:
    """The story of a stored article, started now if it was stored before stories existed;
    None if there is no such article."""
    row = session.execute(
        select(Article.story_id, Article.title, Article.language, Article.fetched_at).where(
            Article.id == article_id
        )
    ).first()
    if row is None:
        return None
    if row.story_id is not None:
        return row.story_id
    story_id: int = session.execute(
        _INSERT_STORY, _one_member(article_id, row.title, row.language, row.fetched_at)
    ).scalar_one()
    session.execute(update(Article).where(Article.id == article_id).values(story_id=story_id))
    return story_id


def _one_member(
    article_id: int, title: str | None, language: str | None, fetched_at: datetime
) -> dict[str, object]:
    return {
        "representative_id": article_id,
        "title": title,
        "first_seen": fetched_at,
        "last_seen": fetched_at,
        "article_count": 1,
        "site_count": 1,
        "languages": [language] if language else [],
    }


def join_story(session: Session, article_id: int, story_id: int) -> None:
    """Put an article stored in this transaction in story ``story_id`` and refresh the story."""
    session.execute(_FILE_NEW_ARTICLE, {"article": article_id, "story": story_id})
    refresh_story(session, story_id)


def refresh_story(session: Session, story_id: int) -> None:
    """Recompute a story's counts, span and representative from its members."""
    members = session.execute(_MEMBERS, {"story": story_id}).all()
    if not members:
        return
    with_text = [member for member in members if member.text_length]
    # The earliest published member with a text of its own; the fullest text breaks ties.
    representative = min(
        with_text or members, key=lambda m: (m.published, -(m.text_length or 0), m.id)
    )
    session.execute(
        update(Story)
        .where(Story.id == story_id)
        .values(
            article_count=len(members),
            site_count=len({host_of(member.canonical_url) for member in members}),
            languages=sorted({member.language for member in members if member.language}),
            first_seen=min(member.fetched_at for member in members),
            last_seen=max(member.fetched_at for member in members),
            representative_id=representative.id,
            title=representative.title,
        )
    )


def adopt_declared_copies(
    session: Session, article_id: int, story_id: int, urls: Iterable[str]
) -> int:
    """Bring into story ``story_id``, of article ``article_id``, the stored pages that declared
    that article as their canonical page before it was stored (``urls``: its canonical URL and
    the URLs it was fetched at).

    Returns how many joined. Stories they leave empty are deleted.
    """
    declarers = session.execute(
        _DECLARERS, {"urls": list(urls), "article": article_id, "story": story_id}
    ).all()
    if not declarers:
        return 0
    session.execute(
        update(Article)
        .where(Article.id.in_([declarer.id for declarer in declarers]))
        .values(story_id=story_id, duplicate_of=article_id)
    )
    left = {declarer.story_id for declarer in declarers if declarer.story_id is not None}
    for left_id in left:
        if session.scalar(select(Article.id).where(Article.story_id == left_id).limit(1)):
            refresh_story(session, left_id)
        else:
            session.execute(delete(Story).where(Story.id == left_id))
    refresh_story(session, story_id)
    return len(declarers)


def mark_story_updated(session: Session, story_id: int, at: datetime) -> None:
    session.execute(update(Story).where(Story.id == story_id).values(updated_at=at))
