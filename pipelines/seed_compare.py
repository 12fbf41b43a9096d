"""Comparing an article with the seed corpus: nearest seeds, status, new facts, novel sentences.

Pure functions and one in-memory index, no Scrapy and no database; the pipeline that stores
comparisons is built on them. :func:`prepare_seed` turns a seed document into a
:class:`SeedDocument` (its relevant initiative tags, :mod:`facts <pipelines.facts>`, MinHash
signature and sentences); :class:`SeedIndex` holds many and answers :meth:`SeedIndex.compare`.

**What links an article to a seed.** Three kinds of evidence, each of which becomes a reason:

- *text*: the estimated Jaccard similarity ``J`` of the MinHash signatures
  (:mod:`pipelines.fingerprint`: word 3-grams, Chinese character 4-grams), and the share of
  the article's shingles that are in the seed, ``C = J (|A| + |S|) / ((1 + J) |A|)``, which
  stays high for a trimmed copy;
- *initiatives*: ``G``, the Jaccard similarity of the two sets of relevant initiative tags;
- *facts* (:func:`pipelines.facts.extract_facts`): ``F``, the share of the article's facts
  that the seed states, each fact weighted by its rarity in the corpus,
  ``log(1 + N / (1 + seeds stating it))``. Facts are what crosses languages without a
  translation model: dates, amounts, percentages, numbers, Latin-script names and acronyms, and
  names in the transliteration table. A date without a year (``--11-01``) states the same
  day with a year, and a month is stated by any date in it
  (:func:`~pipelines.facts.date_query_keys`).

A fact that more than half of the seeds state (and at least :data:`UBIQUITY_MIN_SEEDS`) is
*ubiquitous* (China, in this corpus) and links nothing. A fact is *specific* unless it is
ubiquitous, a year alone, or a number below 10.

**Score**: ``1 - (1 - T)(1 - 0.8 F)(1 - 0.3 G)``, with ``T = max(J, C)`` (``C`` only for
articles of at least :data:`MIN_CONTAINMENT_SHINGLES` shingles, below which it is too noisy):
any one kind of evidence can make a seed near, and they add up. Initiatives weigh least, since
many seeds share an initiative without telling the same story; a seed sharing only initiatives
is never near. ``nearest`` lists up to :data:`NEAREST_LIMIT` seeds scoring at least
:data:`MIN_SCORE`, best first.

**Status**, for an article with at least one relevant tag (``None`` otherwise):

1. ``known`` when the article is a copy of a seed: the same fingerprint, ``J`` ≥
   :data:`KNOWN_JACCARD` (0.5, well above the 0.3 from which the dedup pipeline calls two
   texts one story), or ``C`` ≥ :data:`KNOWN_CONTAINMENT` (0.6: most of the article's text is
   in the seed, as in a trimmed copy with other boilerplate);
2. ``known`` when it is a translation of a seed: another language, the same thread (below),
   and every specific number, amount, percentage and date of the article is in that seed, at
   least :data:`TRANSLATION_MIN_HARD_FACTS` of them. New names are tolerated here, because
   names are written differently across languages (English capitalises descriptive titles
   that French writes in lower case), while numbers and dates are not;
3. ``follow-up`` when it shares a relevant initiative *and* a thread with a seed, and states
   new facts. The *thread*: at least :data:`THREAD_MIN_FACTS` specific shared facts, or
   :data:`THREAD_MIN_FACTS_WITH_HARD` when one of them is a number or a date (an event is a
   date, a place and names; an amount and a name);
4. ``known`` when it shares an initiative and a thread but states nothing new;
5. ``new`` otherwise.

**New facts** are the article's facts (of its text; the title only helps linking) that no
*related* seed states: the nearest seeds and the seed that decided the status. Not "no seed at
all": in a corpus of thousands of documents some unrelated seed states almost any date or
number (another meeting on 12 December, another 10 projects), and a fact is new for *this*
story when the seeds about the story lack it. Ubiquitous facts are never new. Each key is
listed once, at its first mention.

A follow-up can state dozens of new facts, and the digest shows them on one line, so they are
ranked and only the first :data:`NEW_FACTS_LIMIT` (8; ``new_facts_limit`` of
:class:`SeedIndex`, the ``VEILLE_NEW_FACTS_LIMIT`` setting in a crawl) are listed;
``new_fact_count`` and the status reason count them all. Specific before generic: amounts,
percentages, counts with what they count ("3,000 engineers") and days first; then names in
quotation marks or of several words, ordinals and months; then other names and bare numbers;
years and numbers below 10 last. Within a rank, the rarest in the corpus first, then in the
order of the text.

**Novel sentences** are the article's sentences of at least :data:`MIN_SENTENCE_TOKENS`
tokens that no seed sentence covers. A seed sentence covers one in the same language when it
contains at least :data:`SENTENCE_COVERED` of its token 3-grams (normalised text, as for
fingerprints; a trimmed or lightly edited sentence stays covered). Across languages, a sentence
is covered when one sentence of a related seed states every number and date in it (at least
one) and at least two of its facts: "On 1 November, at the 32nd APEC meeting in Gyeongju, Xi
said …" is covered by « Le 1er novembre, Xi Jinping … lors de la 32e réunion … de l'APEC »,
which lacks the place. Names alone do not cover a sentence (two lists of the same continents
are not the same statement), and a sentence without facts in another language cannot be
matched without translation: it is novel.

Sentences split at 。！？!? and at . … followed by a space, except after abbreviations (M., Mr.,
No., Jan. …) and initials, and at line breaks.

**Speed.** Evidence is gathered for all seeds at once: text through LSH
(:class:`~pipelines.fingerprint.NearDuplicateIndex`), facts through an inverted index from keys
to seeds, initiatives through a seed × initiative matrix, all summed in numpy arrays; only the
seeds that are reported or decide the status get a full account. ``bench/seeddiff.py``: with
1,000 seeds of about 400 words, comparing one article takes 7-9 ms (median; 12 ms at the 95th
percentile), of which extracting the article's facts is about half; building the index
takes about 2 s, after 8 ms per seed for :func:`prepare_seed` (mostly tagging). In a crawl, the
article's facts (:func:`article_facts`) are extracted ahead, in the crawl's CPU pool
(:mod:`pipelines.page_analysis`), and :meth:`SeedIndex.compare` is given them.
"""

