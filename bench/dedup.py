"""Speed and memory of near-duplicate detection, and its verdicts on the shared pairs.

Usage: ``python bench/dedup.py [--sizes 10000 100000] [--queries 300] [--workers N]
[--redis redis://127.0.0.1:6379/0]``

1. Generates synthetic articles in English, French and Chinese (fixed seed): Zipf-distributed
   draws of made-up words (Han characters for Chinese) and of set phrases of 2-4 words (a
   third of the draws), a fifth of the words from one of 200 topic vocabularies, in sentences
   and paragraphs, ending with one of 300 sites' boilerplate sentence. English and French
   articles have 320-610 words, Chinese ones 650-1,050 characters. Two different articles
   have an average similarity of 0.001-0.003, and LSH returns 0.02% of the stored articles as
   candidates, as it does for the different English articles of the extraction benchmark.
2. Builds a :class:`~pipelines.fingerprint.NearDuplicateIndex` of each size in turn: worker
   processes generate and sign the articles, and the main process adds the serialised
   signatures to the index, as a crawl does at start with those read from the database. At
   each size it times, for a few hundred new articles (a third of them near-copies of stored
   ones: a paragraph cut and a byline added, or 15% spam words spread through), the whole
   per-article work: :func:`content_fingerprint`, :func:`minhash_signature` and
   :meth:`NearDuplicateIndex.find_match` (LSH candidates and the best match above the
   threshold), the fastest of three rounds for each article. It prints the median and 95th
   percentile of the whole and of the lookup alone, the number of candidates, how many
   near-copies were found and how many new articles were wrongly matched, the peak RSS of the
   process, and how long a full garbage collection takes with the index in memory.
3. Prints the score and verdict of every pair of ``near-duplicates.json`` (texts extracted with
   :func:`pipelines.extraction.extract`).

With ``--redis URL``, step 2 builds the :class:`~pipelines.shared_index.SharedNearDuplicateIndex`
that crawl workers share instead (keys under ``veille-bench-<pid>``, deleted at the end), and
also prints: how long loading the serialised signatures takes, the round trips of one look-up,
what a worker's check-and-hold costs (lock, look-up, provisional hold, lock released), the
Redis memory per stored article, and the same look-up with datasketch's own Redis storage
(``MinHashLSH(storage_config={"type": "redis"})``) at the smallest size, for comparison.

``tests/pipelines/test_fingerprint.py`` loads this file by path and calls :func:`score_pairs`,
so the test and the printed verdicts come from the same code.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPORA = REPO_ROOT.parent / "shared" / "corpora"

# Run as `python bench/dedup.py`, the script's own folder is on sys.path, not the repo.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from pipelines.extraction import extract  # noqa: E402
from pipelines.fingerprint import (  # noqa: E402
    DEFAULT_THRESHOLD,
    LSH_BANDS,
    LSH_ROWS,
    NUM_PERM,
    NearDuplicateIndex,
    content_fingerprint,
    estimated_similarity,
    minhash_signature,
    signature_from_bytes,
    signature_to_bytes,
)
from pipelines.shared_index import SharedNearDuplicateIndex  # noqa: E402

SEED = 20240610
LANGUAGES = ("en", "fr", "zh")
TOPICS = 200
SITES = 300
PHRASES = 50_000
PHRASE_EXPONENT = 0.7
PHRASE_SHARE = 0.3
_CHUNK = 500
ROUNDS = 3


@dataclass(frozen=True, slots=True)
class PairScore:
    a: str
    b: str
    kind: str
    same_story: bool
    """What near-duplicates.json says."""
    score: float | None
    """Estimated similarity of the extracted texts; None if a page gave no text."""

    @property
    def is_same(self) -> bool:
        return self.score is not None and self.score >= DEFAULT_THRESHOLD


def score_pairs(corpora: Path) -> list[PairScore]:
    """The estimated similarity of the extracted texts of every near-duplicates.json pair."""
    listing = json.loads((corpora / "near-duplicates.json").read_text(encoding="utf-8"))
    scores = []
    for pair in listing["pairs"]:
        texts = [_extracted_text(corpora / pair[side]) for side in ("a", "b")]
        score = None
        if texts[0] is not None and texts[1] is not None:
            score = estimated_similarity(minhash_signature(texts[0]), minhash_signature(texts[1]))
        scores.append(PairScore(pair["a"], pair["b"], pair["kind"], pair["same_story"], score))
    return scores


def _extracted_text(path: Path) -> str | None:
    page = path.read_bytes()
    if path.suffix == ".gz":
        page = gzip.decompress(page)
    extracted = extract(page, f"https://corpus.invalid/{path.name}")
    return extracted.text if extracted is not None else None


class ArticleGenerator:
    """Synthetic articles, each a pure function of its number (so workers agree).

    An article is a sequence of words and set phrases (a third of the draws; both Zipf
    distributed), a fifth of them from its topic's vocabulary, in sentences and paragraphs,
    ending with its site's boilerplate sentence, as the fixtures of the tests do.
    """

    def __init__(self, seed: int = SEED) -> None:
        rng = np.random.default_rng(seed)
        self.seed = seed
        self.words = {
            "en": _made_up_words(rng, "bcdfghklmnprstvwy", "aeiou", 20_000),
            "fr": _made_up_words(rng, "bcdfgjlmnprstv", "aeiouéèàû", 20_000),
            "zh": np.array([chr(code) for code in rng.choice(range(0x4E00, 0x9FA6), 4_000, False)]),
        }
        self.word_cdf: dict[str, np.ndarray] = {}
        self.phrases: dict[str, np.ndarray] = {}
        self.topics: dict[str, np.ndarray] = {}
        self.boilerplate: dict[str, list[str]] = {}
        for language, vocabulary in self.words.items():
            self.word_cdf[language] = _zipf_cdf(len(vocabulary))
            separator = "" if language == "zh" else " "
            lengths = rng.integers(2, 5, PHRASES)
            drawn = self._draw(rng, language, int(lengths.sum()))
            ends = np.cumsum(lengths).tolist()
            self.phrases[language] = np.array(
                [
                    separator.join(drawn[end - size : end])
                    for end, size in zip(ends, lengths, strict=True)
                ]
            )
            self.topics[language] = rng.integers(0, len(vocabulary), (TOPICS, 60))
            self.boilerplate[language] = [
                _sentence(self._draw(rng, language, int(rng.integers(12, 21))), language)
                for _ in range(SITES)
            ]
        self.phrase_cdf = _zipf_cdf(PHRASES, PHRASE_EXPONENT)

    def _draw(self, rng: np.random.Generator, language: str, count: int) -> list[str]:
        drawn = np.searchsorted(self.word_cdf[language], rng.random(count))
        return self.words[language][np.minimum(drawn, len(self.words[language]) - 1)].tolist()

    def article(self, number: int) -> tuple[str, str]:
        """Article ``number``: (language, text)."""
        rng = np.random.default_rng((self.seed, number))
        language = LANGUAGES[number % len(LANGUAGES)]
        units = int(rng.integers(400, 650) if language == "zh" else rng.integers(200, 380))
        words = self.words[language]
        drawn = np.searchsorted(self.word_cdf[language], rng.random(units))
        topical = rng.random(units) < 0.2
        drawn[topical] = rng.choice(self.topics[language][number % TOPICS], int(topical.sum()))
        tokens = words[np.minimum(drawn, len(words) - 1)]
        phrase = rng.random(units) < PHRASE_SHARE
        picked = np.searchsorted(self.phrase_cdf, rng.random(int(phrase.sum())))
        tokens = tokens.astype(object)
        tokens[phrase] = self.phrases[language][np.minimum(picked, PHRASES - 1)]
        site = self.boilerplate[language][(number // len(LANGUAGES)) % SITES]
        return language, _compose(tokens.tolist(), language, rng) + "\n\n" + site

    def near_copy(self, number: int, variant: int) -> tuple[str, str]:
        """A near-copy of article ``number``: a paragraph cut and a byline, or spam words."""
        language, text = self.article(number)
        rng = np.random.default_rng((self.seed, number, variant))
        if variant % 2 == 0:
            paragraphs = text.split("\n\n")
            del paragraphs[int(rng.integers(0, len(paragraphs)))]
            byline = "本报记者 王明" if language == "zh" else "By Staff Reporter"
            return language, "\n\n".join([byline, *paragraphs])
        spam = (
            ["澳门赌场", "免费领取", "加微信"] if language == "zh" else ["casino", "bonus", "cheap"]
        )
        separator = "" if language == "zh" else " "
        pieces = list(text) if language == "zh" else text.split(" ")
        rate = 0.15 / 3 if language == "zh" else 0.15  # Chinese spam words are 3-4 characters
        out = []
        for piece in pieces:
            out.append(piece)
            if rng.random() < rate:
                out.append(spam[int(rng.integers(0, len(spam)))])
        return language, separator.join(out)


def _made_up_words(
    rng: np.random.Generator, consonants: str, vowels: str, count: int
) -> np.ndarray:
    """``count`` distinct words of 1-4 consonant-vowel syllables."""
    syllables = [consonant + vowel for consonant in consonants for vowel in vowels]
    found: set[str] = set()
    while len(found) < count:
        picks = rng.integers(0, len(syllables), (count, 4)).tolist()
        for pick, size in zip(picks, rng.integers(1, 5, count).tolist(), strict=True):
            found.add("".join(syllables[index] for index in pick[:size]))
    return np.array(sorted(found)[:count])


def _zipf_cdf(size: int, exponent: float = 1.0) -> np.ndarray:
    weights = 1.0 / np.arange(1, size + 1) ** exponent
    return np.cumsum(weights / weights.sum())


def _sentence(tokens: list[str], language: str) -> str:
    if language == "zh":
        return "".join(tokens) + "。"
    return " ".join(tokens).capitalize() + "."


def _compose(tokens: list[str], language: str, rng: np.random.Generator) -> str:
    """Sentences of 6-20 draws (12-30 for Chinese), paragraphs of 3-5 sentences."""
    paragraphs: list[str] = []
    sentences: list[str] = []
    separator = "" if language == "zh" else " "
    start = 0
    while start < len(tokens):
        size = int(rng.integers(12, 31) if language == "zh" else rng.integers(6, 21))
        sentences.append(_sentence(tokens[start : start + size], language))
        start += size
        if len(sentences) >= int(rng.integers(3, 6)):
            paragraphs.append(separator.join(sentences))
            sentences = []
    if sentences:
        paragraphs.append(separator.join(sentences))
    return "\n\n".join(paragraphs)


@cache
def _generator(seed: int) -> ArticleGenerator:
    return ArticleGenerator(seed)


def _signatures(seed: int, start: int, stop: int) -> list[bytes]:
    """Serialised signatures of articles ``start`` to ``stop`` (in a worker process)."""
    generator = _generator(seed)
    out = []
    for number in range(start, stop):
        language, text = generator.article(number)
        out.append(signature_to_bytes(minhash_signature(text, language)))
    return out


def _chunks(start: int, stop: int) -> Iterator[tuple[int, int]]:
    for low in range(start, stop, _CHUNK):
        yield low, min(low + _CHUNK, stop)


def _grow(
    start: int, stop: int, workers: int, add: Callable[[int, list[bytes]], None]
) -> tuple[float, float]:
    """Articles ``start`` to ``stop``, generated and signed by ``workers`` processes, each
    batch handed to ``add(first number, serialised signatures)`` here; the seconds it all
    took, and those spent in ``add``."""
    started = time.perf_counter()
    adding = 0.0
    chunks = list(_chunks(start, stop))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        lows, highs = zip(*chunks, strict=True)
        batches = pool.map(_signatures, [SEED] * len(chunks), lows, highs)
        for low, batch in zip(lows, batches, strict=True):
            began = time.perf_counter()
            add(low, batch)
            adding += time.perf_counter() - began
    return time.perf_counter() - started, adding


def _peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux (bytes on macOS).
    scale = 1 if sys.platform != "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / scale


@dataclass(frozen=True, slots=True)
class QueryFigures:
    median_ms: float
    p95_ms: float
    lookup_median_ms: float
    lookup_p95_ms: float
    """find_match alone: the part that depends on the number of stored articles."""
    mean_candidates: float
    copies_found: int
    copies: int
    false_matches: int
    new: int


def measure_queries(
    index: NearDuplicateIndex | SharedNearDuplicateIndex,
    generator: ArticleGenerator,
    stored: int,
    queries: int,
) -> QueryFigures:
    """Time fingerprint + signature + match for ``queries`` new articles.

    Each article's time is the fastest of :data:`ROUNDS` rounds over all of them, so that
    other processes on the machine count as little as they can.
    """
    rng = np.random.default_rng((SEED, stored))
    articles: list[tuple[str, str, int | None]] = []
    for query in range(queries):
        if query % 3 == 0:
            original = int(rng.integers(0, stored))
            articles.append((*generator.near_copy(original, query), original))
        else:
            articles.append((*generator.article(10_000_000 + stored + query), None))
    times = [float("inf")] * queries
    lookups = [float("inf")] * queries
    matches: list[tuple[str, float] | None] = [None] * queries
    for _round in range(ROUNDS):
        for query, (language, text, _original) in enumerate(articles):
            started = time.perf_counter()
            content_fingerprint(text)
            signature = minhash_signature(text, language)
            signed = time.perf_counter()
            matches[query] = index.find_match(signature)
            finished = time.perf_counter()
            times[query] = min(times[query], finished - started)
            lookups[query] = min(lookups[query], finished - signed)
    candidates = [
        len(index.candidates(minhash_signature(text, language))) for language, text, _ in articles
    ]
    copies = [
        (match, original)
        for match, (*_, original) in zip(matches, articles, strict=True)
        if original is not None
    ]
    new = [
        match for match, (*_, original) in zip(matches, articles, strict=True) if original is None
    ]
    return QueryFigures(
        median_ms=1000 * statistics.median(times),
        p95_ms=1000 * _p95(times),
        lookup_median_ms=1000 * statistics.median(lookups),
        lookup_p95_ms=1000 * _p95(lookups),
        mean_candidates=statistics.fmean(candidates),
        copies_found=sum(
            match is not None and match[0] == str(original) for match, original in copies
        ),
        copies=len(copies),
        false_matches=sum(match is not None for match in new),
        new=len(new),
    )


def _p95(values: list[float]) -> float:
    return sorted(values)[int(0.95 * (len(values) - 1))]


def run_speed(sizes: list[int], queries: int, workers: int) -> None:
    generator = _generator(SEED)
    index = NearDuplicateIndex()
    print(f"peak RSS before the index: {_peak_rss_mb():.0f} MB", flush=True)
    rows: list[tuple[int, QueryFigures, float]] = []

    def add(low: int, batch: list[bytes]) -> None:
        # What a crawl does at start with the signatures read from the database.
        for number, data in enumerate(batch, start=low):
            index.add(str(number), signature_from_bytes(data))

    for size in sorted(sizes):
        total, adding = _grow(len(index), size, workers, add)
        print(
            f"{size:>7,} stored: built in {total:.1f} s ({workers} worker processes generating "
            f"and signing articles); of which {adding:.1f} s adding serialised signatures to the "
            f"index in the main process",
            flush=True,
        )
        figures = measure_queries(index, generator, size, queries)
        rows.append((size, figures, _peak_rss_mb()))
    print()
    print(
        f"{'stored':>8} {'median ms':>9} {'p95 ms':>7} {'lookup median/p95 ms':>20} "
        f"{'candidates':>10} {'copies found':>12} {'false matches':>13} {'peak RSS MB':>11}"
    )
    for size, figures, rss in rows:
        lookup = f"{figures.lookup_median_ms:.2f} / {figures.lookup_p95_ms:.2f}"
        print(
            f"{size:>8,} {figures.median_ms:>9.2f} {figures.p95_ms:>7.2f} {lookup:>20} "
            f"{figures.mean_candidates:>10.1f} {figures.copies_found:>7}/{figures.copies:<4} "
            f"{figures.false_matches:>8}/{figures.new:<4} {rss:>11.0f}"
        )
    print(
        "(one article: content_fingerprint + minhash_signature + find_match, i.e. LSH "
        "candidates and best_match; a third of the new articles are near-copies)"
    )
    started = time.perf_counter()
    gc.collect()
    print(
        f"a full garbage collection with {len(index):,} signatures in the index takes "
        f"{time.perf_counter() - started:.2f} s (gc.freeze() after loading avoids it)"
    )


class RoundTrips:
    """Counts the requests redis-py sends (a pipeline or a script is one) while in use."""

    def __init__(self) -> None:
        self.count = 0

    def __enter__(self) -> RoundTrips:
        import redis

        self._class = redis.connection.Connection
        self._send = self._class.send_packed_command
        send = self._send

        def counting(connection: Any, command: Any, check_health: bool = True) -> None:
            self.count += 1
            send(connection, command, check_health)

        self._class.send_packed_command = counting  # type: ignore[method-assign]
        return self

    def __exit__(self, *_exc: object) -> None:
        self._class.send_packed_command = self._send  # type: ignore[method-assign]


def _redis_used_memory(client: Any) -> int:
    return int(client.info("memory")["used_memory"])


def run_redis(url: str, sizes: list[int], queries: int, workers: int) -> None:
    """The figures of :func:`run_speed` for the shared index in Redis, and its own costs."""
    import redis

    client = redis.Redis.from_url(url)
    prefix = f"veille-bench-{os.getpid()}"
    index = SharedNearDuplicateIndex(client, prefix)
    generator = _generator(SEED)
    baseline = _redis_used_memory(client)
    stored_at = datetime.now(UTC)
    rows: list[tuple[int, QueryFigures, float, float]] = []
    try:

        def add(low: int, batch: list[bytes]) -> None:
            index.add_many((str(number), data, stored_at) for number, data in enumerate(batch, low))

        for size in sorted(sizes):
            total, loading = _grow(len(index), size, workers, add)
            print(
                f"{size:>7,} stored in Redis: built in {total:.1f} s, of "
                f"which {loading:.1f} s loading serialised signatures (load script)",
                flush=True,
            )
            figures = measure_queries(index, generator, size, queries)
            per_article = (_redis_used_memory(client) - baseline) / size
            rows.append((size, figures, _check_and_hold_ms(index, generator, queries), per_article))
        probe = minhash_signature(*generator.article(10_000_000))
        with RoundTrips() as lookup:
            index.find_match(probe)
        with RoundTrips() as cycle, index.locked():
            index.find_match(probe)
            index.hold("pending:bench", probe)
        index.release("pending:bench", probe)
        print()
        print(
            f"{'stored':>8} {'median ms':>9} {'p95 ms':>7} {'lookup median/p95 ms':>20} "
            f"{'check+hold ms':>13} {'candidates':>10} {'copies found':>12} "
            f"{'false matches':>13} {'Redis bytes/article':>19}"
        )
        for size, figures, hold_ms, per_article in rows:
            lookup_ms = f"{figures.lookup_median_ms:.2f} / {figures.lookup_p95_ms:.2f}"
            print(
                f"{size:>8,} {figures.median_ms:>9.2f} {figures.p95_ms:>7.2f} {lookup_ms:>20} "
                f"{hold_ms:>13.2f} {figures.mean_candidates:>10.1f} "
                f"{figures.copies_found:>7}/{figures.copies:<4} "
                f"{figures.false_matches:>8}/{figures.new:<4} {per_article:>19,.0f}"
            )
        print(
            f"round trips: {lookup.count} per look-up; {cycle.count} per check and hold (lock, "
            "look-up, hold, unlock)"
        )
        _compare_with_datasketch(url, prefix, generator, min(sizes), queries)
    finally:
        deleted = index.delete_all()
        for batch in _batches(list(client.scan_iter(f"{prefix}:*", count=1000)), 1000):
            deleted += int(client.delete(*batch))
        print(f"(deleted the {deleted:,} Redis keys of the benchmark)")
        client.close()


def _check_and_hold_ms(
    index: SharedNearDuplicateIndex, generator: ArticleGenerator, queries: int
) -> float:
    """Median time of what a worker does for a new article: lock, look-up, hold, unlock (the
    fastest of :data:`ROUNDS` rounds for each article, as :func:`measure_queries`)."""
    signatures = [
        minhash_signature(*generator.article(20_000_000 + query)) for query in range(queries)
    ]
    times = [float("inf")] * queries
    for _round in range(ROUNDS):
        for query, signature in enumerate(signatures):
            started = time.perf_counter()
            with index.locked():
                index.find_match(signature)
                index.hold(f"pending:bench/{query}", signature)
            times[query] = min(times[query], time.perf_counter() - started)
        for query, signature in enumerate(signatures):
            index.release(f"pending:bench/{query}", signature)
    return 1000 * statistics.median(times)


def _compare_with_datasketch(
    url: str, prefix: str, generator: ArticleGenerator, size: int, queries: int
) -> None:
    """The same look-ups with datasketch's Redis storage, at ``size`` stored articles."""
    import redis
    from datasketch import MinHashLSH

    config = redis.connection.parse_url(url)
    storage = {
        "type": "redis",
        "basename": f"{prefix}:datasketch".encode(),
        "redis": {key: config[key] for key in ("host", "port", "db") if key in config},
    }
    lsh = MinHashLSH(num_perm=NUM_PERM, params=(LSH_BANDS, LSH_ROWS), storage_config=storage)
    client = redis.Redis.from_url(url)
    before = _redis_used_memory(client)
    started = time.perf_counter()
    with lsh.insertion_session() as session:
        for low, high in _chunks(0, size):
            for number, data in enumerate(_signatures(SEED, low, high), low):
                session.insert(str(number), signature_from_bytes(data), check_duplication=False)
    loading = time.perf_counter() - started
    per_article = (_redis_used_memory(client) - before) / size
    probes = [minhash_signature(*generator.article(30_000_000 + q)) for q in range(queries)]
    times = []
    for probe in probes:
        began = time.perf_counter()
        lsh.query(probe)
        times.append(time.perf_counter() - began)
    with RoundTrips() as query:
        lsh.query(probes[0])
    with RoundTrips() as insert:
        lsh.insert("bench-one", probes[0], check_duplication=False)
    with RoundTrips() as remove:
        lsh.remove("bench-one")
    client.close()
    print(
        f"datasketch's Redis storage, {size:,} stored: loaded in {loading:.1f} s (insertion "
        f"session); query (LSH candidates only, no signatures) median "
        f"{1000 * statistics.median(times):.2f} ms, p95 {1000 * _p95(times):.2f} ms; round "
        f"trips: {query.count} per query, {insert.count} per insert, {remove.count} per "
        f"removal; Redis bytes/article {per_article:,.0f}"
    )


