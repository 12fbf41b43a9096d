"""The digest of a day (or a few) as plain data: initiatives, their stories, the sources.

:func:`build_daily_digest` reads the database in a few queries per 500 stories, never one per
story, and returns a :class:`DailyDigest` of frozen dataclasses; the renderers
(:mod:`scheduler.digest_render`) never touch the database. The sources' part is
:mod:`scheduler.digest_sources`. A day is a calendar day in the given time zone, as in
:mod:`scheduler.digest`. Every string read from a crawled page is cleaned here of lone
surrogates and control characters, so that no renderer fails on it; escaping is the
renderers' job.

The model converts to and from plain JSON-compatible dicts (:func:`digest_to_dict`,
:func:`digest_from_dict`), which is what the JSON format is.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass, replace
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row, Text, and_, case, cast, func, select
from sqlalchemy.orm import Session, aliased

from scheduler.digest import day_bounds
from scheduler.digest_sources import (
    FailingSource,
    RunLine,
    SilentSource,
    SourceWatch,
    report_sources,
)
from storage.models import Article, ArticleTag, Source, Story
from storage.reviews import StoryReview, story_reviews
from storage.seeds import story_comparisons
from storage.urls import host_of

LEAD_LENGTH = 300
TREND_DAYS = 7
_IN_CHUNK = 500
"""Ids per ``IN (...)`` list: well under SQLite's and PostgreSQL's limits on parameters."""
_STATUS_RANK = {"follow-up": 0, "new": 1, None: 2, "known": 3}
_ZONE_RANK = {"title": 0, "lead": 1, "body": 2}
_ORIGIN = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")
_UNSAFE_CHARS = re.compile(r"[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(value: str) -> str:
    """``value`` with lone surrogates and control characters replaced by U+FFFD."""
    return _UNSAFE_CHARS.sub("\ufffd", value)


@dataclass(frozen=True, slots=True)
class MemberLink:
    """One article of a story: a site that carried it."""

    source_id: str
    source_name: str
    site: str
    title: str
    url: str
    language: str | None


@dataclass(frozen=True, slots=True)
class TagLine:
    """An initiative tag of a story with its best piece of evidence."""

    initiative: str
    score: float
    evidence: str | None
    zone: str | None


@dataclass(frozen=True, slots=True)
class DigestStory:
    story_id: int | None
    """None for an article stored before stories existed: it is its own story."""
    title: str
    url: str
    published: date
    site_count: int
    languages: tuple[str, ...]
    members: tuple[MemberLink, ...]
    tags: tuple[TagLine, ...]
    status: str | None
    """``new``, ``follow-up``, ``known``, or None when not compared with the seed corpus."""
    nearest_seed: str | None
    new_facts: tuple[str, ...]
    lead: str

    def tag_for(self, initiative: str | None) -> TagLine | None:
        return next((tag for tag in self.tags if tag.initiative == initiative), None)


@dataclass(frozen=True, slots=True)
class DayCount:
    day: date
    count: int


@dataclass(frozen=True, slots=True)
class InitiativeSection:
    initiative: str | None
    """None for the stories about no followed initiative (only with ``include_irrelevant``)."""
    label: str
    stories: tuple[DigestStory, ...]
    """Follow-ups first, then new stories, then those not compared; known ones are apart."""
    known: tuple[DigestStory, ...]
    articles: int
    new: int
    follow_up: int
    trend: tuple[DayCount, ...]
    """Relevant articles stored per day, for the days ending with the digest's day."""


@dataclass(frozen=True, slots=True)
class DailyDigest:
    day: date
    timezone: str
    article_count: int
    story_count: int
    sections: tuple[InitiativeSection, ...]
    failing_sources: tuple[FailingSource, ...]
    extraction_failures: tuple[tuple[str, int], ...]
    """Articles that could not be extracted, by reason (``empty_extraction``, ...)."""
    runs: tuple[RunLine, ...]
    days: int = 1
    """How many calendar days the digest covers, ending on ``day``."""
    silent_sources: tuple[SilentSource, ...] = ()
    """Judged only when the caller says which sources to watch."""

    @property
    def first_day(self) -> date:
        return self.day - timedelta(days=self.days - 1)


