"""Comparing articles with the seed corpus: the five scenarios against the real seeds
(``../shared/seeds``), and the model's rules on small texts written here.

The articles in ``tests/data/seeds/`` are described in that directory's README.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from scrapy.utils.test import get_crawler

from pipelines.seed_compare import (
    NEW_FACTS_LIMIT,
    Comparison,
    SeedComparePipeline,
    SeedDocument,
    SeedIndex,
    prepare_seed,
    split_sentences,
)
from pipelines.tagging import tag_article
from pipelines.taxonomy import Taxonomy, load_taxonomy
from tests.conftest import shared_dir

DATA = Path(__file__).resolve().parents[1] / "data" / "seeds"
SEED_LANGUAGES = {"000": "fr", "001": "fr", "002": "fr", "003": "fr", "004": "zh"}
_PLACEHOLDER = re.compile(r"\{\{seed (\d{3}) paragraph (\d+)(?: sentences (\d+)-(\d+))?\}\}")


@dataclass(frozen=True)
class Article:
    title: str
    language: str
    text: str


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


@pytest.fixture(scope="module")
def seed_texts() -> dict[str, str]:
    shared = shared_dir()
    if shared is None or not (shared / "seeds").is_dir():
        pytest.skip("../shared/seeds is not present")
    return {
        path.name[:3]: path.read_text(encoding="utf-8")
        for path in sorted((shared / "seeds").glob("0*.txt"))
    }


@pytest.fixture(scope="module")
def seeds(seed_texts: dict[str, str], taxonomy: Taxonomy) -> list[SeedDocument]:
    return [
        prepare_seed(prefix, "", text, SEED_LANGUAGES[prefix], taxonomy)
        for prefix, text in seed_texts.items()
    ]


@pytest.fixture(scope="module")
def index(seeds: list[SeedDocument]) -> SeedIndex:
    return SeedIndex(seeds)


def load_article(name: str, seed_texts: dict[str, str] | None = None) -> Article:
    """A fixture article; placeholders are filled from the seed files (see the README)."""
    header, text = (DATA / name).read_text(encoding="utf-8").split("\n---\n", 1)
    fields = dict(line.split(": ", 1) for line in header.splitlines())

    def fill(match: re.Match[str]) -> str:
        assert seed_texts is not None
        paragraphs = [line for line in seed_texts[match.group(1)].splitlines() if line.strip()]
        paragraph = paragraphs[int(match.group(2)) - 1]
        if match.group(3):
            sentences = split_sentences(paragraph)
            first, last = sentences[int(match.group(3)) - 1], sentences[int(match.group(4)) - 1]
            paragraph = paragraph[first.start : last.end]
        return paragraph

    return Article(fields["title"], fields["language"], _PLACEHOLDER.sub(fill, text))


def compare(index: SeedIndex, article: Article, taxonomy: Taxonomy) -> Comparison:
    """The comparison as the pipeline makes it: with the article's relevant tags."""
    tags = tag_article(article.title, article.text, taxonomy)
    relevant = [tag.initiative for tag in tags if tag.relevant]
    return index.compare(article.title, article.text, article.language, relevant)


# --- The five scenarios against the real seeds ---------------------------------------------


def test_the_seeds_have_their_tags(seeds: list[SeedDocument]) -> None:
    tags = {seed.id: set(seed.tags) for seed in seeds}
    assert {"wic", "dsr"} <= tags["000"]
    assert {"waico", "apec_ai"} <= tags["001"]
    assert {"waico", "waic"} <= tags["004"]
    assert not any("gaigap" in seed_tags for seed_tags in tags.values())


def test_a_republished_copy_is_known(
    index: SeedIndex, seed_texts: dict[str, str], taxonomy: Taxonomy
) -> None:
    article = load_article("fr_republished_copy.txt", seed_texts)
    result = compare(index, article, taxonomy)
    assert result.status == "known"
    assert result.status_seed_id == "003"
    assert result.nearest[0].seed_id == "003"
    assert result.nearest[0].score > 0.9
    assert any(reason.startswith("shared fingerprint") for reason in result.nearest[0].reasons)
    # What is novel is the other site's boilerplate, never the seed's sentences.
    assert result.novel_sentences
    for sentence in result.novel_sentences:
        assert sentence.text not in seed_texts["003"]
        assert article.text[sentence.start : sentence.end] == sentence.text