from __future__ import annotations

import logging
import math
import re
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Self

import numpy as np
from scrapy.crawler import Crawler
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipelines.cpu_pool import PreparedArticle
from pipelines.facts import (
    Fact,
    date_index_keys,
    date_query_keys,
    extract_facts,
    is_counted,
    is_hard_fact,
    is_quoted,
)
from pipelines.fingerprint import (
    NearDuplicateIndex,
    content_fingerprint,
    minhash_of_shingles,
    shingles,
)
from pipelines.tagging import tag_article
from pipelines.taxonomy import Taxonomy, load_taxonomy_once
from pipelines.text_normalization import NormalizedText, normalize_text
from storage.crawl_stats import count_event
from storage.database import create_database_engine, make_session_factory
from storage.models import Seed
from storage.records import ArticleRecord, ComparisonRecord
from storage.seeds import list_seeds

if TYPE_CHECKING:
    from datasketch import LeanMinHash

logger = logging.getLogger(__name__)

Status = Literal["known", "follow-up", "new"]
ArticleFacts = tuple[Sequence[Fact], Sequence[Fact]]
"""The facts of an article's text, and of its title."""

KNOWN_JACCARD = 0.5
KNOWN_CONTAINMENT = 0.6
MIN_CONTAINMENT_SHINGLES = 30
TRANSLATION_MIN_HARD_FACTS = 3
THREAD_MIN_FACTS = 3
THREAD_MIN_FACTS_WITH_HARD = 2
UBIQUITY_SHARE = 0.5
UBIQUITY_MIN_SEEDS = 3
FACT_WEIGHT = 0.8
TAG_WEIGHT = 0.3
MIN_SCORE = 0.15
MIN_TEXT_SIMILARITY = 0.05
NEAREST_LIMIT = 5
SENTENCE_SHINGLE_SIZE = 3
SENTENCE_COVERED = 0.5
MIN_SENTENCE_TOKENS = 5
SENTENCE_POSTINGS_LIMIT = 64
"""A token 3-gram in more seed sentences than this finds no candidates outside the related
seeds (it is a set phrase, such as « de l'intelligence artificielle »)."""
REASON_FACTS_LIMIT = 12
NEW_FACTS_LIMIT = 8
"""How many new facts a comparison lists, the most telling first; it counts them all."""

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")
_CJK_WORD = re.compile(f"[{_CJK}]")
_ABBREVIATIONS = frozenset(
    {"m", "mm", "mme", "mlle", "mr", "mrs", "ms", "dr", "prof", "st", "ste", "no", "nos", "vol",
     "p", "pp", "cf", "ex", "fig", "inc", "ltd", "co", "corp", "gen", "gov", "sen", "rep", "jr",
     "sr", "vs", "etc", "art", "al", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
     "sept", "oct", "nov", "dec", "janv", "fevr", "avr", "juil"}
)  # fmt: skip
_SENTENCE_END = re.compile(r"[!?。]+|[.…]+|\n")
_CLOSERS = frozenset("\"')]」』")
_OPENING_QUOTES = frozenset("«“‘„‹")
_WORD_BEFORE = re.compile(r"([a-z][a-z.]*)$")


