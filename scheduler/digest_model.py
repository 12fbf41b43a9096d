"""One day's digest as plain data: initiatives, their stories, and the state of the sources.

:func:`build_daily_digest` reads the database once and returns a :class:`DailyDigest` of
frozen dataclasses; the renderers (:mod:`scheduler.digest_render`) never touch the database.
A day is a calendar day in the given time zone, as in :mod:`scheduler.digest`. Every string
read from a crawled page is cleaned here of lone surrogates and control characters, so that
no renderer fails on it; escaping is the renderers' job.

The model converts to and from plain JSON-compatible dicts (:func:`digest_to_dict`,
:func:`digest_from_dict`), which is what the JSON format is.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from scheduler.digest import day_bounds
from storage.models import Article, ArticleTag, CrawlRun, RunStatus, Source, Story
from storage.seeds import story_comparison
from storage.urls import host_of

LEAD_LENGTH = 300
TREND_DAYS = 7
_STATUS_RANK = {"follow-up": 0, "new": 1, None: 2, "known": 3}
_ZONE_RANK = {"title": 0, "lead": 1, "body": 2}
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
class FailingSource:
    source_id: str
    name: str
    runs: int
    reason: str


@dataclass(frozen=True, slots=True)
class RunLine:
    run_id: int
    status: str
    trigger: str
    started_at: datetime
    feeds_polled: int
    feeds_failed: int
    articles_new: int
    articles_known: int
    articles_failed: int


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


def build_daily_digest(
    session: Session,
    day: date,
    timezone: str,
    *,
    include_irrelevant: bool = False,
    labels: Mapping[str, str] | None = None,
) -> DailyDigest:
    """The digest of the articles stored on ``day`` (local to ``timezone``).

    ``labels`` names the initiatives (the taxonomy's labels); ids are shown otherwise.
    """
    start, end = day_bounds(day, timezone)
    zone = ZoneInfo(timezone)
    query = select(Article).where(Article.fetched_at >= start, Article.fetched_at < end)
    if not include_irrelevant:
        query = query.where(Article.relevant.is_(True))
    articles = list(session.scalars(query.options(selectinload(Article.tags))))
    names = {row[0]: row[1] for row in session.execute(select(Source.id, Source.name))}

    by_story: dict[tuple[str, int], list[Article]] = defaultdict(list)
    for article in articles:
        key = ("story", article.story_id) if article.story_id else ("article", article.id)
        by_story[key].append(article)
    story_ids = [key[1] for key in by_story if key[0] == "story"]
    members = _members_of(session, story_ids)
    stories_by_id = {s.id: s for s in _chunked_get(session, Story, Story.id, story_ids)}

    section_stories: dict[str | None, list[DigestStory]] = defaultdict(list)
    section_articles: Counter[str | None] = Counter()
    for (kind, key_id), today in sorted(by_story.items()):
        group = members.get(key_id, today) if kind == "story" else today
        story = _digest_story(
            session, stories_by_id.get(key_id) if kind == "story" else None, group, names, zone
        )
        initiatives = {t.initiative for a in today for t in a.tags if t.relevant}
        for initiative in sorted(initiatives) or [None]:
            section_stories[initiative].append(story)
        for article in today:
            tagged = {t.initiative for t in article.tags if t.relevant}
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
    runs = list(
        session.scalars(
            select(CrawlRun)
            .where(CrawlRun.started_at >= start, CrawlRun.started_at < end)
            .order_by(CrawlRun.started_at, CrawlRun.id)
        )
    )
    return DailyDigest(
        day=day,
        timezone=timezone,
        article_count=len(articles),
        story_count=len(by_story),
        sections=tuple(sections),
        failing_sources=_failing_sources(runs, names),
        extraction_failures=_extraction_failures(runs),
        runs=tuple(_run_line(run) for run in runs),
    )


def _chunked_get(session: Session, model: Any, column: Any, ids: Sequence[int]) -> list[Any]:
    found: list[Any] = []
    for offset in range(0, len(ids), 500):
        found += session.scalars(select(model).where(column.in_(ids[offset : offset + 500])))
    return found


def _members_of(session: Session, story_ids: Sequence[int]) -> dict[int, list[Article]]:
    """Every member of these stories, whenever stored, with its tags."""
    members: dict[int, list[Article]] = defaultdict(list)
    for offset in range(0, len(story_ids), 500):
        chunk = story_ids[offset : offset + 500]
        query = (
            select(Article)
            .where(Article.story_id.in_(chunk))
            .options(selectinload(Article.tags))
            .order_by(Article.id)
        )
        for article in session.scalars(query):
            members[article.story_id or 0].append(article)
    return members


def _digest_story(
    session: Session,
    story: Story | None,
    group: list[Article],
    names: Mapping[str, str | None],
    zone: ZoneInfo,
) -> DigestStory:
    by_id = {a.id: a for a in group}
    representative = by_id.get(story.representative_id or 0) if story else None
    if representative is None:
        representative = min(group, key=lambda a: (a.published, a.id))
    text = representative.text
    if text is None and representative.duplicate_of is not None:
        original = by_id.get(representative.duplicate_of) or session.get(
            Article, representative.duplicate_of
        )
        text = original.text if original else None
    comparison = (
        story_comparison(session, story.id) if story else {"status": None, "nearest_seed": None,
                                                           "new_facts": []}
    )  # fmt: skip
    links = tuple(
        MemberLink(
            source_id=a.source_id,
            source_name=clean_text(names.get(a.source_id) or a.source_id),
            site=host_of(a.canonical_url),
            title=clean_text(a.title or ""),
            url=a.canonical_url,
            language=a.language,
        )
        for a in sorted(group, key=lambda a: (a.published, a.id))
    )
    return DigestStory(
        story_id=story.id if story else None,
        title=clean_text(representative.title or ""),
        url=representative.canonical_url,
        published=representative.published.astimezone(zone).date(),
        site_count=story.site_count if story else 1,
        languages=tuple(story.languages) if story else tuple(filter(None, [
            representative.language])),
        members=links,
        tags=_tag_lines(representative, group),
        status=comparison["status"],
        nearest_seed=comparison["nearest_seed"],
        new_facts=tuple(clean_text(str(fact["phrase"])) for fact in comparison["new_facts"]),
        lead=lead_of(text or ""),
    )  # fmt: skip


def _tag_lines(representative: Article, group: Iterable[Article]) -> tuple[TagLine, ...]:
    """The story's relevant tags, each with the representative's best evidence for it."""
    best: dict[str, ArticleTag] = {}
    for article in [representative, *group]:  # the representative's own tags win
        for tag in article.tags:
            if tag.relevant and tag.initiative not in best:
                best[tag.initiative] = tag
    lines = []
    for initiative, tag in best.items():
        evidence = sorted(tag.evidence or [], key=lambda e: _ZONE_RANK.get(str(e.get("zone")), 3))
        phrase = clean_text(str(evidence[0].get("phrase", ""))) if evidence else None
        zone = str(evidence[0].get("zone")) if evidence else None
        lines.append(TagLine(initiative, round(tag.score, 2), phrase, zone))
    lines.sort(key=lambda line: (-line.score, line.initiative))
    return tuple(lines)


def lead_of(text: str, length: int = LEAD_LENGTH) -> str:
    """The first ``length`` characters of ``text``, cut at a word, with an ellipsis if cut."""
    text = " ".join(clean_text(text).split())
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
    days = [day - timedelta(days=n) for n in range(TREND_DAYS - 1, -1, -1)]
    start = day_bounds(days[0], zone.key)[0]
    end = day_bounds(day, zone.key)[1]
    wanted = [i for i in initiatives if i is not None]
    rows = session.execute(
        select(ArticleTag.initiative, Article.fetched_at)
        .join(Article, Article.id == ArticleTag.article_id)
        .where(
            ArticleTag.relevant.is_(True),
            ArticleTag.initiative.in_(wanted),
            Article.fetched_at >= start,
            Article.fetched_at < end,
        )
    )
    counts: Counter[tuple[str, date]] = Counter(
        (initiative, fetched.astimezone(zone).date()) for initiative, fetched in rows
    )
    return {i: tuple(DayCount(d, counts[(i, d)]) for d in days) for i in wanted}


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


def _run_sources(run: CrawlRun) -> set[str]:
    return set(run.source_ids or []) | set((run.stats or {}).get("per_source") or {})


def _all_feeds_failed(run: CrawlRun, source_id: str) -> bool:
    if run.status in (RunStatus.FAILED.value, RunStatus.TIMED_OUT.value):
        return True
    per_source = (run.stats or {}).get("per_source")
    if per_source is None:  # recorded before per-source counts existed: unknown
        return False
    counts = per_source.get(source_id) or {}
    return counts.get("feeds_polled", 0) == 0 and counts.get("feeds_failed", 0) > 0


def _failing_sources(
    runs: Sequence[CrawlRun], names: Mapping[str, str | None]
) -> tuple[FailingSource, ...]:
    """Sources whose every feed failed in each of the day's runs that covered them."""
    ended = [run for run in runs if run.status != RunStatus.RUNNING.value]
    failing = []
    for source_id in sorted(set().union(*(_run_sources(run) for run in ended))):
        covering = [run for run in ended if source_id in _run_sources(run)]
        if covering and all(_all_feeds_failed(run, source_id) for run in covering):
            reasons = Counter(
                key.removeprefix("feeds/failed/")
                for run in covering
                for key in ((run.stats or {}).get("per_source", {}).get(source_id, {})
                            .get("failures", {}))
                if key.startswith("feeds/failed/")
            )  # fmt: skip
            reason = ", ".join(sorted(reasons)) or "every feed failed"
            name = clean_text(names.get(source_id) or source_id)
            failing.append(FailingSource(source_id, name, len(covering), reason))
    return tuple(failing)


def _extraction_failures(runs: Sequence[CrawlRun]) -> tuple[tuple[str, int], ...]:
    totals: Counter[str] = Counter()
    for run in runs:
        for key, value in (run.failures or {}).items():
            if key.startswith("articles/failed/") and isinstance(value, int):
                totals[key.removeprefix("articles/failed/")] += value
    return tuple(sorted(totals.items()))


def _run_line(run: CrawlRun) -> RunLine:
    return RunLine(
        run_id=run.id, status=run.status, trigger=run.trigger, started_at=run.started_at,
        feeds_polled=run.feeds_polled, feeds_failed=run.feeds_failed,
        articles_new=run.articles_new, articles_known=run.articles_known,
        articles_failed=run.articles_failed,
    )  # fmt: skip


def digest_to_dict(digest: DailyDigest) -> dict[str, Any]:
    """Plain JSON-compatible data: dates and datetimes as ISO 8601 strings."""
    return _jsonable(asdict(digest))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
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
    )  # fmt: skip