def test_a_follow_up_is_found_with_exactly_its_new_facts(
    index: SeedIndex, taxonomy: Taxonomy
) -> None:
    article = load_article("zh_waico_follow_up.txt")
    result = compare(index, article, taxonomy)
    assert result.status == "follow-up"
    assert result.status_seed_id == "004"
    assert result.nearest[0].seed_id == "004"
    reasons = " | ".join(result.nearest[0].reasons)
    assert "shared initiatives: waic, waico" in reasons
    assert "--07-26" in reasons and "WAICO" in reasons and "Shanghai" in reasons
    assert {fact.key for fact in result.new_facts} == {"2025-12-12", "CNY:2e9"}
    assert [fact.phrase for fact in result.new_facts] == ["2025年12月12日", "20亿元"]
    assert result.new_fact_count == 2
    novel = [sentence.text for sentence in result.novel_sentences]
    assert any(sentence.startswith("2025年12月12日") for sentence in novel)
    assert any("20亿元" in sentence for sentence in novel)
    # The background paragraph retells seed 004 (traditional characters there): covered.
    assert not any(sentence.startswith("今年7月26日") for sentence in novel)


def test_an_english_report_is_linked_to_its_french_seed(
    index: SeedIndex, taxonomy: Taxonomy
) -> None:
    article = load_article("en_apec_report.txt")
    result = compare(index, article, taxonomy)
    best = result.nearest[0]
    assert best.seed_id == "001"
    assert len(result.nearest) == 1 or best.score > result.nearest[1].score + 0.2
    (facts_reason,) = [reason for reason in best.reasons if reason.startswith("shared facts")]
    for key in ("--11-01", "#32", "60%", "5e8", "CNY:6e10", "Gyeongju", "APEC"):
        assert key in facts_reason
    assert "across languages (en article, fr seed)" in " | ".join(best.reasons)
    # Every number and date of the report is in the seed: a report of it in another language.
    assert result.status == "known"
    assert result.status_seed_id == "001"
    assert not [fact for fact in result.new_facts if fact.kind != "name"]
    # Sentences stating the seed's numbers and dates are covered across languages.
    novel = " ".join(sentence.text for sentence in result.novel_sentences)
    assert "60 billion yuan" not in novel and "32nd" not in novel


def test_a_report_in_another_language_with_a_new_amount_is_a_follow_up(
    index: SeedIndex, taxonomy: Taxonomy
) -> None:
    article = load_article("en_apec_report.txt")
    added = (
        "\n\nChina will also put 5 billion yuan into AI training for developing countries "
        "from March 2026."
    )
    result = compare(index, Article(article.title, "en", article.text + added), taxonomy)
    assert result.status == "follow-up"
    assert result.status_seed_id == "001"
    assert {fact.key for fact in result.new_facts if fact.kind != "name"} == {
        "CNY:5e9",
        "2026-03",
    }
    assert result.novel_sentences[-1].text == added.strip()


def test_an_article_on_an_initiative_no_seed_covers_is_new(
    index: SeedIndex, taxonomy: Taxonomy
) -> None:
    article = load_article("fr_gaigap_seminar.txt")
    result = compare(index, article, taxonomy)
    assert result.status == "new"
    assert result.status_seed_id is None
    assert "gaigap" in result.status_reason
    assert {"2026-01-14", "Nairobi"} <= {fact.key for fact in result.new_facts}
    assert len(result.novel_sentences) == len(
        [s for s in split_sentences(article.text) if len(s.text.split()) >= 5]
    )


def test_an_irrelevant_article_has_no_status(index: SeedIndex, taxonomy: Taxonomy) -> None:
    article = load_article("en_port_volumes.txt")
    result = compare(index, article, taxonomy)
    assert result.status is None
    assert not any(match.score > 0.3 for match in result.nearest)


def test_every_seed_is_known_as_itself(
    index: SeedIndex, seeds: list[SeedDocument], seed_texts: dict[str, str]
) -> None:
    for seed in seeds:
        result = index.compare(None, seed_texts[seed.id], seed.language, seed.tags)
        assert result.status == "known"
        assert result.nearest[0].seed_id == seed.id
        assert result.nearest[0].score == 1.0
        assert result.nearest[0].reasons[0] == "exact copy (same fingerprint)"
        assert result.new_facts == []
        assert result.novel_sentences == []


# --- The model on small texts ----------------------------------------------------------------

