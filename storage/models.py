"""SQLAlchemy 2.0 models: sources, articles (with their raw HTML), known URLs, crawl runs.

Tables are plural, models singular. Every datetime is timezone-aware UTC, also on
SQLite, through :class:`UTCDateTime`. The schema itself is owned by the Alembic
migrations in ``storage/migrations``; these models must match them (a test checks).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC; always returns aware UTC datetimes."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: Veille stores aware UTC datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON}


class UrlOutcome(StrEnum):
    """What happened the last time a URL was fetched; every outcome means: do not refetch."""

    ARTICLE = "article"
    EMPTY_EXTRACTION = "empty_extraction"
    NOT_HTML = "not_html"
    TOO_LARGE = "too_large"


class RunStatus(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    """Stopped on purpose: the service was asked to stop during the crawl."""


class Source(Base):
    __tablename__ = "sources"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Article(Base):
    __tablename__ = "articles"
    __table_args__ = (
        # A hash index on PostgreSQL: looked up by equality only, and a page may declare a
        # URL longer than a btree entry can be (2,704 bytes), which would fail its insert.
        Index(
            "ix_articles_declared_canonical_url",
            "declared_canonical_url",
            postgresql_using="hash",
        ),
        # The dedup stage asks for the first article with a fingerprint (ORDER BY id LIMIT 1):
        # with the id in the index, that is one index look-up whatever the planner's statistics
        # (after a bulk load, PostgreSQL would otherwise walk the primary key).
        Index("ix_articles_content_fingerprint_id", "content_fingerprint", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id"), index=True)
    crawl_run_id: Mapped[int | None] = mapped_column(ForeignKey("crawl_runs.id"), index=True)
    url: Mapped[str] = mapped_column(Text)
    canonical_url: Mapped[str] = mapped_column(Text, unique=True)
    final_url: Mapped[str] = mapped_column(Text)
    declared_canonical_url: Mapped[str | None] = mapped_column(Text)
    """The page's own canonical link when it names another URL: storing that URL's article
    looks it up (indexed), to bring the page into its story."""
    feed_url: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    """None for an exact copy of another article: its text is that article's (``duplicate_of``)."""
    author: Mapped[str | None] = mapped_column(Text)
    sitename: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16), index=True)
    language_detected: Mapped[bool] = mapped_column(Boolean, default=False)
    published: Mapped[datetime] = mapped_column(index=True)
    published_from: Mapped[str] = mapped_column(String(16))
    fetched_at: Mapped[datetime] = mapped_column(index=True)
    relevant: Mapped[bool | None] = mapped_column(Boolean, index=True)
    """Whether one initiative tag passed its threshold; None until tagged."""
    tagged_at: Mapped[datetime | None]
    story_id: Mapped[int | None] = mapped_column(ForeignKey("stories.id"), index=True)
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("articles.id"), index=True)
    """The earlier article this one copies (exactly, or nearly: see ``similarity``)."""
    similarity: Mapped[float | None] = mapped_column(Float)
    content_fingerprint: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime | None]
    """When a re-fetch last found the text changed (a new version)."""
    checked_at: Mapped[datetime | None]
    """When the page was last fetched again to look for changes."""

    raw_page: Mapped[RawPage | None] = relationship(back_populates="article")
    comparison: Mapped[SeedComparison | None] = relationship()
    original: Mapped[Article | None] = relationship(remote_side=[id])
    """The article this one copies (``duplicate_of``)."""
    tags: Mapped[list[ArticleTag]] = relationship(
        back_populates="article", cascade="all, delete-orphan", order_by="ArticleTag.score.desc()"
    )


class ArticleTag(Base):
    """An initiative an article is about, with its score and the evidence for it."""

    __tablename__ = "article_tags"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    initiative: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)
    score: Mapped[float] = mapped_column(Float)
    relevant: Mapped[bool] = mapped_column(Boolean)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON)

    article: Mapped[Article] = relationship(back_populates="tags")


