"""Review decisions: people mark stories relevant or irrelevant and correct their tags.

Decisions form an append-only log (:class:`~storage.models.ReviewDecision`). A story has
aspects: its relevance, and each initiative tag. For each aspect the latest decision wins, so a
decision is undone by the opposite one (``relevant`` after ``irrelevant``, ``tag`` after
``untag``), and the log still says who changed their mind and when.

:func:`story_reviews` folds the log into one :class:`StoryReview` per story, for many stories
in a few queries: the digest and the exports call it. :func:`tagging_feedback` sums up what
people corrected, per initiative and per source, for whoever maintains the taxonomy.

A decision names the story's representative article as well as the story: stories can be
merged (a page that declared a canonical joins the canonical's story and its own is deleted),
and the decision then follows the article into the story that took it in. Functions take a
session and never commit.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, selectinload

from storage.models import Article, ReviewAction, ReviewDecision, Story, utcnow

_BATCH = 500
"""Story ids per query: SQLite accepts a limited number of bound parameters."""
REVIEWER_MAX_CHARS = 100
INITIATIVE_MAX_CHARS = 32
_TAG_ACTIONS = (ReviewAction.TAG, ReviewAction.UNTAG)


class UnknownStory(LookupError):
    """No stored story has this id."""


@dataclass(frozen=True, slots=True)
class StoryReview:
    """What people decided about one story, with the undone decisions folded away."""

    story_id: int
    relevant: bool | None
    """None when nobody decided on the story's relevance (or the tagger's verdict stands)."""
    tags_added: tuple[str, ...]
    """Initiatives people tagged the story with, sorted."""
    tags_removed: tuple[str, ...]
    """Initiatives people said the story is not about, sorted."""
    reviewer: str
    """Who made the latest decision."""
    reviewed_at: datetime
    note: str | None
    """The latest note among the decisions still in effect (an undone decision's note goes)."""
    decisions: int
    """How many decisions the log holds for the story, undone ones included."""

    def corrected_tags(self, tagged: Iterable[str]) -> tuple[str, ...]:
        """``tagged`` (the tagger's initiatives, in its order) without the removed ones, then
        the added ones it lacked."""
        kept = [initiative for initiative in tagged if initiative not in self.tags_removed]
        return (*kept, *(initiative for initiative in self.tags_added if initiative not in kept))


@dataclass(frozen=True, slots=True)
class TermCount:
    term: str
    """As written in the taxonomy."""
    kind: str
    """``name``, ``alias`` or ``keyword``."""
    stories: int
    """Stories with a rejected tag that this term helped to score."""


@dataclass(frozen=True, slots=True)
class MissedStory:
    story_id: int
    title: str | None
    best_score: float | None
    """The tagger's best score for the initiative on the story's articles (below its
    threshold), or None if it found none of the initiative's terms."""


@dataclass(frozen=True, slots=True)
class InitiativeFeedback:
    initiative: str
    removed: int
    """Stories the tagger gave this tag and people removed it from."""
    irrelevant: int
    """Stories the tagger gave this tag and people marked irrelevant (and did not untag)."""
    terms: tuple[TermCount, ...]
    """The terms that scored the rejected tags, most frequent first."""
    sources: tuple[tuple[str, int], ...]
    """Sources of the articles that carried a rejected tag, with how many, most first."""
    missed: tuple[MissedStory, ...]
    """Stories people tagged with this initiative that the tagger had not."""


@dataclass(frozen=True, slots=True)
class SourceFeedback:
    source_id: str
    reviewed: int
    """Articles of this source in reviewed stories."""
    irrelevant: int
    """Of those, articles in stories marked irrelevant."""
    removed: int
    """Articles whose relevant tag people removed."""


@dataclass(frozen=True, slots=True)
class TaggingFeedback:
    stories: int
    """Stories with at least one decision in effect."""
    marked_relevant: int
    marked_irrelevant: int
    relevant_untagged: tuple[MissedStory, ...]
    """Stories marked relevant that have no tag, neither the tagger's nor a person's."""
    initiatives: tuple[InitiativeFeedback, ...]
    """Most rejected first, then most missed."""
    sources: tuple[SourceFeedback, ...]
    """Most rejected articles first."""


def record_decision(
    session: Session,
    story_id: int,
    action: ReviewAction | str,
    *,
    reviewer: str,
    initiative: str | None = None,
    note: str | None = None,
    at: datetime | None = None,
) -> ReviewDecision:
    """Append one decision about a story (flushed, not committed).

    ``initiative`` goes with ``tag`` and ``untag`` only. Raises :class:`UnknownStory` for a
    story that does not exist and :class:`ValueError` for an ill-formed decision; checking the
    initiative against the taxonomy is the caller's job (storage does not read it).
    """
    action = ReviewAction(action)
    if (action in _TAG_ACTIONS) != (initiative is not None):
        raise ValueError(f"{action.value}: an initiative goes with tag and untag only")
    if initiative is not None and not 0 < len(initiative) <= INITIATIVE_MAX_CHARS:
        raise ValueError(f"initiative id {initiative!r}: 1 to {INITIATIVE_MAX_CHARS} characters")
    reviewer = reviewer.strip()
    if not 0 < len(reviewer) <= REVIEWER_MAX_CHARS:
        raise ValueError(f"reviewer {reviewer!r}: 1 to {REVIEWER_MAX_CHARS} characters")
    story = session.get(Story, story_id)
    article_id = story.representative_id if story else None
    if story is not None and article_id is None:
        article_id = session.scalar(
            select(func.min(Article.id)).where(Article.story_id == story_id)
        )
    if story is None or article_id is None:
        raise UnknownStory(f"no story {story_id}")
    decision = ReviewDecision(
        story_id=story_id,
        article_id=article_id,
        action=action.value,
        initiative=initiative,
        note=(note or "").strip() or None,
        reviewer=reviewer,
        decided_at=at or utcnow(),
    )
    session.add(decision)
    session.flush()
    return decision


def story_reviews(session: Session, story_ids: Iterable[int]) -> dict[int, StoryReview]:
    """The review of each of these stories that people reviewed; stories nobody reviewed
    are absent. A few queries whatever the number of stories."""
    wanted = sorted(set(story_ids))
    by_story: dict[int, list[ReviewDecision]] = defaultdict(list)
    for offset in range(0, len(wanted), _BATCH):
        chunk = wanted[offset : offset + _BATCH]
        condition = or_(
            ReviewDecision.story_id.in_(chunk),
            and_(ReviewDecision.story_id.is_(None), Article.story_id.in_(chunk)),
        )
        for decision, story_id in _decisions(session, condition):
            by_story[story_id].append(decision)
    return {story_id: _fold(story_id, log) for story_id, log in by_story.items()}


def _decisions(session: Session, condition: Any = None) -> Iterator[tuple[ReviewDecision, int]]:
    """Decisions oldest first, each with the story it applies to now."""
    current = func.coalesce(ReviewDecision.story_id, Article.story_id)
    query = (
        select(ReviewDecision, current)
        .join(Article, Article.id == ReviewDecision.article_id)
        .order_by(ReviewDecision.id)
    )
    if condition is not None:
        query = query.where(condition)
    for decision, story_id in session.execute(query):
        if story_id is not None:
            yield decision, story_id


def _in_effect(log: Sequence[ReviewDecision]) -> dict[str | None, ReviewDecision]:
    """The latest decision per aspect: None for relevance, else the initiative."""
    latest: dict[str | None, ReviewDecision] = {}
    for decision in log:  # oldest first: the later one replaces the earlier
        latest[decision.initiative if decision.action in _TAG_ACTIONS else None] = decision
    return latest


def _fold(story_id: int, log: Sequence[ReviewDecision]) -> StoryReview:
    latest = _in_effect(log)
    relevance = latest.get(None)
    tags = {key: decision.action for key, decision in latest.items() if key is not None}
    noted = [decision for decision in latest.values() if decision.note]
    return StoryReview(
        story_id=story_id,
        relevant=None if relevance is None else relevance.action == ReviewAction.RELEVANT,
        tags_added=tuple(sorted(i for i, action in tags.items() if action == ReviewAction.TAG)),
        tags_removed=tuple(sorted(i for i, action in tags.items() if action == ReviewAction.UNTAG)),
        reviewer=log[-1].reviewer,
        reviewed_at=log[-1].decided_at,
        note=max(noted, key=lambda decision: decision.id).note if noted else None,
        decisions=len(log),
    )


def tagging_feedback(session: Session, *, since: datetime | None = None) -> TaggingFeedback:
    """What people's decisions say about the tagger: the tags they rejected, with the terms
    and sources behind them, and the tags they added that the tagger missed.

    A tag is rejected when people removed it, or marked its story irrelevant. Only decisions
    still in effect count; with ``since``, only those made since then.
    """
    logs: dict[int, list[ReviewDecision]] = defaultdict(list)
    for decision, story_id in _decisions(session):
        logs[story_id].append(decision)
    verdicts: dict[int, dict[str | None, str]] = {}
    for story_id, log in logs.items():
        latest = {
            aspect: decision.action
            for aspect, decision in _in_effect(log).items()
            if since is None or decision.decided_at >= since
        }
        if latest:
            verdicts[story_id] = latest
    members = _members(session, sorted(verdicts))
    titles = _titles(session, sorted(verdicts))
    summary = _FeedbackCounter()
    for story_id, latest in verdicts.items():
        summary.add(story_id, titles.get(story_id), latest, members.get(story_id, []))
    return summary.result(len(verdicts))


def _members(session: Session, story_ids: Sequence[int]) -> dict[int, list[Article]]:
    found: dict[int, list[Article]] = defaultdict(list)
    for offset in range(0, len(story_ids), _BATCH):
        query = (
            select(Article)
            .where(Article.story_id.in_(story_ids[offset : offset + _BATCH]))
            .options(selectinload(Article.tags))
            .order_by(Article.id)
        )
        for article in session.scalars(query):
            found[article.story_id or 0].append(article)
    return found


def _titles(session: Session, story_ids: Sequence[int]) -> dict[int, str | None]:
    titles: dict[int, str | None] = {}
    for offset in range(0, len(story_ids), _BATCH):
        chunk = story_ids[offset : offset + _BATCH]
        rows = session.execute(select(Story.id, Story.title).where(Story.id.in_(chunk)))
        titles.update((story_id, title) for story_id, title in rows)
    return titles


def _scoring_terms(evidence: Iterable[dict[str, Any]]) -> set[tuple[str, str]]:
    """The terms that added to a tag's score (context and negative terms weigh nothing)."""
    return {
        (str(item.get("term")), str(item.get("kind") or "?"))
        for item in evidence
        if item.get("term") and item.get("weight", 1) > 0
    }


class _FeedbackCounter:
    """Accumulates the feedback story by story."""

    def __init__(self) -> None:
        self.rejected: dict[str, Counter[str]] = defaultdict(Counter)  # removed / irrelevant
        self.terms: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
        self.sources: dict[str, Counter[str]] = defaultdict(Counter)
        self.missed: dict[str, list[MissedStory]] = defaultdict(list)
        self.per_source: dict[str, Counter[str]] = defaultdict(Counter)
        self.relevance: Counter[bool] = Counter()
        self.relevant_untagged: list[MissedStory] = []

    def add(
        self,
        story_id: int,
        title: str | None,
        latest: dict[str | None, str],
        members: list[Article],
    ) -> None:
        relevance = latest.get(None)
        irrelevant = relevance == ReviewAction.IRRELEVANT
        if relevance is not None:
            self.relevance[not irrelevant] += 1
        tagged = {tag.initiative for member in members for tag in member.tags if tag.relevant}
        removed = {i for i, action in latest.items() if i and action == ReviewAction.UNTAG}
        added = {i for i, action in latest.items() if i and action == ReviewAction.TAG}
        for initiative in sorted(tagged if irrelevant else tagged & removed):
            self._reject(initiative, "removed" if initiative in removed else "irrelevant", members)
        for initiative in sorted(added - tagged):
            scores = [t.score for m in members for t in m.tags if t.initiative == initiative]
            self.missed[initiative].append(
                MissedStory(story_id, title, max(scores) if scores else None)
            )
        if relevance == ReviewAction.RELEVANT and not (tagged - removed) | added:
            self.relevant_untagged.append(MissedStory(story_id, title, None))
        for member in members:
            counts = self.per_source[member.source_id]
            counts["reviewed"] += 1
            counts["irrelevant"] += irrelevant
            counts["removed"] += any(t.relevant and t.initiative in removed for t in member.tags)

    def _reject(self, initiative: str, reason: str, members: list[Article]) -> None:
        self.rejected[initiative][reason] += 1
        terms: set[tuple[str, str]] = set()
        for member in members:
            for tag in member.tags:
                if tag.initiative == initiative and tag.relevant:
                    terms |= _scoring_terms(tag.evidence or [])
                    self.sources[initiative][member.source_id] += 1
        self.terms[initiative].update(terms)

    def result(self, stories: int) -> TaggingFeedback:
        initiatives = [
            InitiativeFeedback(
                initiative=initiative,
                removed=self.rejected[initiative]["removed"],
                irrelevant=self.rejected[initiative]["irrelevant"],
                terms=tuple(
                    TermCount(term, kind, count)
                    for (term, kind), count in sorted(
                        self.terms[initiative].items(), key=lambda item: (-item[1], item[0])
                    )
                ),
                sources=tuple(_most_common(self.sources[initiative])),
                missed=tuple(self.missed[initiative]),
            )
            for initiative in set(self.rejected) | set(self.missed)
        ]
        initiatives.sort(key=lambda i: (-(i.removed + i.irrelevant), -len(i.missed), i.initiative))
        sources = [
            SourceFeedback(source_id, c["reviewed"], c["irrelevant"], c["removed"])
            for source_id, c in self.per_source.items()
        ]
        sources.sort(key=lambda s: (-(s.irrelevant + s.removed), -s.reviewed, s.source_id))
        return TaggingFeedback(
            stories=stories,
            marked_relevant=self.relevance[True],
            marked_irrelevant=self.relevance[False],
            relevant_untagged=tuple(self.relevant_untagged),
            initiatives=tuple(initiatives),
            sources=tuple(sources),
        )


def _most_common(counter: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))
