"""Speed of comparing an article with a seed corpus of 1,000 documents.

Usage: ``python bench/seeddiff.py [--seeds N] [--articles N] [--random-seed N] [--seed-dir DIR]``

Builds a :class:`~pipelines.seed_compare.SeedIndex` of the five real seeds
(``../shared/seeds``) and synthetic variants, up to ``--seeds`` documents (1,000), then times
:meth:`~pipelines.seed_compare.SeedIndex.compare` on ``--articles`` articles (300): the median,
95th percentile and maximum, over articles after a warm-up. The time includes everything the
comparison does with the article (normalisation, fact extraction, shingles and MinHash, the
lookups, new facts and novel sentences), not tagging, which the pipeline has already done.

Synthetic seeds are made, with a fixed random seed, from the sentences of the real seeds and of
the articles in ``tests/data/seeds/``: French (half of them), English and Chinese documents of
about 400 words (700 Chinese characters), whose sentences are drawn at random and whose
numbers, dates and place names are changed, so that facts and texts differ from one seed to
the next as they would in a real corpus on one topic. The articles are a third trimmed copies
of seeds with other boilerplate, a third seeds with an added paragraph of new numbers, and a
third new documents made the same way as the seeds.

Also printed: the time to prepare a seed (tagging, facts, signature, sentences), to build the
index, the statuses found, how many new facts the follow-ups have and list, and the peak memory
of the process. The statuses are no measure of
quality: the synthetic documents are made of the seeds' own sentences, so most articles are
(rightly) known; the quality of the comparison is what ``tests/pipelines/test_seed_compare.py``
checks, on the real seeds.
"""

from __future__ import annotations

import argparse
import random
import re
import resource
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SEED_DIR = REPO_ROOT.parent / "shared" / "seeds"
FIXTURES = REPO_ROOT / "tests" / "data" / "seeds"

# Run as `python bench/seeddiff.py`, the script's own folder is on sys.path, not the repo.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from pipelines.seed_compare import (  # noqa: E402
    NEW_FACTS_LIMIT,
    SeedDocument,
    SeedIndex,
    prepare_seed,
    split_sentences,
)
from pipelines.tagging import tag_article  # noqa: E402
from pipelines.taxonomy import Taxonomy, load_taxonomy  # noqa: E402

SEED_LANGUAGES = {"000": "fr", "001": "fr", "002": "fr", "003": "fr", "004": "zh"}
WORDS_PER_DOCUMENT = 400
CJK_CHARACTERS_PER_DOCUMENT = 700
PLACES = {
    "fr": ["Shanghai", "Pékin", "Tianjin", "Hangzhou", "Wuzhen", "Genève", "New York", "Nairobi"],
    "en": ["Shanghai", "Beijing", "Tianjin", "Hangzhou", "Wuzhen", "Geneva", "New York", "Nairobi"],
    "zh": ["上海", "北京", "天津", "杭州", "乌镇", "日内瓦", "纽约", "内罗毕"],
}
BOILERPLATE = {
    "fr": ["Partager : Facebook | X | LinkedIn", "Lire aussi : l'actualité de la semaine en Asie"],
    "en": ["Share this story: Facebook | X | LinkedIn", "Read more: the week in Asia"],
    "zh": ["责任编辑：王明", "本文来源：新华网"],
}
_CJK = re.compile(r"[\u4e00-\u9fff]")
_DIGITS = re.compile(r"\d+")


def sentence_pools(seed_dir: Path) -> tuple[dict[str, list[str]], list[tuple[str, str, str]]]:
    """Sentences by language, and the real seeds as (id, language, text)."""
    pools: dict[str, list[str]] = {"fr": [], "en": [], "zh": []}
    real: list[tuple[str, str, str]] = []
    texts: list[tuple[str, str]] = []
    if seed_dir.is_dir():
        for path in sorted(seed_dir.glob("0*.txt")):
            text = path.read_text(encoding="utf-8")
            real.append((path.stem, SEED_LANGUAGES.get(path.name[:3], "fr"), text))
            texts.append((SEED_LANGUAGES.get(path.name[:3], "fr"), text))
    for path in sorted(FIXTURES.glob("*.txt")):
        header, text = path.read_text(encoding="utf-8").split("\n---\n", 1)
        if "{{" not in text:
            texts.append((re.search(r"language: (\w+)", header).group(1), text))  # type: ignore[union-attr]
    for language, text in texts:
        for sentence in split_sentences(text):
            if len(sentence.text) < 25:
                continue
            if language == "zh":  # seed 004 mixes Chinese and English
                pools["zh" if _CJK.search(sentence.text) else "en"].append(sentence.text)
            else:
                pools[language].append(sentence.text)
    return pools, real


def vary(sentence: str, language: str, rng: random.Random) -> str:
    """The sentence with other numbers and places."""
    sentence = _DIGITS.sub(
        lambda match: (
            str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in match[0][1:])
            if rng.random() < 0.6
            else match[0]
        ),
        sentence,
    )
    for place in PLACES[language]:
        if place in sentence and rng.random() < 0.5:
            sentence = sentence.replace(place, rng.choice(PLACES[language]))
    return sentence


