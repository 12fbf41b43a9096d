"""Tagging articles with the initiatives they are about, with the evidence for each tag.

:func:`tag_article` is a pure function of an article's title and text and a
:class:`~pipelines.taxonomy.Taxonomy`. It normalises both (:mod:`pipelines.text_normalization`),
finds the taxonomy's terms (:class:`~pipelines.taxonomy.TermMatcher`), and scores each
initiative. Every piece of evidence quotes the phrase as it stands in the original title or
text, with its offsets there.

Zones. The *title*; the *lead*, which is the text's first paragraph (the text up to its first
line break), extended over the following paragraphs until it has at least
:data:`LEAD_MIN_CHARS` characters (a photo caption or a dateline alone is no lead), and cut to
about :data:`LEAD_CUT_CHARS` characters (at the next space) if that makes it longer than
:data:`LEAD_MAX_CHARS`; and the *body*, the rest of the text. Offsets of title evidence index the
title; offsets of lead and body evidence index the text (the lead is its beginning). Evidence
lists every mention of names, keywords and negative terms, and the first of each context term.

Scoring, per initiative (the weights are in the taxonomy's ``[scoring]`` table):

1. Each mention of a name or alias is worth ``name_weight`` (1.0), each mention of a keyword
   ``keyword_weight`` (0.5), times the weight of its zone: title 3, lead 2, body 1.
2. A keyword counts only if the article (title or text) also has one of the initiative's
   context terms, or one of its names; and no keyword counts if the article has any of the
   initiative's negative terms. Names count on their own, except where the initiative sets
   ``ambiguous_names`` (names that also describe other things: "AI capacity-building
   workshop" for a domestic cadre course, WAIC for its robot expo): they then count like
   keywords, only with a context term and without negative terms, but at the weight of names.
3. A negative term also hides any term it overlaps, as matching prefers the longest term at a
   position: "Group of Friends on AI for Sustainable Development" is a negative, not the
   keyword "Group of Friends" followed by other words.
4. Repeating a term adds less each time: its mentions, the best-placed first, count
   1, ``repeat_decay`` (0.5), 0.25 … of their value. Different terms add up fully.
5. The tag is relevant if its score reaches the initiative's threshold (1.0 by default): one
   name anywhere suffices, a keyword with context needs the title, the lead, or a second
   keyword. An article is relevant if one of its tags is.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Self

from scrapy.crawler import Crawler

from pipelines.taxonomy import (
    STRONG_KINDS,
    Initiative,
    Scoring,
    Taxonomy,
    TermKind,
    load_taxonomy_once,
)
from pipelines.text_normalization import normalize_text
from storage.crawl_stats import count_event
from storage.records import ArticleRecord, TagRecord

Zone = Literal["title", "lead", "body"]
LEAD_MIN_CHARS = 100
LEAD_MAX_CHARS = 600
LEAD_CUT_CHARS = 300
_LINE = re.compile(r"[^\n]+")
_SCORING_KINDS: frozenset[TermKind] = frozenset({"name", "alias", "keyword"})


@dataclass(frozen=True, slots=True)
class Evidence:
    phrase: str
    """As it stands in the original title or text: ``source[start:end]``."""
    term: str
    """The taxonomy term that matched, as written in the taxonomy."""
    zone: Zone
    start: int
    end: int
    kind: TermKind
    weight: float
    """What this mention adds to the score (0 for context and negative terms, and for terms
    that do not count: a keyword without context, a name without the context it needs)."""


@dataclass(frozen=True, slots=True)
class Tag:
    initiative: str
    score: float
    relevant: bool
    """Whether the score reaches the initiative's threshold."""
    evidence: tuple[Evidence, ...]
    """Title first, then the text, in order: every mention of a name, alias, keyword or
    negative term, and the first mention of each context term."""


def lead_end(text: str) -> int:
    """The offset in ``text`` where the lead ends (see the module docstring)."""
    end = content = 0
    for line in _LINE.finditer(text):
        content += len(line.group().strip())
        end = line.end()
        if content >= LEAD_MIN_CHARS:
            break
    if end > LEAD_MAX_CHARS:
        space = text.find(" ", LEAD_CUT_CHARS, LEAD_CUT_CHARS + 40)
        end = space if space != -1 else LEAD_CUT_CHARS
    return end


def tag_article(title: str | None, text: str, taxonomy: Taxonomy) -> list[Tag]:
    """The initiatives the article mentions, best score first, each with its evidence; only
    initiatives with at least one name, alias or keyword found are listed."""
    found: dict[str, list[_Hit]] = defaultdict(list)
    if title and title.strip():
        _find(title, taxonomy, found, lead=None)
    _find(text, taxonomy, found, lead=lead_end(text))
    tags = [
        tag
        for initiative in taxonomy.initiatives
        if (tag := _score(initiative, found.get(initiative.id, []), taxonomy.scoring))
    ]
    tags.sort(key=lambda tag: (-tag.score, tag.initiative))
    return tags


def is_relevant(tags: Iterable[Tag]) -> bool:
    """Whether any tag passes its initiative's threshold."""
    return any(tag.relevant for tag in tags)


