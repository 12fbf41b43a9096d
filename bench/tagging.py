"""Tagging quality on the labelled evaluation set, and tagging speed on a long article.

Usage: ``python bench/tagging.py [--eval FILE] [--taxonomy FILE] [--errors]``

Quality: each article of the set (``tests/data/tagging/eval.jsonl``) lists the initiatives it is
about; an initiative is predicted when its tag is relevant. Prints precision and recall per
initiative and overall (micro-averaged over article-initiative pairs), and, with ``--errors``,
every false positive and false negative with the tagger's explanation.

Speed: the time :func:`pipelines.tagging.tag_article` takes, normalisation included, on an
article of about 5,000 words made of the set's English and French texts (and on a Chinese
article of about 8,000 characters), as the median of repeated runs: a typical one (one story
about an initiative among unrelated news) and a dense one (every paragraph about initiatives).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_EVAL = REPO_ROOT / "tests" / "data" / "tagging" / "eval.jsonl"

# Run as `python bench/tagging.py`, the script's own folder is on sys.path, not the repo.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from pipelines.tagging import explain, tag_article  # noqa: E402
from pipelines.taxonomy import Taxonomy, load_taxonomy  # noqa: E402

LONG_ARTICLE_WORDS = 5000
LONG_CHINESE_CHARS = 8000


@dataclass(frozen=True, slots=True)
class EvalItem:
    id: str
    lang: str
    title: str | None
    text: str
    tags: frozenset[str]
    trap: str | None


@dataclass(frozen=True, slots=True)
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def load_eval_set(path: Path) -> list[EvalItem]:
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            data = json.loads(line)
            items.append(
                EvalItem(
                    data["id"],
                    data["lang"],
                    data.get("title"),
                    data["text"],
                    frozenset(data["tags"]),
                    data.get("trap"),
                )
            )
    return items


def predict(item: EvalItem, taxonomy: Taxonomy) -> frozenset[str]:
    tags = tag_article(item.title, item.text, taxonomy)
    return frozenset(tag.initiative for tag in tags if tag.relevant)


def score(items: list[EvalItem], taxonomy: Taxonomy) -> dict[str, Counts]:
    """Counts per initiative id, and overall under the key ``""``."""
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for item in items:
        predicted = predict(item, taxonomy)
        for initiative in predicted & item.tags:
            tp[initiative] += 1
        for initiative in predicted - item.tags:
            fp[initiative] += 1
        for initiative in item.tags - predicted:
            fn[initiative] += 1
    counts = {i: Counts(tp[i], fp[i], fn[i]) for i in taxonomy.ids}
    counts[""] = Counts(tp.total(), fp.total(), fn.total())
    return counts


def long_article(items: list[EvalItem], chinese: bool, dense: bool) -> str:
    """A long article made of the set's texts. Dense: all of them, in turn, so that nearly
    every paragraph names initiatives (the worst case). Typical: one article about an
    initiative, then the set's unrelated news, repeated."""
    same_language = [item for item in items if (item.lang == "zh") == chinese]
    if dense:
        texts = [item.text for item in same_language]
    else:
        texts = [item.text for item in same_language if not item.tags]
        texts.insert(0, next(item.text for item in same_language if item.tags))
    paragraphs: list[str] = []
    while True:
        for text in texts:
            paragraphs.append(text)
            article = "\n\n".join(paragraphs)
            if chinese and len(article) >= LONG_CHINESE_CHARS:
                return article
            if not chinese and len(article.split()) >= LONG_ARTICLE_WORDS:
                return article
        if not dense:
            del texts[0]  # the one relevant article appears once


def time_tagging(text: str, taxonomy: Taxonomy, runs: int = 30) -> float:
    """Median seconds for one :func:`tag_article` call."""
    tag_article("Warm-up", text, taxonomy)
    durations = []
    for _ in range(runs):
        started = time.perf_counter()
        tag_article(None, text, taxonomy)
        durations.append(time.perf_counter() - started)
    return statistics.median(durations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--eval", type=Path, default=DEFAULT_EVAL)
    parser.add_argument("--taxonomy", type=Path, default=None, help="default: the packaged one")
    parser.add_argument("--errors", action="store_true", help="explain every wrong decision")
    args = parser.parse_args()

    started = time.perf_counter()
    taxonomy = load_taxonomy(args.taxonomy)
    load_seconds = time.perf_counter() - started
    items = load_eval_set(args.eval)

    counts = score(items, taxonomy)
    print(f"{len(items)} articles, {sum(1 for i in items if i.trap)} traps")
    print(f"{'initiative':<14} {'TP':>4} {'FP':>4} {'FN':>4} {'P':>6} {'R':>6}")
    for initiative, count in counts.items():
        print(
            f"{initiative or 'overall':<14} {count.tp:>4} {count.fp:>4} {count.fn:>4} "
            f"{count.precision:>6.3f} {count.recall:>6.3f}"
        )

    if args.errors:
        for item in items:
            predicted = predict(item, taxonomy)
            if predicted != item.tags:
                extra, missing = sorted(predicted - item.tags), sorted(item.tags - predicted)
                print(f"\n{item.id}: false positives {extra}, false negatives {missing}")
                print(explain(tag_article(item.title, item.text, taxonomy)))

    print(f"\ntaxonomy loaded and compiled in {load_seconds * 1000:.0f} ms")
    for dense in (False, True):
        for label, chinese in (("words, English and French", False), ("characters, Chinese", True)):
            article = long_article(items, chinese, dense)
            size = len(article) if chinese else len(article.split())
            seconds = time_tagging(article, taxonomy)
            print(
                f"{'dense' if dense else 'typical'} article of {size:,} {label}: "
                f"{seconds * 1000:.2f} ms per article, {1 / seconds:.0f} articles per second"
            )


if __name__ == "__main__":
    main()