def build_daily_digest(
    session: Session,
    day: date,
    timezone: str,
    *,
    include_irrelevant: bool = False,
    labels: Mapping[str, str] | None = None,
    days: int = 1,
    watch: SourceWatch | None = None,
    now: datetime | None = None,
) -> DailyDigest:
    """The digest of the articles stored in the ``days`` calendar days ending on ``day``.

    Days are local to ``timezone``. ``labels`` names the initiatives (the taxonomy's
    labels); ids are shown otherwise. The 7-day trend ends on ``day`` whatever ``days``.
    With ``watch``, the sources silent at the end of ``day`` (or at ``now``, if earlier:
    a digest of today) are listed. Each kind of per-story data (members, tags, seed
    comparisons, leads) is read in one query per 500 stories, never one per story.
    """
    if days < 1:
        raise ValueError(f"a digest covers at least one day, not {days}")
    start = day_bounds(day - timedelta(days=days - 1), timezone)[0]
    end = day_bounds(day, timezone)[1]
    zone = ZoneInfo(timezone)
    by_story, groups, loose, reviews = _stored_stories(session, start, end, include_irrelevant)
    story_ids = [key_id for kind, key_id in by_story if kind == "story"]
    tags = _relevant_tags(session, story_ids, loose)
    stories = _stories(session, story_ids)
    comparisons = story_comparisons(session, story_ids)
    representatives = {
        key: _representative(stories.get(key[1]) if key[0] == "story" else None, group)
        for key, group in groups.items()
    }
    shown = _published_and_lead(session, [a.id for a in representatives.values()], zone)
    names = {
        source_id: clean_text(name or source_id)
        for source_id, name in session.execute(select(Source.id, Source.name))
    }
    sites: dict[str, str] = {}

    section_stories: dict[str | None, list[DigestStory]] = defaultdict(list)
    section_articles: Counter[str | None] = Counter()
    for key, today in sorted(by_story.items()):
        story_row = stories.get(key[1]) if key[0] == "story" else None
        representative = representatives[key]
        story = _digest_story(
            story_row, representative, groups[key], tags, names, sites, shown[representative.id],
            comparisons.get(key[1]) if story_row else None,
        )  # fmt: skip
        initiatives = {t.initiative for article_id in today for t in tags.get(article_id, ())}
        if (review := reviews.get(key[1]) if key[0] == "story" else None) is not None:
            initiatives = set(review.corrected_tags(sorted(initiatives)))
            story = replace(story, tags=_reviewed_tags(story.tags, review))
        for initiative in sorted(initiatives) or [None]:
            section_stories[initiative].append(story)
        for article_id in today:
            tagged = {t.initiative for t in tags.get(article_id, ())}
            for initiative in tagged or {None}:
                section_articles[initiative] += 1

    trends = _trends(session, day, zone, list(section_stories))
    sections = [
        _section(initiative, (labels or {}).get(initiative or "", ""), found,
                 section_articles[initiative], trends.get(initiative, ()))
        for initiative, found in section_stories.items()
    ]  # fmt: skip
    sections.sort(
        key=lambda s: (s.initiative is None, -(s.new + s.follow_up),
                       -(len(s.stories) + len(s.known)), s.initiative or "")
    )  # fmt: skip
    sources = report_sources(
        session, start, end, lambda source_id: names.get(source_id) or clean_text(source_id),
        watch=watch, as_of=min(end, now or datetime.now(UTC)),
    )  # fmt: skip
    return DailyDigest(
        day=day,
        timezone=timezone,
        article_count=sum(len(ids) for ids in by_story.values()),
        story_count=len(by_story),
        sections=tuple(sections),
        failing_sources=sources.failing_sources,
        extraction_failures=sources.extraction_failures,
        runs=sources.runs,
        days=days,
        silent_sources=sources.silent_sources,
    )


_MEMBER_COLUMNS = (
    Article.id, Article.story_id, Article.source_id, Article.canonical_url, Article.title,
    Article.language,
)  # fmt: skip
"""What the digest shows of every member: plain rows, not ORM objects, for speed."""


def _chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    """Sorted ids in lists short enough for ``IN (...)`` on SQLite and PostgreSQL."""
    ordered = sorted(set(ids))
    for offset in range(0, len(ordered), _IN_CHUNK):
        yield ordered[offset : offset + _IN_CHUNK]


_Key = tuple[str, int]
"""A story of the digest: ``("story", story id)``, or ``("article", id)`` for an article
stored without a story."""