def synthetic_document(pool: list[str], language: str, rng: random.Random) -> str:
    paragraphs: list[str] = []
    size = 0
    target = CJK_CHARACTERS_PER_DOCUMENT if language == "zh" else WORDS_PER_DOCUMENT
    while size < target:
        paragraph = " ".join(
            vary(rng.choice(pool), language, rng) for _ in range(rng.randint(2, 4))
        )
        paragraphs.append(paragraph.replace("。 ", "。"))
        size += len(_CJK.findall(paragraph)) if language == "zh" else len(paragraph.split())
    return "\n\n".join(paragraphs)


def random_language(rng: random.Random) -> str:
    return rng.choices(["fr", "en", "zh"], weights=[2, 1, 1])[0]


def build_seeds(
    count: int, pools: dict[str, list[str]], real: list[tuple[str, str, str]], rng: random.Random
) -> list[tuple[str, str, str]]:
    seeds = list(real)
    while len(seeds) < count:
        language = random_language(rng)
        seeds.append(
            (
                f"synthetic-{len(seeds):04d}",
                language,
                synthetic_document(pools[language], language, rng),
            )
        )
    return seeds


def build_articles(
    count: int,
    seeds: list[tuple[str, str, str]],
    pools: dict[str, list[str]],
    rng: random.Random,
) -> list[tuple[str, str]]:
    """(language, text): trimmed copies, seeds with a new paragraph, new documents."""
    articles: list[tuple[str, str]] = []
    for number in range(count):
        _seed_id, language, text = rng.choice(seeds)
        paragraphs = [paragraph for paragraph in text.split("\n") if paragraph.strip()]
        if number % 3 == 0:
            kept = [p for p in paragraphs if rng.random() > 0.3] or paragraphs[:1]
            articles.append((language, "\n\n".join([*kept, *BOILERPLATE[language]])))
        elif number % 3 == 1:
            added = vary(rng.choice(pools[language]), language, rng)
            articles.append((language, "\n\n".join([*paragraphs[: len(paragraphs) // 2], added])))
        else:
            language = random_language(rng)
            articles.append((language, synthetic_document(pools[language], language, rng)))
    return articles


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def run(seed_count: int, article_count: int, random_seed: int, seed_dir: Path) -> None:
    rng = random.Random(random_seed)
    taxonomy: Taxonomy = load_taxonomy()
    pools, real = sentence_pools(seed_dir)
    if not real:
        print(f"note: no seeds in {seed_dir}; synthetic seeds only, from tests/data/seeds")
    raw_seeds = build_seeds(seed_count, pools, real, rng)
    words = [len(text.split()) for _id, language, text in raw_seeds if language != "zh"]
    print(
        f"{len(raw_seeds)} seeds: {len(real)} real, "
        + ", ".join(f"{n} {lang}" for lang, n in sorted(Counter(s[1] for s in raw_seeds).items()))
        + f"; {statistics.median(words):.0f} words (median, fr/en)"
    )

    started = time.perf_counter()
    documents: list[SeedDocument] = [
        prepare_seed(seed_id, "", text, language, taxonomy) for seed_id, language, text in raw_seeds
    ]
    prepared = time.perf_counter() - started
    started = time.perf_counter()
    index = SeedIndex(documents)
    built = time.perf_counter() - started
    print(
        f"prepare_seed: {prepared / len(documents) * 1000:.1f} ms per seed; "
        f"SeedIndex of {len(index)}: {built:.2f} s"
    )

    articles = build_articles(article_count, raw_seeds, pools, rng)
    tagged = [
        (language, text, [t.initiative for t in tag_article(None, text, taxonomy) if t.relevant])
        for language, text in articles
    ]
    for language, text, tags in tagged[:5]:  # warm-up: regular expressions, caches
        index.compare(None, text, language, tags)
    times: list[float] = []
    statuses: Counter[str] = Counter()
    new_facts: list[tuple[int, int]] = []  # (found, listed) for each follow-up
    for language, text, tags in tagged:
        started = time.perf_counter()
        result = index.compare(None, text, language, tags)
        times.append(time.perf_counter() - started)
        statuses[result.status or "none"] += 1
        if result.status == "follow-up":
            new_facts.append((result.new_fact_count, len(result.new_facts)))
    times_ms = [t * 1000 for t in times]
    print(
        f"compare, {len(times)} articles against {len(index)} seeds: "
        f"median {statistics.median(times_ms):.1f} ms, p95 {percentile(times_ms, 0.95):.1f} ms, "
        f"max {max(times_ms):.1f} ms"
    )
    print("statuses: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
    if new_facts:
        found = [count for count, _listed in new_facts]
        print(
            f"new facts of a follow-up: median {statistics.median(found):g}, "
            f"max {max(found)}; listed: at most {max(listed for _count, listed in new_facts)} "
            f"(NEW_FACTS_LIMIT {NEW_FACTS_LIMIT})"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of the process: {peak:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=1000, help="seed documents in the index")
    parser.add_argument("--articles", type=int, default=300, help="articles to compare")
    parser.add_argument("--random-seed", type=int, default=20251122)
    parser.add_argument("--seed-dir", type=Path, default=DEFAULT_SEED_DIR)
    args = parser.parse_args()
    run(args.seeds, args.articles, args.random_seed, args.seed_dir)


if __name__ == "__main__":
    main()
