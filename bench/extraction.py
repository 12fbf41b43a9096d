"""Extraction quality and speed on the Zyte/Scrapinghub article-extraction-benchmark.

Usage: ``python bench/extraction.py [--corpus DIR] [--limit N]``

Prints precision, recall and F1 of the article body against the human-annotated gold, and pages
per second for the extraction call alone, for our ``extract()`` and, as a reference, for plain
``trafilatura.extract(html, include_comments=False)`` (the call the benchmark's own
``extractors/run_trafilatura.py`` makes).

The metric is the benchmark's own (its ``evaluate.py``, re-implemented here without the
bootstrap intervals): text is split into ``\\w+`` tokens, tokens are joined into overlapping
4-token shingles, and each page's shingle multisets are compared (true positives = shared
shingles, counted with multiplicity). Precision is averaged over the pages where something was
predicted, recall over the pages with a non-empty gold body, and F1 is the harmonic mean of the
two averages, not an average of per-page F1. On the benchmark's stored trafilatura 2.0.0
output this gives the published P 0.938, R 0.978, F1 0.958.

``tests/pipelines/test_extraction.py`` loads this file by path and calls :func:`score_corpus`,
so the regression floor and the printed figures come from the same code.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import trafilatura

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO_ROOT.parent / "shared" / "corpora" / "extraction-benchmark"

# Run as `python bench/extraction.py`, the script's own folder is on sys.path, not the repo.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from pipelines.extraction import extract  # noqa: E402

SHINGLE_SIZE = 4
_TOKEN_RE = re.compile(r"\w+")

# Loads what extractors load lazily once per process (py3langid's model for a page that
# declares no language), so that one-off cost is not counted as per-page time.
_WARM_UP_PAGE = (
    "<html><head><title>Warm-up</title></head><body><article>"
    + "".join(
        f"<p>Paragraph {number} is here only to exercise the extractor once before timing.</p>"
        for number in ("one", "two", "three", "four", "five")
    )
    + "</article></body></html>"
).encode()

TextExtractor = Callable[[bytes, str], str | None]
"""Page bytes and URL to article body text (None or "" when nothing was found)."""


@dataclass(frozen=True, slots=True)
class Scores:
    precision: float
    recall: float
    f1: float
    pages: int
    empty: int
    """Pages for which the extractor returned no text."""
    seconds: float
    """Time spent in the extractor only (no reading, unzipping or scoring)."""

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.seconds if self.seconds else float("inf")


@dataclass(frozen=True, slots=True)
class BenchmarkPage:
    item_id: str
    url: str
    html: bytes
    gold: str


def veille_text(html: bytes, url: str) -> str | None:
    extracted = extract(html, url)
    return extracted.text if extracted is not None else None


def trafilatura_text(html: bytes, url: str) -> str | None:
    # The benchmark's pages are UTF-8; the upstream runner reads them as text.
    return trafilatura.extract(html.decode("utf-8"), include_comments=False)


def load_pages(corpus_dir: Path, limit: int | None = None) -> list[BenchmarkPage]:
    """The benchmark pages in id order, with their gold article bodies."""
    gold = json.loads((corpus_dir / "ground-truth.json").read_text(encoding="utf-8"))
    item_ids = sorted(gold)[:limit]
    return [
        BenchmarkPage(
            item_id=item_id,
            url=gold[item_id].get("url") or "",
            html=gzip.decompress((corpus_dir / "html" / f"{item_id}.html.gz").read_bytes()),
            gold=gold[item_id].get("articleBody") or "",
        )
        for item_id in item_ids
    ]


def score_corpus(
    corpus_dir: Path,
    limit: int | None = None,
    *,
    extractor: TextExtractor = veille_text,
) -> Scores:
    """Run ``extractor`` over the first ``limit`` pages (by id) and score it against the gold."""
    pages = load_pages(corpus_dir, limit)
    if not pages:
        raise ValueError(f"no benchmark pages in {corpus_dir}")
    extractor(_WARM_UP_PAGE, "https://example.com/warm-up")
    extractor(pages[0].html, pages[0].url)
    predictions: list[str] = []
    seconds = 0.0
    for page in pages:
        started = time.perf_counter()
        predicted = extractor(page.html, page.url)
        seconds += time.perf_counter() - started
        predictions.append(predicted or "")
    return _scores(pages, predictions, seconds)


def _scores(pages: list[BenchmarkPage], predictions: list[str], seconds: float) -> Scores:
    precisions: list[float] = []
    recalls: list[float] = []
    for page, predicted in zip(pages, predictions, strict=True):
        tp, fp, fn = _shingle_overlap(page.gold, predicted)
        if tp + fp > 0:
            precisions.append(_ratio(tp, tp + fp, fp=fp, fn=fn))
        if tp + fn > 0:
            recalls.append(_ratio(tp, tp + fn, fp=fp, fn=fn))
    precision = statistics.fmean(precisions) if precisions else 0.0
    recall = statistics.fmean(recalls) if recalls else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(
        precision=precision,
        recall=recall,
        f1=f1,
        pages=len(pages),
        empty=sum(1 for predicted in predictions if not predicted.strip()),
        seconds=seconds,
    )


def _shingle_overlap(gold: str, predicted: str) -> tuple[int, int, int]:
    """True positives, false positives and false negatives over 4-token shingles."""
    expected, found = _shingles(gold), _shingles(predicted)
    tp = (expected & found).total()
    return tp, (found - expected).total(), (expected - found).total()


def _shingles(text: str) -> Counter[tuple[str, ...]]:
    tokens = _TOKEN_RE.findall(text)
    # A text shorter than a shingle counts as one short shingle, as upstream.
    starts = range(max(1, len(tokens) - SHINGLE_SIZE + 1))
    return Counter(
        tuple(tokens[start : start + SHINGLE_SIZE]) for start in starts if tokens[start:]
    )


def _ratio(tp: int, total: int, *, fp: int, fn: int) -> float:
    # Upstream's convention: a perfect match scores 1 even when both texts are empty.
    if fp == fn == 0:
        return 1.0
    return tp / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--limit", type=int, default=None, help="score only the first N pages")
    args = parser.parse_args()

    print(f"{'extractor':<24} {'pages':>5} {'empty':>5} {'P':>6} {'R':>6} {'F1':>6} {'pages/s':>8}")
    for name, extractor in (
        ("veille extract()", veille_text),
        ("trafilatura.extract", trafilatura_text),
    ):
        scores = score_corpus(args.corpus, args.limit, extractor=extractor)
        print(
            f"{name:<24} {scores.pages:>5} {scores.empty:>5} {scores.precision:>6.3f} "
            f"{scores.recall:>6.3f} {scores.f1:>6.3f} {scores.pages_per_second:>8.1f}"
        )


if __name__ == "__main__":
    main()