SEED_FR = (
    "Le 1er novembre, le président Xi Jinping a pris la parole à Gyeongju lors de la 32e "
    "réunion des dirigeants de l'APEC. La Chine a créé un fonds de 60 milliards de yuans pour "
    "l'industrie de l'intelligence artificielle.\n"
    "La Chine a proposé la création d'une organisation mondiale de coopération sur l'IA, avec "
    "son siège à Shanghai."
)
SEED_OTHER = (
    "Le Forum de Wuzhen s'est tenu le 21 novembre 2024. La Route de la soie numérique relie "
    "désormais 17 pays, selon les organisateurs du forum, qui attendent 1 500 participants."
)


@pytest.fixture(scope="module")
def small_index(taxonomy: Taxonomy) -> SeedIndex:
    return SeedIndex(
        [
            prepare_seed("apec", "", SEED_FR, "fr", taxonomy),
            prepare_seed("wuzhen", "", SEED_OTHER, "fr", taxonomy),
        ]
    )


def test_an_exact_copy_with_other_spacing_is_known(small_index: SeedIndex) -> None:
    copy = SEED_FR.replace(". ", ".  ").replace("\n", "\n\n")
    result = small_index.compare("", copy, "fr", ["apec_ai"])
    assert (result.status, result.status_seed_id) == ("known", "apec")
    assert result.nearest[0].reasons[0] == "exact copy (same fingerprint)"


def test_a_date_with_a_year_is_not_new_against_the_same_day_without_one(
    small_index: SeedIndex,
) -> None:
    article = (
        "On 1 November 2025, President Xi Jinping spoke in Gyeongju at the 32nd meeting of APEC "
        "leaders. He announced a 60 billion yuan fund for the AI industry."
    )
    result = small_index.compare("", article, "en", ["apec_ai"])
    assert result.nearest[0].seed_id == "apec"
    assert result.new_facts == []
    assert result.status == "known"
    # The first sentence states the seed sentence's day, place, meeting and person; the second
    # has only one fact, which is not enough to say it makes the same statement.
    assert [sentence.text for sentence in result.novel_sentences] == [
        "He announced a 60 billion yuan fund for the AI industry."
    ]


def test_no_status_without_tags_but_still_the_nearest_seeds(small_index: SeedIndex) -> None:
    result = small_index.compare("", SEED_OTHER, "fr", [])
    assert result.status is None
    assert result.nearest[0].seed_id == "wuzhen"


def test_same_initiative_but_no_shared_thread_is_new(small_index: SeedIndex) -> None:
    article = (
        "Lors d'une réunion à Lima le 14 mars 2026, les ministres de l'APEC ont discuté des "
        "règles du commerce numérique et de 3 projets pilotes."
    )
    result = small_index.compare("", article, "fr", ["apec_ai"])
    assert result.status == "new"
    assert {fact.key for fact in result.new_facts} >= {"2026-03-14", "Lima"}


FOLLOW_UP = (
    "On 1 November, President Xi Jinping spoke in Gyeongju at the 32nd meeting of APEC leaders. "
    "However, the Summit also heard from Kenya. On Tuesday, Foreign Minister Musalia Mudavadi "
    "said Nairobi would host a training centre for 3,000 engineers from 40 African countries, "
    "funded with $2 billion, from 12 March 2026. The Centre will open in 2027 with 5 labs. "
    'Analysts at the Brookings Institution called the plan "Digital Bridge". '
    "Brazil and Indonesia will join, and 18% of the fund will go to women."
)


def test_new_facts_come_specific_first_and_only_the_first_eight(small_index: SeedIndex) -> None:
    result = small_index.compare("", FOLLOW_UP, "en", ["apec_ai"])
    assert (result.status, result.status_seed_id) == ("follow-up", "apec")
    # Amounts, counts, days and percentages; then names of several words and quoted names.
    assert [fact.phrase for fact in result.new_facts] == [
        "3,000 engineers", "40 African countries", "$2 billion", "12 March 2026", "18%",
        "Musalia Mudavadi", "Brookings Institution", '"Digital Bridge"',
    ]  # fmt: skip
    # All are counted: the six left out are single names, a year and a small number.
    assert result.new_fact_count == 14
    assert "with 14 new facts" in result.status_reason