@dataclass(frozen=True, slots=True)
class Sentence:
    text: str
    """As written: ``source[start:end]``."""
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class SeedDocument:
    id: str
    title: str
    text: str
    language: str
    tags: tuple[str, ...]
    """Relevant initiative ids."""
    facts: tuple[Fact, ...]
    """Facts of the text (offsets index ``text``)."""
    signature: LeanMinHash
    sentences: tuple[Sentence, ...]
    fingerprint: str
    shingle_count: int


@dataclass(frozen=True, slots=True)
class SeedMatch:
    seed_id: str
    score: float
    reasons: tuple[str, ...]
    """Human-readable: "shared fingerprint 0.82", "shared initiatives: waico, waic",
    "shared facts: 2025-07-26, Li Qiang, WAIC" …"""


@dataclass(frozen=True, slots=True)
class Comparison:
    status: Status | None
    """None when the article has no relevant tag."""
    nearest: list[SeedMatch]
    new_facts: list[Fact]
    """Offsets index the article text."""
    novel_sentences: list[Sentence]
    status_seed_id: str | None
    """The seed that decided the status (copied, translated or followed up), if any."""
    status_reason: str
    new_fact_count: int
    """All the new facts, of which ``new_facts`` lists the first few."""


def split_sentences(text: str) -> list[Sentence]:
    """The sentences of ``text`` (see the module docstring), with their original offsets."""
    return [sentence for sentence, _tokens, _span in _sentences(text, normalize_text(text))]


def _sentences(
    text: str, normalized: NormalizedText
) -> list[tuple[Sentence, list[str], tuple[int, int]]]:
    """Sentences with their tokens (normalised) and their span in the normalised text."""
    source = normalized.text
    found = []
    start = 0
    for match in _SENTENCE_END.finditer(source):
        end = _after_closing_quotes(text, normalized, match.end())
        if match.group()[0] in ".…":
            if end < len(source) and not source[end].isspace():
                continue  # 1.5, www.example.com, U.S.
            word = _WORD_BEFORE.search(source, max(0, match.start() - 12), match.start())
            if (
                match.group() == "."
                and word
                and (
                    len(word.group(1)) == 1
                    or "." in word.group(1)
                    or word.group(1) in _ABBREVIATIONS
                )
            ):
                continue  # M. Wang, Jan. 5, J. K. Rowling
        if end > start:
            found.append((start, end))
        start = end
    found.append((start, len(source)))
    sentences = []
    for begin, end in found:
        while begin < end and source[begin].isspace():
            begin += 1
        while end > begin and source[end - 1].isspace():
            end -= 1
        tokens = _TOKEN.findall(source, begin, end)
        if not tokens:
            continue
        original_start, original_end = normalized.original_span(begin, end)
        sentence = Sentence(text[original_start:original_end], original_start, original_end)
        sentences.append((sentence, tokens, (begin, end)))
    return sentences


def _after_closing_quotes(text: str, normalized: NormalizedText, end: int) -> int:
    """Where a sentence ending at ``end`` ends once the closing quotes and brackets after it
    are included. French puts a space before a closing guillemet (« … . »); after a space, a
    quote closes only if a space or the end follows it, and never if it is an opening one in
    the original (normalisation writes « and » alike)."""
    source = normalized.text
    position = end
    while True:
        spaced = source[position : position + 1] == " "
        quote = position + 1 if spaced else position
        if quote >= len(source) or source[quote] not in _CLOSERS:
            return position
        if text[normalized.original_offset(quote)] in _OPENING_QUOTES:
            return position
        if spaced and quote + 1 < len(source) and not source[quote + 1].isspace():
            return position
        position = quote + 1


def _sentence_shingles(tokens: Sequence[str]) -> frozenset[str]:
    size = SENTENCE_SHINGLE_SIZE
    if len(tokens) <= size:
        return frozenset({" ".join(tokens)})
    return frozenset(" ".join(tokens[i : i + size]) for i in range(len(tokens) - size + 1))


def _language(code: str | None) -> str:
    return re.split(r"[-_]", code.lower())[0] if code else "und"


def article_facts(title: str | None, text: str, language: str) -> ArticleFacts:
    """The facts of an article's text and of its title: the part of comparing an article that
    needs no seed, and most of its work."""
    return extract_facts(text, language), (extract_facts(title, language) if title else [])


def prepare_seed(
    seed_id: str, title: str, text: str, language: str, taxonomy: Taxonomy
) -> SeedDocument:
    """A seed document ready for a :class:`SeedIndex`; raises ValueError for an empty text."""
    found = shingles(text, language)
    if not found:
        raise ValueError(f"seed {seed_id!r} has no text to compare")
    tags = tuple(
        tag.initiative for tag in tag_article(title or None, text, taxonomy) if tag.relevant
    )
    return SeedDocument(
        id=seed_id,
        title=title,
        text=text,
        language=language,
        tags=tags,
        facts=tuple(extract_facts(text, language)),
        signature=minhash_of_shingles(found),
        sentences=tuple(split_sentences(text)),
        fingerprint=content_fingerprint(text),
        shingle_count=len(found),
    )