class Story(Base):
    """One story however many sites ran it: its member articles point to it."""

    __tablename__ = "stories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    representative_id: Mapped[int | None] = mapped_column(Integer)
    """The member shown for the story (no foreign key: articles point to stories already)."""
    title: Mapped[str | None] = mapped_column(Text)
    first_seen: Mapped[datetime] = mapped_column(index=True)
    last_seen: Mapped[datetime] = mapped_column(index=True)
    article_count: Mapped[int] = mapped_column(Integer, default=1)
    site_count: Mapped[int] = mapped_column(Integer, default=1)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime | None]
    """When a member article last changed text (the story was updated)."""


class ArticleSignature(Base):
    """A persisted MinHash signature, so near-copies found tomorrow join today's story."""

    __tablename__ = "article_signatures"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(index=True)


class ArticleVersion(Base):
    """An earlier text of an article that changed, with the diff to the next version."""

    __tablename__ = "article_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    diff: Mapped[str | None] = mapped_column(Text)
    """Unified diff from this version to the one that replaced it."""
    fetched_at: Mapped[datetime]


class RawPage(Base):
    """The downloaded bytes of an article, zlib-compressed, so extraction can be re-run."""

    __tablename__ = "raw_pages"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    content_type: Mapped[str | None] = mapped_column(String(200))
    encoding: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    body_zlib: Mapped[bytes] = mapped_column(LargeBinary)
    fetched_at: Mapped[datetime]

    article: Mapped[Article] = relationship(back_populates="raw_page")


class KnownUrl(Base):
    """Every canonical URL Veille has fetched and need not fetch again, with the outcome."""

    __tablename__ = "known_urls"

    url: Mapped[str] = mapped_column(Text, primary_key=True)
    outcome: Mapped[str] = mapped_column(String(32))
    article_id: Mapped[int | None] = mapped_column(
        ForeignKey("articles.id", ondelete="SET NULL"), index=True
    )
    source_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)


class PollKind(StrEnum):
    FEED = "feed"
    SITEMAP = "sitemap"
    PAGE = "page"
    HOMEPAGE = "homepage"
    QUERY = "query"