def explain(tags: Sequence[Tag]) -> str:
    """A human-readable account of the tags and of what each piece of evidence contributed."""
    if not tags:
        return "no initiative found"
    lines = []
    for tag in tags:
        verdict = "relevant" if tag.relevant else "below threshold"
        lines.append(f"{tag.initiative}: score {tag.score:.2f}, {verdict}")
        for evidence in tag.evidence:
            note = ""
            if evidence.kind == "negative":
                note = "  (negative: cancels keywords)"
            elif evidence.kind in _SCORING_KINDS and evidence.weight == 0:
                note = "  (does not count: no context, or a negative term)"
            lines.append(
                f"  {evidence.weight:+5.2f}  {evidence.kind:<8} {evidence.zone:<5} "
                f"[{evidence.start}:{evidence.end}] {evidence.phrase!r}"
                + (f" ~ {evidence.term!r}" if evidence.term != evidence.phrase else "")
                + note
            )
    return "\n".join(lines)


# A term found in one zone: kind, taxonomy term, zone, start, end (original offsets), phrase.
_Hit = tuple[TermKind, str, Zone, int, int, str]


def _find(source: str, taxonomy: Taxonomy, found: dict[str, list[_Hit]], lead: int | None) -> None:
    """Adds the terms found in ``source``: the title if ``lead`` is None, else the text.

    Context terms do not score, so only their first mention is kept as evidence."""
    normalized = normalize_text(source)
    seen_context = {  # in the title, when this is the text
        (initiative, hit[1])
        for initiative, hits in found.items()
        for hit in hits
        if hit[0] == "context"
    }
    for match in taxonomy.matcher.scan(normalized.text):
        span: tuple[int, int] | None = None
        for role in match.roles:
            if role.kind == "context":
                if (role.initiative, role.term) in seen_context:
                    continue
                seen_context.add((role.initiative, role.term))
            start, end = span = span or normalized.original_span(match.start, match.end)
            zone: Zone = "title" if lead is None else "lead" if start < lead else "body"
            found[role.initiative].append(
                (role.kind, role.term, zone, start, end, source[start:end])
            )


def _score(initiative: Initiative, hits: list[_Hit], scoring: Scoring) -> Tag | None:
    kinds = {hit[0] for hit in hits}
    if not kinds & _SCORING_KINDS:
        return None
    has_context, has_negative = "context" in kinds, "negative" in kinds
    # Ambiguous names count like keywords; other names always do.
    names_count = not initiative.ambiguous_names or (has_context and not has_negative)
    keywords_count = not has_negative and (
        has_context or (names_count and bool(kinds & STRONG_KINDS))
    )
    zone_weight = {
        "title": scoring.title_weight,
        "lead": scoring.lead_weight,
        "body": scoring.body_weight,
    }
    by_term: dict[tuple[TermKind, str], list[int]] = defaultdict(list)
    for index, (kind, term, *_rest) in enumerate(hits):
        if (kind in STRONG_KINDS and names_count) or (kind == "keyword" and keywords_count):
            by_term[(kind, term)].append(index)
    weights = [0.0] * len(hits)
    for (kind, _term), indexes in by_term.items():
        base = scoring.name_weight if kind in STRONG_KINDS else scoring.keyword_weight
        indexes.sort(key=lambda index: -zone_weight[hits[index][2]])
        for repeat, index in enumerate(indexes):
            weights[index] = base * zone_weight[hits[index][2]] * scoring.repeat_decay**repeat
    score = round(sum(weights), 3)
    evidence = tuple(  # hits come in order: the title's, then the text's, each as scanned
        Evidence(phrase, term, zone, start, end, kind, round(weight, 4))
        for (kind, term, zone, start, end, phrase), weight in zip(hits, weights, strict=True)
    )
    return Tag(initiative.id, score, score >= initiative.threshold, evidence)


def tag_records(tags: Iterable[Tag]) -> tuple[TagRecord, ...]:
    """Tags as storage records; only evidence that counts or explains a verdict is kept."""
    return tuple(
        TagRecord(
            initiative=tag.initiative,
            score=round(tag.score, 4),
            relevant=tag.relevant,
            evidence=tuple(
                {
                    "phrase": evidence.phrase,
                    "term": evidence.term,
                    "zone": evidence.zone,
                    "start": evidence.start,
                    "end": evidence.end,
                    "kind": evidence.kind,
                    "weight": evidence.weight,
                }
                for evidence in tag.evidence
            ),
        )
        for tag in tags
    )


def tag_record(record: ArticleRecord, taxonomy: Taxonomy) -> ArticleRecord:
    """The tagging stage for one article: its record with its tags."""
    tags = tag_article(record.extracted.title, record.extracted.text, taxonomy)
    return replace(record, tags=tag_records(tags))


class TaggingPipeline:
    """Tags every article; irrelevant ones are kept and flagged, never dropped.

    Articles come tagged already from the crawl's CPU pool (:mod:`pipelines.page_analysis`);
    others are tagged here.
    """

    def __init__(self, crawler: Crawler, taxonomy_path: Path | None) -> None:
        self.crawler = crawler
        self._taxonomy_path = taxonomy_path

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        path = crawler.settings.get("VEILLE_TAXONOMY_PATH")
        return cls(crawler, Path(path) if path else None)

    @property
    def taxonomy(self) -> Taxonomy:
        """Compiled on first use (a second or so): a crawl that finds nothing new, or whose
        articles come tagged from the CPU pool, never needs it here."""
        return load_taxonomy_once(self._taxonomy_path)

    def process_item(self, item: ArticleRecord) -> ArticleRecord:
        if item.tags is None:
            item = tag_record(item, self.taxonomy)
        assert self.crawler.stats is not None
        event = "articles/relevant" if item.relevant else "articles/not_relevant"
        count_event(self.crawler.stats, event, item.page.source_id)
        return item