def _index_keys(fact: Fact) -> tuple[str, ...]:
    return date_index_keys(fact.key) if fact.kind == "date" else (fact.key,)


def _query_keys(fact: Fact) -> tuple[str, ...]:
    return date_query_keys(fact.key) if fact.kind == "date" else (fact.key,)


def _is_small_number(fact: Fact) -> bool:
    if fact.kind != "number":
        return False
    try:
        return abs(float(fact.key.lstrip("#"))) < 10
    except ValueError:
        return False


@dataclass(slots=True)
class _Seed:
    document: SeedDocument
    language: str
    tags: frozenset[str]
    keys: frozenset[str]
    first_sentence: int
    """The number of its first sentence; sentences are numbered across the index."""
    sentence_keys: tuple[frozenset[str], ...]
    """The index keys of the facts of each sentence."""
    shingle_sentences: dict[str, list[int]]
    """Token 3-gram → the numbers of its sentences that have it."""


@dataclass(slots=True)
class _ArticleFact:
    fact: Fact
    positions: np.ndarray
    """The seeds stating it (sorted positions in the index)."""
    seeds: frozenset[int]
    weight: float
    ubiquitous: bool
    specific: bool
    hard: bool
    in_text: bool


@dataclass(slots=True)
class _Candidate:
    """One seed's evidence, made only for the seeds reported or deciding the status."""

    index: int
    score: float
    jaccard: float
    containment: float
    exact: bool
    shared: list[_ArticleFact]
    shared_tags: frozenset[str]

    def specific(self) -> list[_ArticleFact]:
        return [item for item in self.shared if item.specific]


@dataclass(slots=True)
class _Evidence:
    """Per seed (arrays indexed by position), what the article shares with it."""

    score: np.ndarray
    jaccard: np.ndarray
    containment: np.ndarray
    exact: np.ndarray
    shared_tags: np.ndarray
    specific: np.ndarray
    specific_hard: np.ndarray