def _stored_stories(
    session: Session, start: datetime, end: datetime, include_irrelevant: bool
) -> tuple[dict[_Key, list[int]], dict[_Key, list[Row[Any]]], list[int], dict[int, StoryReview]]:
    """The stories of the articles stored in ``[start, end)``: their ids of those articles,
    their members (whenever stored), the ids of the articles that stand alone, and what
    people decided about the stories (``veille review``)."""
    by_story: dict[_Key, list[int]] = defaultdict(list)
    stored, reviews = _articles_stored(session, start, end, include_irrelevant)
    for article_id, story_id in stored:
        by_story[("story", story_id) if story_id else ("article", article_id)].append(article_id)
    members = _members_of(session, [key_id for kind, key_id in by_story if kind == "story"])
    groups: dict[_Key, list[Row[Any]]] = {("story", i): group for i, group in members.items()}
    # An article without a story is its own; so is one whose story went away since (a crawl
    # running meanwhile can merge stories).
    alone = {
        article_id: key for key, ids in by_story.items() if key not in groups for article_id in ids
    }
    loose = _articles_by_id(session, alone)
    for article in loose:
        groups.setdefault(alone[article.id], []).append(article)
    by_story = {key: ids for key, ids in by_story.items() if key in groups}
    return by_story, groups, [article.id for article in loose], reviews


def _articles_stored(
    session: Session, start: datetime, end: datetime, include_irrelevant: bool
) -> tuple[list[tuple[int, int | None]], dict[int, StoryReview]]:
    """(id, story id) of the articles stored in ``[start, end)``, and their stories' reviews.

    A person's decision on a story's relevance overrides the tagger's. Relevance is checked
    here, not in SQL: given both, SQLite may walk the index on ``relevant`` (most of the
    table) rather than the one on ``fetched_at`` (one day's rows).
    """
    query = select(Article.id, Article.story_id, Article.relevant).where(
        Article.fetched_at >= start, Article.fetched_at < end
    )
    rows = session.execute(query.order_by(Article.id)).all()
    reviews = story_reviews(session, {story_id for _id, story_id, _r in rows if story_id})

    def shown(relevant: bool | None, story_id: int | None) -> bool:
        review = reviews.get(story_id) if story_id else None
        if review is not None and review.relevant is not None:
            return include_irrelevant or review.relevant
        return include_irrelevant or relevant is True

    kept = [(article_id, story_id) for article_id, story_id, relevant in rows
            if shown(relevant, story_id)]  # fmt: skip
    return kept, reviews


def _reviewed_tags(lines: tuple[TagLine, ...], review: StoryReview) -> tuple[TagLine, ...]:
    """The story's tag lines as people corrected them: removed ones gone, added ones shown."""
    kept = [line for line in lines if line.initiative not in review.tags_removed]
    present = {line.initiative for line in kept}
    added = [
        TagLine(initiative, 1.0, f"tagged by {clean_text(review.reviewer)} in review", "review")
        for initiative in review.tags_added
        if initiative not in present
    ]
    return (*kept, *added)


def _members_of(session: Session, story_ids: Iterable[int]) -> dict[int, list[Row[Any]]]:
    """Every member of these stories, whenever stored, earliest published first."""
    members: dict[int, list[Row[Any]]] = defaultdict(list)
    for chunk in _chunks(story_ids):
        query = (
            select(*_MEMBER_COLUMNS)
            .where(Article.story_id.in_(chunk))
            .order_by(Article.story_id, Article.published, Article.id)
        )
        for article in session.execute(query):
            members[article.story_id].append(article)
    return members


def _articles_by_id(session: Session, article_ids: Iterable[int]) -> list[Row[Any]]:
    found: list[Row[Any]] = []
    for chunk in _chunks(article_ids):
        found += session.execute(select(*_MEMBER_COLUMNS).where(Article.id.in_(chunk)))
    return found


def _relevant_tags(
    session: Session, story_ids: Iterable[int], article_ids: Iterable[int]
) -> dict[int, list[Row[Any]]]:
    """The relevant tags of the stories' members and of the articles, best score first; the
    evidence as JSON text, decoded only for the few tags shown."""
    columns = (ArticleTag.article_id, ArticleTag.initiative, ArticleTag.score,
               cast(ArticleTag.evidence, Text).label("evidence"))  # fmt: skip
    order = (ArticleTag.article_id, ArticleTag.score.desc(), ArticleTag.initiative)
    queries = [
        select(*columns)
        .join(Article, Article.id == ArticleTag.article_id)
        .where(Article.story_id.in_(chunk), ArticleTag.relevant.is_(True))
        .order_by(*order)
        for chunk in _chunks(story_ids)
    ] + [
        select(*columns)
        .where(ArticleTag.article_id.in_(chunk), ArticleTag.relevant.is_(True))
        .order_by(*order)
        for chunk in _chunks(article_ids)
    ]
    tags: dict[int, list[Row[Any]]] = defaultdict(list)
    for query in queries:
        for tag in session.execute(query):
            tags[tag.article_id].append(tag)
    return tags