def test_the_number_of_new_facts_listed_is_configurable(
    taxonomy: Taxonomy, small_index: SeedIndex
) -> None:
    seeds = [prepare_seed("apec", "", SEED_FR, "fr", taxonomy)]
    three = SeedIndex(seeds, new_facts_limit=3).compare("", FOLLOW_UP, "en", ["apec_ai"])
    eight = small_index.compare("", FOLLOW_UP, "en", ["apec_ai"])
    assert three.new_facts == eight.new_facts[:3]
    assert three.new_fact_count == eight.new_fact_count == 14
    many = SeedIndex(seeds, new_facts_limit=50).compare("", FOLLOW_UP, "en", ["apec_ai"])
    assert len(many.new_facts) == 14
    assert [fact.key for fact in many.new_facts[8:]] == [
        "Kenya", "Nairobi", "Brazil", "Indonesia", "2027", "5",
    ]  # fmt: skip
    # Nothing the seed states, and no capitalised common word, is among them.
    assert not {"Xi Jinping", "Gyeongju", "#32", "Summit", "Tuesday", "Centre", "Analysts"} & {
        fact.key for fact in many.new_facts
    }
    with pytest.raises(ValueError, match="at least 1"):
        SeedIndex(seeds, new_facts_limit=0)


def test_the_pipeline_reads_the_limit_from_the_crawl_settings(sqlite_url: str) -> None:
    settings = {"VEILLE_DATABASE_URL": sqlite_url, "VEILLE_NEW_FACTS_LIMIT": 5}
    pipeline = SeedComparePipeline.from_crawler(get_crawler(settings_dict=settings))
    assert pipeline.new_facts_limit == 5
    default = SeedComparePipeline.from_crawler(
        get_crawler(settings_dict={"VEILLE_DATABASE_URL": sqlite_url})
    )
    assert default.new_facts_limit == NEW_FACTS_LIMIT == 8
    pipeline.close_spider()
    default.close_spider()


def test_ubiquitous_facts_link_nothing(taxonomy: Taxonomy) -> None:
    seeds = [
        prepare_seed(str(n), "", f"La Chine a tenu la réunion numéro {n + 100} à Pékin.", "fr",
                     taxonomy)
        for n in range(6)
    ]  # fmt: skip
    index = SeedIndex(seeds)
    result = index.compare("", "La Chine et l'Inde ont signé un accord à New Delhi.", "fr", [])
    assert result.nearest == []
    assert "China" not in {fact.key for fact in result.new_facts}  # known to the corpus


def test_seed_ids_are_unique(taxonomy: Taxonomy) -> None:
    seed = prepare_seed("a", "", SEED_OTHER, "fr", taxonomy)
    with pytest.raises(ValueError, match="twice"):
        SeedIndex([seed, seed])


def test_a_seed_needs_text(taxonomy: Taxonomy) -> None:
    with pytest.raises(ValueError, match="no text"):
        prepare_seed("empty", "", " \n ", "fr", taxonomy)


# --- Sentences -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "M. Wang Yi est arrivé à Paris. Il a rencontré Mme Dupont le 3 mars ! Et ensuite ?",
            ["M. Wang Yi est arrivé à Paris.", "Il a rencontré Mme Dupont le 3 mars !",
             "Et ensuite ?"],
        ),
        (
            "Mr. Li met U.S. officials on Jan. 5. The talks, said Dr. Smith, went well. "
            "It cost 1.5 billion.",
            ["Mr. Li met U.S. officials on Jan. 5.", "The talks, said Dr. Smith, went well.",
             "It cost 1.5 billion."],
        ),
        (
            "中国政府倡议成立世界人工智能合作组织。总部设在上海！你同意吗？",
            ["中国政府倡议成立世界人工智能合作组织。", "总部设在上海！", "你同意吗？"],
        ),
        (
            "« Nous voulons apprendre. » Puis il est parti.\nUne ligne sans point",
            ["« Nous voulons apprendre. »", "Puis il est parti.", "Une ligne sans point"],
        ),
        (
            "pourquoi la chine a-t-elle proposé ce plan ? quelles actions seront entreprises ?",
            ["pourquoi la chine a-t-elle proposé ce plan ?",
             "quelles actions seront entreprises ?"],
        ),
    ],
)  # fmt: skip
def test_sentences_split_in_three_languages(text: str, expected: list[str]) -> None:
    sentences = split_sentences(text)
    assert [sentence.text for sentence in sentences] == expected
    for sentence in sentences:
        assert text[sentence.start : sentence.end] == sentence.text


def test_sentences_keep_original_offsets_through_pinyin_and_traditional_characters() -> None:
    text = "中國(guó)政府倡議成立世界人工智能合作組織。總部設(shè)在上海。"
    assert [sentence.text for sentence in split_sentences(text)] == [
        "中國(guó)政府倡議成立世界人工智能合作組織。",
        "總部設(shè)在上海。",
    ]