class SeedIndex:
    """Seed documents with what makes comparing an article with all of them fast: MinHash LSH
    for texts, an inverted index from fact keys to seeds, a matrix of their initiative tags, and
    token 3-grams to seed sentences. Evidence is gathered for all seeds at once, in arrays.
    """

    def __init__(
        self, seeds: Iterable[SeedDocument], new_facts_limit: int = NEW_FACTS_LIMIT
    ) -> None:
        if new_facts_limit < 1:
            raise ValueError(f"new_facts_limit must be at least 1, not {new_facts_limit}")
        self._new_facts_limit = new_facts_limit
        self._seeds: list[_Seed] = []
        self._positions: dict[str, int] = {}
        self._lsh = NearDuplicateIndex()
        self._fingerprints: dict[str, list[int]] = defaultdict(list)
        postings: dict[str, list[int]] = defaultdict(list)
        self._sentence_postings: dict[str, list[int]] = defaultdict(list)
        self._sentence_count = 0
        signatures = []
        for document in seeds:
            if document.id in self._positions:
                raise ValueError(f"seed {document.id!r} is in the index twice")
            position = len(self._seeds)
            self._positions[document.id] = position
            seed = self._prepare(document)
            self._seeds.append(seed)
            for key in seed.keys:
                postings[key].append(position)
            self._lsh.add(document.id, document.signature)
            self._fingerprints[document.fingerprint].append(position)
            signatures.append(document.signature.hashvalues)
        self._postings = {key: np.array(found, np.int32) for key, found in postings.items()}
        self._signatures = np.stack(signatures) if signatures else np.zeros((0, 0), np.uint32)
        self._shingle_counts = np.array([s.document.shingle_count for s in self._seeds], float)
        self._tag_ids = {
            tag: n for n, tag in enumerate(sorted({t for s in self._seeds for t in s.tags}))
        }
        self._tags = np.zeros((len(self._seeds), len(self._tag_ids)), np.int32)
        for position, seed in enumerate(self._seeds):
            for tag in seed.tags:
                self._tags[position, self._tag_ids[tag]] = 1
        self._tag_counts = self._tags.sum(axis=1)
        self._languages = np.array([seed.language for seed in self._seeds], dtype=object)

    def _prepare(self, document: SeedDocument) -> _Seed:
        """The seed's facts by sentence, and its sentences (numbered across the index) by
        token 3-gram."""
        normalized = normalize_text(document.text)
        sentence_keys: list[frozenset[str]] = []
        shingle_sentences: dict[str, list[int]] = defaultdict(list)
        facts = sorted(document.facts, key=lambda fact: fact.start)
        starts = [fact.start for fact in facts]
        for sentence, tokens, _span in _sentences(document.text, normalized):
            number = self._sentence_count
            self._sentence_count += 1
            for shingle in _sentence_shingles(tokens):
                shingle_sentences[shingle].append(number)
                self._sentence_postings[shingle].append(number)
            inside = facts[bisect_left(starts, sentence.start) : bisect_left(starts, sentence.end)]
            sentence_keys.append(
                frozenset(
                    key for fact in inside if fact.end <= sentence.end for key in _index_keys(fact)
                )
            )
        return _Seed(
            document=document,
            language=_language(document.language),
            tags=frozenset(document.tags),
            keys=frozenset(key for fact in document.facts for key in _index_keys(fact)),
            first_sentence=self._sentence_count - len(sentence_keys),
            sentence_keys=tuple(sentence_keys),
            shingle_sentences=dict(shingle_sentences),
        )

    def __len__(self) -> int:
        return len(self._seeds)

    def __contains__(self, seed_id: object) -> bool:
        return seed_id in self._positions

    def seed(self, seed_id: str) -> SeedDocument:
        return self._seeds[self._positions[seed_id]].document

    # --- Comparing ------------------------------------------------------------------------------

    def compare(
        self,
        article_title: str | None,
        article_text: str,
        language: str,
        tags: Iterable[str],
        extracted_facts: ArticleFacts | None = None,
    ) -> Comparison:
        """How the article relates to the seeds (see the module docstring). ``tags`` are the
        article's relevant initiative ids; ``extracted_facts``, its :func:`article_facts` if
        extracted already."""
        tag_set = frozenset(tags)
        article_language = _language(language)
        normalized = normalize_text(article_text)
        text_facts, title_facts = extracted_facts or article_facts(
            article_title, article_text, language
        )
        facts = self._article_facts(text_facts, title_facts)
        found = shingles(article_text, language)
        evidence = self._evidence(article_text, found, facts, tag_set)
        ranked = np.flatnonzero(evidence.score > 0)
        ranked = ranked[np.argsort(-evidence.score[ranked], kind="stable")]
        near = [int(p) for p in ranked[:NEAREST_LIMIT] if evidence.score[p] >= MIN_SCORE]
        decided, kind = self._decide(ranked, evidence, facts, len(found), article_language)
        related = {*near, *([decided] if decided is not None else [])}
        candidates = {
            position: self._candidate(position, evidence, facts, tag_set) for position in related
        }
        new_facts = _by_interest(
            [
                item
                for item in facts.values()
                if item.in_text and not item.ubiquitous and not item.seeds & related
            ]
        )
        status, reason = self._status(
            tag_set, candidates.get(decided) if decided is not None else None, kind,
            len(new_facts), facts,
        )  # fmt: skip
        return Comparison(
            status=status,
            nearest=[self._match(candidates[p], len(found), article_language) for p in near],
            new_facts=[item.fact for item in new_facts[: self._new_facts_limit]],
            novel_sentences=self._novel_sentences(
                article_text, normalized, text_facts, facts, related
            ),
            status_seed_id=self._seeds[decided].document.id if decided is not None else None,
            status_reason=reason,
            new_fact_count=len(new_facts),
        )

    def _article_facts(
        self, text_facts: Sequence[Fact], title_facts: Sequence[Fact]
    ) -> dict[str, _ArticleFact]:
        """Each distinct key once (its first mention in the text, else in the title), with the
        seeds stating it and its weight."""
        total = len(self._seeds)
        ubiquity = max(UBIQUITY_SHARE * total, UBIQUITY_MIN_SEEDS)
        empty = np.zeros(0, np.int32)
        found: dict[str, _ArticleFact] = {}
        for fact, in_text in [(f, True) for f in text_facts] + [(f, False) for f in title_facts]:
            if fact.key in found:
                continue
            lists = [self._postings[key] for key in _query_keys(fact) if key in self._postings]
            positions = (
                empty if not lists else lists[0] if len(lists) == 1 else np.union1d(*lists[:2])
            )
            for more in lists[2:]:
                positions = np.union1d(positions, more)
            ubiquitous = len(positions) > ubiquity
            found[fact.key] = _ArticleFact(
                fact=fact,
                positions=positions,
                seeds=frozenset(positions.tolist()),
                weight=math.log(1 + total / (1 + len(positions))),
                ubiquitous=ubiquitous,
                specific=not ubiquitous
                and not _is_small_number(fact)
                and not (fact.kind == "date" and len(fact.key) == 4),
                hard=is_hard_fact(fact) and not _is_small_number(fact),
                in_text=in_text,
            )
        return found

    def _evidence(
        self,
        article_text: str,
        found: set[str],
        facts: dict[str, _ArticleFact],
        tags: frozenset[str],
    ) -> _Evidence:
        """Text similarity, shared facts and shared tags with every seed, and the score."""
        total = len(self._seeds)
        jaccard, containment = np.zeros(total), np.zeros(total)
        exact = np.zeros(total, bool)
        if found:
            for position in self._fingerprints.get(content_fingerprint(article_text), ()):
                exact[position] = True
            signature = minhash_of_shingles(found)
            positions = [self._positions[key] for key in self._lsh.candidates(signature)]
            if positions:
                rows = self._signatures[positions]
                similar = np.count_nonzero(rows == signature.hashvalues, axis=1) / rows.shape[1]
                shared = similar * (len(found) + self._shingle_counts[positions]) / (1 + similar)
                keep = similar >= MIN_TEXT_SIMILARITY
                jaccard[positions] = np.where(keep, similar, 0.0)
                containment[positions] = np.where(keep, np.minimum(1.0, shared / len(found)), 0.0)
        weights, specific, specific_hard = np.zeros(total), np.zeros(total), np.zeros(total)
        for item in facts.values():
            if item.ubiquitous:
                continue
            weights[item.positions] += item.weight
            if item.specific:
                specific[item.positions] += 1
                if item.hard:
                    specific_hard[item.positions] += 1
        total_weight = sum(item.weight for item in facts.values() if not item.ubiquitous)
        coverage = weights / total_weight if total_weight else weights
        wanted = np.zeros(len(self._tag_ids), np.int32)
        for tag in tags:
            if tag in self._tag_ids:
                wanted[self._tag_ids[tag]] = 1
        shared_tags = self._tags @ wanted if len(wanted) else np.zeros(total, np.int32)
        union = self._tag_counts + len(tags) - shared_tags
        tag_overlap = np.where(shared_tags > 0, shared_tags / np.maximum(union, 1), 0.0)
        text = (
            np.maximum(jaccard, containment) if len(found) >= MIN_CONTAINMENT_SHINGLES else jaccard
        )
        text = np.where(exact, 1.0, text)
        score = 1 - (1 - text) * (1 - FACT_WEIGHT * coverage) * (1 - TAG_WEIGHT * tag_overlap)
        # Only initiatives, or only common facts, in common: not near.
        score = np.where((text > 0) | (specific > 0), np.round(score, 3), 0.0)
        return _Evidence(score, jaccard, containment, exact, shared_tags, specific, specific_hard)

    def _candidate(
        self,
        position: int,
        evidence: _Evidence,
        facts: dict[str, _ArticleFact],
        tags: frozenset[str],
    ) -> _Candidate:
        return _Candidate(
            index=position,
            score=float(evidence.score[position]),
            jaccard=float(evidence.jaccard[position]),
            containment=float(evidence.containment[position]),
            exact=bool(evidence.exact[position]),
            shared=[
                item for item in facts.values() if not item.ubiquitous and position in item.seeds
            ],
            shared_tags=tags & self._seeds[position].tags,
        )

    def _decide(
        self,
        ranked: np.ndarray,
        evidence: _Evidence,
        facts: dict[str, _ArticleFact],
        article_shingles: int,
        language: str,
    ) -> tuple[int | None, str]:
        """The seed that decides the status (best score first), and how: "copy",
        "translation" or "thread"."""
        copies = (evidence.exact | (evidence.jaccard >= KNOWN_JACCARD)) | (
            (evidence.containment >= KNOWN_CONTAINMENT)
            & (article_shingles >= MIN_CONTAINMENT_SHINGLES)
        )
        found = ranked[copies[ranked]]
        if len(found):
            return int(found[0]), "copy"
        threads = (evidence.shared_tags > 0) & (
            (evidence.specific >= THREAD_MIN_FACTS)
            | ((evidence.specific >= THREAD_MIN_FACTS_WITH_HARD) & (evidence.specific_hard >= 1))
        )
        hard = sum(1 for item in facts.values() if item.specific and item.hard)
        if hard >= TRANSLATION_MIN_HARD_FACTS:
            translations = (
                threads & (self._languages != language) & (evidence.specific_hard == hard)
            )
            found = ranked[translations[ranked]]
            if len(found):
                return int(found[0]), "translation"
        found = ranked[threads[ranked]]
        if len(found):
            return int(found[0]), "thread"
        return None, ""

    def _status(
        self,
        tags: frozenset[str],
        candidate: _Candidate | None,
        kind: str,
        new_fact_count: int,
        facts: dict[str, _ArticleFact],
    ) -> tuple[Status | None, str]:
        if not tags:
            return None, "not relevant: no initiative tag"
        if candidate is None:
            seeded = {tag for seed in self._seeds for tag in seed.tags}
            if not tags & seeded:
                return "new", f"new: no seed is about {', '.join(sorted(tags))}"
            return "new", "new: the seeds on its initiatives tell other stories"
        seed = self._seeds[candidate.index].document.id
        if kind == "copy":
            how = (
                "the same text"
                if candidate.exact
                else f"shared fingerprint {candidate.jaccard:.2f}, "
                f"{candidate.containment:.0%} of its text in the seed"
            )
            return "known", f"known: a copy of {seed} ({how})"
        shared = ", ".join(item.fact.key for item in _by_strength(candidate.specific())[:6])
        if kind == "translation":
            hard = sum(1 for item in facts.values() if item.specific and item.hard)
            return "known", (
                f"known: a report of {seed} in another language "
                f"(all {hard} of its numbers and dates are in the seed; shared: {shared})"
            )
        initiatives = ", ".join(sorted(candidate.shared_tags))
        if new_fact_count:
            return "follow-up", (
                f"follow-up of {seed}: same initiative ({initiatives}) and thread ({shared}), "
                f"with {new_fact_count} new fact{'s' if new_fact_count > 1 else ''}"
            )
        return "known", f"known: same initiative ({initiatives}) and thread as {seed}, nothing new"

    def _match(self, candidate: _Candidate, article_shingles: int, language: str) -> SeedMatch:
        seed = self._seeds[candidate.index]
        reasons: list[str] = []
        if candidate.exact:
            reasons.append("exact copy (same fingerprint)")
        elif candidate.jaccard >= MIN_TEXT_SIMILARITY:
            reason = f"shared fingerprint {candidate.jaccard:.2f}"
            if (
                article_shingles >= MIN_CONTAINMENT_SHINGLES
                and candidate.containment >= candidate.jaccard + 0.1
            ):
                reason += f", {candidate.containment:.0%} of the article's text in the seed"
            reasons.append(reason)
        if candidate.shared_tags:
            reasons.append(f"shared initiatives: {', '.join(sorted(candidate.shared_tags))}")
        specific = candidate.specific()
        if specific:
            ordered = _by_strength(specific)
            keys = [item.fact.key for item in ordered[:REASON_FACTS_LIMIT]]
            more = len(ordered) - len(keys)
            reasons.append("shared facts: " + ", ".join(keys) + (f" (+{more})" if more else ""))
        if seed.language != language and (specific or candidate.shared_tags):
            kinds = (["initiatives"] if candidate.shared_tags else []) + sorted(
                {_KIND_NAMES[item.fact.kind] for item in specific}
            )
            reasons.append(
                f"across languages ({language} article, {seed.language} seed): "
                f"matched by {', '.join(kinds)}"
            )
        return SeedMatch(seed.document.id, candidate.score, tuple(reasons))

    def _novel_sentences(
        self,
        article_text: str,
        normalized: NormalizedText,
        text_facts: Sequence[Fact],
        facts: dict[str, _ArticleFact],
        related: set[int],
    ) -> list[Sentence]:
        novel = []
        for sentence, tokens, _span in _sentences(article_text, normalized):
            if len(tokens) < MIN_SENTENCE_TOKENS:
                continue
            if self._covered_by_text(_sentence_shingles(tokens), related):
                continue
            keys = {
                fact.key
                for fact in text_facts
                if sentence.start <= fact.start and fact.end <= sentence.end
            }
            if self._covered_by_facts([facts[key] for key in keys], related):
                continue
            novel.append(sentence)
        return novel

    def _covered_by_text(self, found: frozenset[str], related: set[int]) -> bool:
        """Whether one seed sentence has :data:`SENTENCE_COVERED` of the sentence's 3-grams:
        any sentence of a related seed, or of another seed through its rarer 3-grams."""
        needed = SENTENCE_COVERED * len(found)
        for position in related:
            index = self._seeds[position].shingle_sentences
            counts = Counter(chain.from_iterable(index.get(shingle, ()) for shingle in found))
            if counts and max(counts.values()) >= needed:
                return True
        postings = self._sentence_postings
        counts = Counter(
            chain.from_iterable(
                found_postings
                for shingle in found
                if len(found_postings := postings.get(shingle, ())) <= SENTENCE_POSTINGS_LIMIT
            )
        )
        return bool(counts) and max(counts.values()) >= needed

    def _covered_by_facts(self, items: list[_ArticleFact], related: set[int]) -> bool:
        """Whether one sentence of a related seed states every number and date of the
        sentence (at least one) and at least two of its facts."""
        hard = [item for item in items if item.hard]
        if not hard or len(items) < 2:
            return False
        for position in related:
            if not all(position in item.seeds for item in hard):
                continue
            for keys in self._seeds[position].sentence_keys:
                stated = [
                    item for item in items if any(key in keys for key in _query_keys(item.fact))
                ]
                if len(stated) >= 2 and all(item in stated for item in hard):
                    return True
        return False