class PollTarget(Base):
    """A feed, sitemap, list page or homepage that is polled: its validators and its pace.

    Configured targets come from the sources; discovered ones (feeds a homepage announces,
    sitemaps an index lists) name the page that announced them in ``discovered_from``.
    """

    __tablename__ = "poll_targets"
    __table_args__ = (UniqueConstraint("source_id", "url"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[str] = mapped_column(String(64), index=True)
    url: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    discovered_from: Mapped[str | None] = mapped_column(Text)
    gone_at: Mapped[datetime | None]
    """When a discovered target stopped being announced (None: live)."""
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    body_hash: Mapped[str | None] = mapped_column(String(64))
    first_polled_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_polled_at: Mapped[datetime | None]
    last_changed_at: Mapped[datetime | None]
    last_new_at: Mapped[datetime | None]
    """When a poll last found an article not seen before."""
    next_poll_at: Mapped[datetime | None] = mapped_column(index=True)
    interval_seconds: Mapped[float | None] = mapped_column(Float)
    last_outcome: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    failure_score: Mapped[float] = mapped_column(Float, default=0.0)
    polls: Mapped[int] = mapped_column(Integer, default=0)
    items_found: Mapped[int] = mapped_column(Integer, default=0)
    """Items in the last changed poll (entries, sitemap URLs, article links)."""
    items_new: Mapped[int] = mapped_column(Integer, default=0)


class ResolvedLink(Base):
    """A redirect token (a Google News article link) and the publisher's URL it stands for."""

    __tablename__ = "resolved_links"

    url: Mapped[str] = mapped_column(Text, primary_key=True)
    resolved_url: Mapped[str] = mapped_column(Text)
    resolved_at: Mapped[datetime] = mapped_column(default=utcnow)


class CrawlRun(Base):
    """One crawl: who asked, which sources, how it ended, and its counts."""

    __tablename__ = "crawl_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trigger: Mapped[str] = mapped_column(String(32))
    source_ids: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[datetime | None]
    pid: Mapped[int | None] = mapped_column(Integer)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    feeds_polled: Mapped[int] = mapped_column(Integer, default=0)
    feeds_failed: Mapped[int] = mapped_column(Integer, default=0)
    entries_seen: Mapped[int] = mapped_column(Integer, default=0)
    articles_new: Mapped[int] = mapped_column(Integer, default=0)
    articles_known: Mapped[int] = mapped_column(Integer, default=0)
    articles_failed: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """Failed articles and feeds counted by reason, e.g. ``{"not_html": 2}``."""
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class JobStatus(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"


class JobRun(Base):
    """One run of a scheduled job (a crawl, the digest, maintenance): the service's history."""

    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(String(100), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)
    scheduled_for: Mapped[datetime | None]
    """The fire time the scheduler meant this run for (catch-up runs say which one)."""
    started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[datetime | None]
    crawl_run_id: Mapped[int | None] = mapped_column(ForeignKey("crawl_runs.id"))
    pid: Mapped[int | None] = mapped_column(Integer)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)


class ServiceJob(Base):
    """A job of the running service with its next run time, so ``veille status`` can show it."""

    __tablename__ = "service_jobs"

    job_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(Text)
    next_run_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ServiceInstance(Base):
    """A ``veille serve`` process: when it started, its last heartbeat, when it stopped."""

    __tablename__ = "service_instances"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)
    stopped_at: Mapped[datetime | None]


class Digest(Base):
    """A produced digest, stored before any delivery so that it is never lost."""

    __tablename__ = "digests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    timezone: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    job_run_id: Mapped[int | None] = mapped_column(ForeignKey("job_runs.id"))
    days: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    """How many calendar days the digest covers, ending on ``day``."""
    trigger: Mapped[str] = mapped_column(
        String(32), default="scheduler", server_default="scheduler"
    )
    """Who produced it: ``scheduler`` (the daily job) or ``cli`` (``veille digest --send``)."""


class Seed(Base):
    """A document of the seed corpus: what the users already know."""

    __tablename__ = "seeds"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    path: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Relevant initiative ids, for listings (recomputed when the corpus is loaded)."""
    content_fingerprint: Mapped[str | None] = mapped_column(String(64))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SeedComparison(Base):
    """How an article compares with the seed corpus: status, nearest seeds, what is new."""

    __tablename__ = "seed_comparisons"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str | None] = mapped_column(String(16), index=True)
    """``known``, ``follow-up``, ``new``; None for an article about no followed initiative."""
    status_seed_id: Mapped[str | None] = mapped_column(String(200))
    status_reason: Mapped[str | None] = mapped_column(Text)
    nearest: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    new_facts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    novel_sentences: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    compared_at: Mapped[datetime] = mapped_column(default=utcnow)
    seed_count: Mapped[int] = mapped_column(Integer, default=0)
    """How many seeds the corpus had when the article was compared."""


class ReviewAction(StrEnum):
    """What a person decided about a story; each pair is one aspect, the latest decision wins."""

    RELEVANT = "relevant"
    IRRELEVANT = "irrelevant"
    TAG = "tag"
    UNTAG = "untag"


class ReviewDecision(Base):
    """One person's decision about a story: rows are only ever added, never changed.

    The log keeps who decided what and when, so a decision can be undone by a later one and
    the tagging feedback can be computed from what people actually corrected.
    """

    __tablename__ = "review_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    story_id: Mapped[int | None] = mapped_column(
        ForeignKey("stories.id", ondelete="SET NULL"), index=True
    )
    """None once the story is gone (merged into another): ``article_id`` then says which."""
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), index=True
    )
    """The story's representative when the decision was made; the decision follows it."""
    action: Mapped[str] = mapped_column(String(16))
    initiative: Mapped[str | None] = mapped_column(String(32), index=True)
    """The initiative tagged or untagged; None for relevant and irrelevant."""
    note: Mapped[str | None] = mapped_column(Text)
    reviewer: Mapped[str] = mapped_column(String(100))
    decided_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class DeliveryStatus(StrEnum):
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"


class DigestDelivery(Base):
    """One stored digest sent to one apprise target: outcome, attempts, last error."""

    __tablename__ = "digest_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest_id: Mapped[int] = mapped_column(ForeignKey("digests.id"), index=True)
    """The stored digest, in the format that was sent."""
    target: Mapped[str] = mapped_column(Text)
    """The apprise URL with its secrets masked."""
    status: Mapped[str] = mapped_column(String(16), index=True)
    """``sending``, then ``delivered`` or ``failed``."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