def _batches(items: list[bytes], size: int) -> Iterator[list[bytes]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def print_pairs(corpora: Path) -> None:
    if not (corpora / "near-duplicates.json").is_file():
        print(f"\n{corpora / 'near-duplicates.json'} not found: pairs skipped")
        return
    print(f"\nnear-duplicates.json (threshold {DEFAULT_THRESHOLD}):")
    print(f"{'score':>5}  {'verdict':<9} {'labelled':<9} kind")
    for pair in score_pairs(corpora):
        score = "-" if pair.score is None else f"{pair.score:.2f}"
        verdict = "same" if pair.is_same else "different"
        label = "same" if pair.same_story else "different"
        flag = "" if pair.is_same == pair.same_story else "  <-- disagrees with the label"
        print(f"{score:>5}  {verdict:<9} {label:<9} {pair.kind}: {Path(pair.a).name}{flag}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--corpora", type=Path, default=DEFAULT_CORPORA)
    parser.add_argument(
        "--redis", metavar="URL", help="measure the index shared in Redis at this URL instead"
    )
    args = parser.parse_args()
    if args.redis:
        run_redis(args.redis, args.sizes, args.queries, args.workers)
        return
    run_speed(args.sizes, args.queries, args.workers)
    print_pairs(args.corpora)


if __name__ == "__main__":
    main()