def _by_strength(items: list[_ArticleFact]) -> list[_ArticleFact]:
    """Numbers and dates first, then the rarest facts in the corpus."""
    return sorted(items, key=lambda item: (not item.hard, -item.weight))


def _by_interest(items: list[_ArticleFact]) -> list[_ArticleFact]:
    """New facts in the order a reader wants them (see the module docstring): by
    :func:`_interest`, then the rarest in the corpus, then in the order of the text."""
    return sorted(items, key=lambda item: (_interest(item.fact), -item.weight, item.fact.start))


def _interest(fact: Fact) -> int:
    """0 for amounts, percentages, counts and days; 1 for names in quotation marks or of
    several words, ordinals and months; 2 for other names and bare numbers; 3 for years and
    numbers below 10, which say least on their own."""
    if fact.kind in ("money", "percent"):
        return 0
    if fact.kind == "date":
        return 3 if len(fact.key) == 4 else 1 if len(fact.key) == 7 else 0
    if fact.kind == "number":
        if _is_small_number(fact):
            return 3
        if is_counted(fact):
            return 0
        return 1 if fact.key.startswith("#") else 2
    several = " " in fact.key or len(_CJK_WORD.findall(fact.key)) > 1
    return 1 if is_quoted(fact) or several else 2


_KIND_NAMES = {
    "date": "dates",
    "money": "amounts",
    "percent": "percentages",
    "number": "numbers",
    "name": "names",
}