def _stories(session: Session, story_ids: Iterable[int]) -> dict[int, Row[Any]]:
    stories: dict[int, Row[Any]] = {}
    for chunk in _chunks(story_ids):
        query = select(Story.id, Story.representative_id, Story.site_count, Story.languages)
        for story in session.execute(query.where(Story.id.in_(chunk))):
            stories[story.id] = story
    return stories


def _representative(story: Row[Any] | None, group: Sequence[Row[Any]]) -> Row[Any]:
    """The story's chosen member if it is there, else its earliest published (the first)."""
    chosen = story.representative_id if story else None
    return next((article for article in group if article.id == chosen), group[0])


def _published_and_lead(
    session: Session, article_ids: Iterable[int], zone: ZoneInfo
) -> dict[int, tuple[date, str]]:
    """The local publication day and the lead of each article; the lead of an exact copy
    (stored without a text) is its original's."""
    original = aliased(Article)
    shown: dict[int, tuple[date, str]] = {}
    for chunk in _chunks(article_ids):
        query = (
            select(Article.id, Article.published, Article.text, original.text)
            .outerjoin(original, original.id == Article.duplicate_of)
            .where(Article.id.in_(chunk))
        )
        for article_id, published, text, original_text in session.execute(query):
            lead = lead_of(text if text is not None else original_text or "")
            shown[article_id] = (published.astimezone(zone).date(), lead)
    return shown


def _digest_story(
    story: Row[Any] | None,
    representative: Row[Any],
    group: Sequence[Row[Any]],
    tags: Mapping[int, Sequence[Row[Any]]],
    names: Mapping[str, str],
    sites: dict[str, str],
    shown: tuple[date, str],
    comparison: Mapping[str, Any] | None,
) -> DigestStory:
    comparison = comparison or {"status": None, "nearest_seed": None, "new_facts": []}
    links = tuple(
        MemberLink(
            source_id=a.source_id,
            source_name=names.get(a.source_id) or clean_text(a.source_id),
            site=_site_of(a.canonical_url, sites),
            title=clean_text(a.title or ""),
            url=a.canonical_url,
            language=a.language,
        )
        for a in group
    )
    return DigestStory(
        story_id=story.id if story else None,
        title=clean_text(representative.title or ""),
        url=representative.canonical_url,
        published=shown[0],
        site_count=story.site_count if story else 1,
        languages=tuple(story.languages) if story else tuple(filter(None, [
            representative.language])),
        members=links,
        tags=_tag_lines(representative, group, tags),
        status=comparison["status"],
        nearest_seed=comparison["nearest_seed"],
        new_facts=tuple(clean_text(str(fact["phrase"])) for fact in comparison["new_facts"]),
        lead=shown[1],
    )  # fmt: skip


def _site_of(url: str, sites: dict[str, str]) -> str:
    """:func:`host_of`, worked out once per origin: a day's thousands of URLs share a few."""
    origin = _ORIGIN.match(url)
    if origin is None:
        return host_of(url)
    if origin[0] not in sites:
        sites[origin[0]] = host_of(origin[0])
    return sites[origin[0]]


def _tag_lines(
    representative: Row[Any], group: Iterable[Row[Any]], tags: Mapping[int, Sequence[Row[Any]]]
) -> tuple[TagLine, ...]:
    """The story's relevant tags, each with the representative's best evidence for it."""
    best: dict[str, Row[Any]] = {}
    for article in [representative, *group]:  # the representative's own tags win
        for tag in tags.get(article.id, ()):
            best.setdefault(tag.initiative, tag)
    lines = []
    for initiative, tag in best.items():
        found = json.loads(tag.evidence or "null") or []
        evidence = sorted(found, key=lambda e: _ZONE_RANK.get(str(e.get("zone")), 3))
        phrase = clean_text(str(evidence[0].get("phrase", ""))) if evidence else None
        zone = str(evidence[0].get("zone")) if evidence else None
        lines.append(TagLine(initiative, round(tag.score, 2), phrase, zone))
    lines.sort(key=lambda line: (-line.score, line.initiative))
    return tuple(lines)


def lead_of(text: str, length: int = LEAD_LENGTH) -> str:
    """The first ``length`` characters of ``text``, cut at a word, with an ellipsis if cut."""
    # A prefix with its spaces collapsed is a prefix of the whole text so treated: for a long
    # text, its start is enough unless that start is mostly spaces.
    head = text[: 2 * length + 1]
    collapsed = " ".join(clean_text(head).split())
    if len(collapsed) <= length and len(head) < len(text):
        collapsed = " ".join(clean_text(text).split())
    text = collapsed
    if len(text) <= length:
        return text
    cut = text[:length]
    space = cut.rfind(" ")
    if space > length // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-–—") + "…"