def comparison_record(comparison: Comparison, seed_count: int) -> ComparisonRecord:
    """A comparison as a storage record."""
    return ComparisonRecord(
        status=comparison.status,
        status_seed_id=comparison.status_seed_id,
        status_reason=comparison.status_reason,
        nearest=tuple(
            {"seed_id": m.seed_id, "score": round(m.score, 4), "reasons": list(m.reasons)}
            for m in comparison.nearest
        ),
        new_facts=tuple(
            {"kind": f.kind, "key": f.key, "phrase": f.phrase, "start": f.start, "end": f.end}
            for f in comparison.new_facts
        ),
        novel_sentences=tuple(
            {"text": s.text, "start": s.start, "end": s.end} for s in comparison.novel_sentences
        ),
        seed_count=seed_count,
    )


def has_seed_corpus(session: Session) -> bool:
    """Whether a crawl compares articles: there are seeds in the database."""
    return session.scalar(select(Seed.id).limit(1)) is not None


def compared_language(record: ArticleRecord) -> str:
    """The language a crawled article is compared in (its facts are extracted in it)."""
    return record.extracted.language or ""


class SeedComparePipeline:
    """Compares every relevant article with the seed corpus stored in the database.

    The article's facts come extracted already from the crawl's CPU pool
    (:mod:`pipelines.page_analysis`) when there is a seed corpus; others are extracted here.
    """

    def __init__(self, crawler: Crawler, database_url: str, taxonomy_path: str | None) -> None:
        self.crawler = crawler
        self._engine = create_database_engine(database_url)
        self._sessions = make_session_factory(self._engine)
        self._taxonomy_path = taxonomy_path
        self.new_facts_limit = NEW_FACTS_LIMIT
        self._seeds: list[tuple[str, str, str, str]] = []
        self._index: SeedIndex | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        pipeline = cls(
            crawler, settings["VEILLE_DATABASE_URL"], settings.get("VEILLE_TAXONOMY_PATH")
        )
        pipeline.new_facts_limit = settings.getint("VEILLE_NEW_FACTS_LIMIT", NEW_FACTS_LIMIT)
        return pipeline

    def open_spider(self) -> None:
        with self._sessions() as session:
            self._seeds = [
                (s.id, s.title or "", s.text, s.language or "") for s in list_seeds(session)
            ]
        if not self._seeds:
            logger.info("No seed corpus: articles are not compared (see veille seeds add)")
        else:
            logger.info("Seed corpus: %d documents", len(self._seeds))

    @property
    def index(self) -> SeedIndex | None:
        """The seed corpus prepared for comparisons (about 8 ms a seed), on the first relevant
        article: a crawl that finds none does not pay for it. None without seeds."""
        if self._index is None and self._seeds:
            path = Path(self._taxonomy_path) if self._taxonomy_path else None
            taxonomy = load_taxonomy_once(path)
            self._index = SeedIndex(
                (prepare_seed(*seed, taxonomy=taxonomy) for seed in self._seeds),
                self.new_facts_limit,
            )
        return self._index

    def process_item(self, item: ArticleRecord) -> ArticleRecord:
        if not self._seeds:
            return item
        tags = [tag.initiative for tag in item.tags or () if tag.relevant]
        if not tags:
            return item
        assert self.index is not None
        facts = None
        if isinstance(item, PreparedArticle) and item.text_facts is not None:
            facts = (item.text_facts, item.title_facts or ())
        comparison = self.index.compare(
            item.extracted.title, item.extracted.text, compared_language(item), tags, facts
        )
        assert self.crawler.stats is not None
        count_event(self.crawler.stats, f"seeds/{comparison.status}", item.page.source_id)
        return replace(item, comparison=comparison_record(comparison, len(self.index)))

    def close_spider(self) -> None:
        self._engine.dispose()