def _trends(
    session: Session, day: date, zone: ZoneInfo, initiatives: Sequence[str | None]
) -> dict[str | None, tuple[DayCount, ...]]:
    """Relevant articles per initiative and local day, counted by the database."""
    days = [day - timedelta(days=n) for n in range(TREND_DAYS - 1, -1, -1)]
    bounds = [day_bounds(d, zone.key) for d in days]
    wanted = [i for i in initiatives if i is not None]
    per_day = [
        func.sum(case((and_(Article.fetched_at >= start, Article.fetched_at < end), 1), else_=0))
        for start, end in bounds
    ]
    # All initiatives are counted, and the wanted ones kept here: asked for by initiative,
    # SQLite would walk every tag of them ever stored rather than a week of articles.
    rows = session.execute(
        select(ArticleTag.initiative, *per_day)
        .join(Article, Article.id == ArticleTag.article_id)
        .where(
            ArticleTag.relevant.is_(True),
            Article.fetched_at >= bounds[0][0],
            Article.fetched_at < bounds[-1][1],
        )
        .group_by(ArticleTag.initiative)
    )
    counts = {initiative: counts for initiative, *counts in rows}
    return {
        i: tuple(DayCount(d, int(n or 0)) for d, n in zip(days, counts.get(i, [0] * len(days)),
                                                          strict=True))
        for i in wanted
    }  # fmt: skip


def _section(
    initiative: str | None,
    label: str,
    stories: list[DigestStory],
    articles: int,
    trend: tuple[DayCount, ...],
) -> InitiativeSection:
    def order(story: DigestStory) -> tuple[Any, ...]:
        tag = story.tag_for(initiative)
        score = tag.score if tag else 0.0
        rank = _STATUS_RANK.get(story.status, 2)
        return (rank, -story.site_count, -score, -story.published.toordinal(), story.title)

    stories = sorted(stories, key=order)
    return InitiativeSection(
        initiative=initiative,
        label=label or initiative or "Not about a followed initiative",
        stories=tuple(s for s in stories if s.status != "known"),
        known=tuple(s for s in stories if s.status == "known"),
        articles=articles,
        new=sum(s.status == "new" for s in stories),
        follow_up=sum(s.status == "follow-up" for s in stories),
        trend=trend,
    )


def digest_to_dict(digest: DailyDigest) -> dict[str, Any]:
    """Plain JSON-compatible data: dates and datetimes as ISO 8601 strings."""
    return _jsonable(digest)


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(field.name for field in fields(cls))


def _jsonable(value: Any) -> Any:
    """Like :func:`dataclasses.asdict`, without its deep copies (a big day has 10,000 links)."""
    if is_dataclass(value):
        return {name: _jsonable(getattr(value, name)) for name in _field_names(type(value))}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, date):  # datetime is a date too
        return value.isoformat()
    return value


def digest_from_dict(data: Mapping[str, Any]) -> DailyDigest:
    """The inverse of :func:`digest_to_dict`."""

    def story(d: Mapping[str, Any]) -> DigestStory:
        return DigestStory(
            **{**d, "published": date.fromisoformat(d["published"]),
               "languages": tuple(d["languages"]), "new_facts": tuple(d["new_facts"]),
               "members": tuple(MemberLink(**m) for m in d["members"]),
               "tags": tuple(TagLine(**t) for t in d["tags"])}
        )  # fmt: skip

    def section(d: Mapping[str, Any]) -> InitiativeSection:
        return InitiativeSection(
            **{**d, "stories": tuple(story(s) for s in d["stories"]),
               "known": tuple(story(s) for s in d["known"]),
               "trend": tuple(DayCount(date.fromisoformat(t["day"]), t["count"])
                              for t in d["trend"])}
        )  # fmt: skip

    return DailyDigest(
        day=date.fromisoformat(data["day"]),
        timezone=data["timezone"],
        article_count=data["article_count"],
        story_count=data["story_count"],
        sections=tuple(section(s) for s in data["sections"]),
        failing_sources=tuple(FailingSource(**f) for f in data["failing_sources"]),
        extraction_failures=tuple((reason, count) for reason, count in
                                  data["extraction_failures"]),
        runs=tuple(
            RunLine(**{**r, "started_at": datetime.fromisoformat(r["started_at"])})
            for r in data["runs"]
        ),
        days=data.get("days", 1),
        silent_sources=tuple(
            SilentSource(**{**s, "since": datetime.fromisoformat(s["since"]),
                            "last_article": s["last_article"]
                            and datetime.fromisoformat(s["last_article"])})
            for s in data.get("silent_sources", ())
        ),
    )  # fmt: skip
