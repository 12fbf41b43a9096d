"""Tagging: the seeds, the labelled evaluation set and its traps, evidence, zones, the taxonomy."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pipelines.tagging import (
    LEAD_CUT_CHARS,
    Tag,
    explain,
    is_relevant,
    lead_end,
    tag_article,
)
from pipelines.taxonomy import Taxonomy, TaxonomyError, load_taxonomy
from tests.conftest import shared_dir

EVAL_SET = Path(__file__).resolve().parents[1] / "data" / "tagging" / "eval.jsonl"
INITIATIVES = {
    "waico", "gaigi", "gaigap", "unga_res", "cap_plan", "group_friends", "cap_workshop",
    "waic", "wic", "dsr", "ai_plus", "apec_ai", "brics_ai", "sco_ai",
}  # fmt: skip
TRAPS = {
    "sco_vs_waico", "us_ai_action_plan", "world_intelligence_congress", "silk_road_tourism",
    "ai_plus_phone", "us_morocco_group_of_friends", "world_robot_cooperation_organization",
    "cadre_ai_training", "waic_expo", "waic_prefix", "world_intelligence_expo",
    "global_governance_initiative", "us_unga_ai_resolution", "un_scientific_panel", "pgiai",
}  # fmt: skip


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


def relevant(tags: list[Tag]) -> set[str]:
    return {tag.initiative for tag in tags if tag.relevant}


# --- The seed corpus ------------------------------------------------------------------------


def seed_expectations() -> list[Any]:
    """(file prefix, must have, may also have) from the table in ../shared/seeds/README.md."""
    found = shared_dir()
    readme = found / "seeds" / "README.md" if found else None
    if readme is None or not readme.is_file():
        return [pytest.param("", set(), set(), marks=pytest.mark.skip(reason="no ../shared/seeds"))]
    rows = re.findall(r"^\| (\d{3}) \| ([a-z_, ]+) \| ([a-z_, —-]+) \|$", readme.read_text(), re.M)
    assert len(rows) >= 5, "the seeds README has no table of expected tags"

    def ids(cell: str) -> set[str]:
        return {name.strip() for name in cell.split(",") if name.strip() in INITIATIVES}

    return [pytest.param(prefix, ids(must), ids(may), id=prefix) for prefix, must, may in rows]


@pytest.mark.parametrize(("prefix", "must", "may"), seed_expectations())
def test_seeds_get_their_tags_and_no_others(
    taxonomy: Taxonomy, prefix: str, must: set[str], may: set[str]
) -> None:
    seeds = shared_dir() / "seeds"  # type: ignore[operator]
    (path,) = seeds.glob(f"{prefix}_*.txt")
    tags = relevant(tag_article(None, path.read_text(encoding="utf-8"), taxonomy))
    assert must <= tags, f"missing {must - tags}"
    assert tags <= must | may, f"unexpected {tags - must - may}"


# --- The labelled evaluation set -------------------------------------------------------------


def eval_items() -> list[dict[str, Any]]:
    return [json.loads(line) for line in EVAL_SET.read_text(encoding="utf-8").splitlines()]


def by_id(items: list[dict[str, Any]]) -> list[Any]:
    return [pytest.param(item, id=item["id"]) for item in items]


POSITIVES = by_id([item for item in eval_items() if item["tags"]])
NEGATIVES = by_id([item for item in eval_items() if item["trap"] or not item["tags"]])


def test_the_evaluation_set_covers_every_initiative_language_script_and_trap() -> None:
    items = eval_items()
    positives = Counter(tag for item in items for tag in item["tags"])
    assert set(positives) == INITIATIVES
    assert min(positives.values()) >= 2
    assert {item["lang"] for item in items} == {"en", "fr", "zh"}
    assert {item["script"] for item in items if item["lang"] == "zh"} == {
        "hans", "hant", "hant-tw", "hant-pinyin",
    }  # fmt: skip
    assert {item["trap"] for item in items} >= TRAPS
    assert sum(1 for item in items if not item["tags"] and not item["trap"]) >= 5
    assert len({item["id"] for item in items}) == len(items)


@pytest.mark.parametrize("item", POSITIVES)
def test_every_positive_finds_its_initiatives(taxonomy: Taxonomy, item: dict[str, Any]) -> None:
    tags = tag_article(item["title"], item["text"], taxonomy)
    missing = set(item["tags"]) - relevant(tags)
    assert not missing, f"missing {missing}:\n{explain(tags)}"


@pytest.mark.parametrize("item", NEGATIVES)
def test_traps_and_other_news_stay_untagged(taxonomy: Taxonomy, item: dict[str, Any]) -> None:
    tags = tag_article(item["title"], item["text"], taxonomy)
    extra = relevant(tags) - set(item["tags"])
    assert not extra, f"tagged {extra}:\n{explain(tags)}"


@pytest.mark.parametrize("item", POSITIVES + NEGATIVES)
def test_evidence_quotes_the_original_title_and_text(
    taxonomy: Taxonomy, item: dict[str, Any]
) -> None:
    for tag in tag_article(item["title"], item["text"], taxonomy):
        for evidence in tag.evidence:
            source = item["title"] if evidence.zone == "title" else item["text"]
            assert evidence.phrase
            assert source[evidence.start : evidence.end] == evidence.phrase


def test_evidence_is_in_the_script_of_the_article(taxonomy: Taxonomy) -> None:
    text = "中國(guó)政府倡議(yì)成立世界人工智慧合作組(zǔ)織(zhī)，總(zǒng)部設(shè)在上海。"
    (tag,) = [tag for tag in tag_article(None, text, taxonomy) if tag.initiative == "waico"]
    assert tag.relevant
    names = [evidence for evidence in tag.evidence if evidence.kind == "name"]
    assert names[0].phrase == "世界人工智慧合作組(zǔ)織(zhī)"
    assert text[names[0].start : names[0].end] == names[0].phrase


# --- Matching ------------------------------------------------------------------------------


LOWER_CASE_GROUP_OF_FRIENDS = (
    "le groupe d'amis pour la coopération internationale en matière de renforcement des "
    "capacités en matière d'intelligence artificielle"
)


@pytest.mark.parametrize(
    ("text", "initiative"),
    [
        # Machine translation: 智能 as « renseignement ».
        (
            "une organisation mondiale de coopération en matière de renseignement artificiel",
            "waico",
        ),
        # Curly apostrophes, British spelling, an inserted "(AI)".
        ("Beijing’s World Artificial Intelligence (AI) Co-operation Organisation", "waico"),
        ("l’Organisation mondiale de coopération sur l’intelligence artificielle", "waico"),
        # Quotes splitting a Chinese title; full-width plus; Taiwan vocabulary.
        ('联大"加强人工智能能力建设国际合作"决议', "unga_res"),
        ("全面实施「人工智能＋」行動", "ai_plus"),
        ("《人工智慧全球治理行動計畫》", "gaigap"),
        # A name split over an all-lower-case, machine-translated sentence.
        (LOWER_CASE_GROUP_OF_FRIENDS, "group_friends"),
    ],
)
def test_writings_of_a_name_are_found(taxonomy: Taxonomy, text: str, initiative: str) -> None:
    assert initiative in relevant(tag_article(None, text, taxonomy))


def test_acronyms_match_as_whole_words_only(taxonomy: Taxonomy) -> None:
    tags = tag_article(None, "WAICO will open a secretariat next year.", taxonomy)
    assert "waic" not in {tag.initiative for tag in tags}
    assert "waico" in relevant(tags)


def test_a_negative_term_hides_the_terms_it_overlaps(taxonomy: Taxonomy) -> None:
    text = "Zambia joined the Group of Friends on AI for Sustainable Development."
    assert tag_article(None, text, taxonomy) == []  # no "Group of Friends" keyword inside
    text += " The Group of Friends met again in May."
    (tag,) = tag_article(None, text, taxonomy)
    assert not tag.relevant  # and it cancels the keyword found elsewhere
    kinds = {evidence.phrase: evidence.kind for evidence in tag.evidence}
    assert kinds["Group of Friends on AI for Sustainable Development"] == "negative"
    assert kinds["Group of Friends"] == "keyword"


def test_ambiguous_names_are_cancelled_by_a_negative_term(taxonomy: Taxonomy) -> None:
    international = "外交部在北京举办人工智能能力建设研讨班，来自30个发展中国家的官员参加。"
    domestic = "省委组织部举办领导干部人工智能能力建设研讨班，提升干部运用人工智能的本领。"
    assert "cap_workshop" in relevant(tag_article(None, international, taxonomy))
    assert "cap_workshop" not in relevant(tag_article(None, domestic, taxonomy))


# --- Scoring -------------------------------------------------------------------------------

SMALL_TAXONOMY = """
version = 1
[[initiatives]]
id = "dsr"
label = "Digital Silk Road"
names.en = ["Digital Silk Road"]
keywords.en = ["DSR"]
context.en = ["Belt and Road"]
negative.en = ["debt service ratio"]
query.en = ["\\"Digital Silk Road\\""]

[[initiatives]]
id = "waic"
label = "World AI Conference"
ambiguous_names = true
names.en = ["World AI Conference"]
context.en = ["governance"]
"""


@pytest.fixture
def small_taxonomy(tmp_path: Path) -> Taxonomy:
    path = tmp_path / "taxonomy.toml"
    path.write_text(SMALL_TAXONOMY, encoding="utf-8")
    return load_taxonomy(path)


def score_of(tags: list[Tag], initiative: str) -> float:
    return next((tag.score for tag in tags if tag.initiative == initiative), 0.0)


def test_the_title_and_the_lead_weigh_more_than_a_mention_deep_in_the_body(
    small_taxonomy: Taxonomy,
) -> None:
    filler = "Markets were calm on Tuesday and traders waited for new figures. " * 20
    in_title = tag_article("The Digital Silk Road reaches Africa", filler, small_taxonomy)
    in_lead = tag_article(None, "The Digital Silk Road reaches Africa.\n" + filler, small_taxonomy)
    deep = tag_article(None, filler + "\nThe Digital Silk Road reaches Africa.", small_taxonomy)
    assert score_of(in_title, "dsr") > score_of(in_lead, "dsr") > score_of(deep, "dsr") > 0
    assert is_relevant(deep)  # a name alone is enough, wherever it is
    (evidence,) = deep[0].evidence
    assert evidence.zone == "body"


def test_a_keyword_needs_context_and_no_negative(small_taxonomy: Taxonomy) -> None:
    alone = tag_article("DSR talks resume", "Officials met on Monday.", small_taxonomy)
    with_context = tag_article("DSR talks resume", "Belt and Road officials met.", small_taxonomy)
    vetoed = tag_article(
        "DSR talks resume",
        "Belt and Road officials met. The debt service ratio (DSR) worries lenders.",
        small_taxonomy,
    )
    assert not is_relevant(alone) and score_of(alone, "dsr") == 0
    assert is_relevant(with_context)
    assert not is_relevant(vetoed)
    assert "negative" in explain(vetoed)


def test_a_keyword_in_the_body_needs_a_second_one_or_a_better_place(
    small_taxonomy: Taxonomy,
) -> None:
    lead = "Belt and Road officials met on Monday to review projects in Asia and Africa. " * 3
    once = tag_article(None, lead + "\nThe DSR was discussed.", small_taxonomy)
    twice = tag_article(None, lead + "\nThe DSR was discussed. The DSR again.", small_taxonomy)
    assert not is_relevant(once)
    assert not is_relevant(twice)  # repeating a term adds less each time


def test_ambiguous_names_count_only_with_context(small_taxonomy: Taxonomy) -> None:
    expo = tag_article("Robots at the World AI Conference", "Crowds queued.", small_taxonomy)
    forum = tag_article(
        "World AI Conference opens", "Ministers discussed AI governance.", small_taxonomy
    )
    assert not is_relevant(expo) and expo[0].score == 0
    assert relevant(forum) == {"waic"}


def test_tags_come_best_first_with_evidence_in_order(taxonomy: Taxonomy) -> None:
    tags = tag_article(
        "WAICO: a World AI Cooperation Organization in Shanghai",
        "Li Qiang spoke at the World Artificial Intelligence Conference on AI governance. "
        "China also backs the Digital Silk Road.",
        taxonomy,
    )
    assert [tag.initiative for tag in tags][:1] == ["waico"]
    assert [tag.score for tag in tags] == sorted((tag.score for tag in tags), reverse=True)
    for tag in tags:
        zones = [evidence.zone for evidence in tag.evidence]
        assert zones == sorted(zones, key=lambda zone: zone != "title")
    assert tag_article(None, "Nothing to see here.", taxonomy) == []


def test_tagging_is_deterministic(taxonomy: Taxonomy) -> None:
    item = eval_items()[0]
    first = tag_article(item["title"], item["text"], taxonomy)
    assert first == tag_article(item["title"], item["text"], taxonomy)


def test_explain_names_each_initiative_its_score_and_its_phrases(taxonomy: Taxonomy) -> None:
    tags = tag_article("La Route de la soie numérique", "Un texte sans rapport.", taxonomy)
    text = explain(tags)
    assert "dsr: score 3.00, relevant" in text
    assert "'Route de la soie numérique'" in text
    assert explain([]) == "no initiative found"


# --- The lead ------------------------------------------------------------------------------


def test_the_lead_is_the_first_paragraph() -> None:
    first = "A first paragraph that is long enough to be a lead on its own, " * 2
    text = first + "\nSecond paragraph."
    assert lead_end(text) == len(first)


def test_a_short_first_paragraph_takes_the_next_ones_with_it() -> None:
    caption = "Delegates in Shanghai, 26 July 2025. /CFP"
    body = "The conference opened with a speech on cooperation and governance. " * 2
    text = caption + "\n\n" + body + "\nMore."
    assert lead_end(text) == len(caption) + 2 + len(body)


def test_a_very_long_first_paragraph_is_cut() -> None:
    text = "word " * 400
    assert LEAD_CUT_CHARS <= lead_end(text) < LEAD_CUT_CHARS + 40
    assert lead_end("") == 0


# --- The taxonomy file -----------------------------------------------------------------------


def test_the_packaged_taxonomy_has_every_initiative_in_three_languages(
    taxonomy: Taxonomy,
) -> None:
    assert set(taxonomy.ids) == INITIATIVES
    for initiative in taxonomy.initiatives:
        languages = {term.language for term in initiative.terms_of("name", "alias")}
        assert {"en", "fr", "zh"} <= languages, initiative.id


def test_query_terms_per_language(taxonomy: Taxonomy, small_taxonomy: Taxonomy) -> None:
    assert "World AI Cooperation Organization" in taxonomy.query_terms("waico", "en")
    assert "WAICO" in taxonomy.query_terms("waico", "en")
    french = taxonomy.query_terms("waico", "fr")
    assert "Organisation mondiale de coopération en matière d'intelligence artificielle" in french
    chinese = taxonomy.query_terms("waico", "zh")
    assert {"世界人工智能合作组织", "世界人工智慧合作組織"} <= set(chinese)
    assert not set(chinese) & set(french)
    assert taxonomy.query_terms("waico", "de") == []
    assert small_taxonomy.query_terms("dsr", "en") == ['"Digital Silk Road"']  # set in the file
    with pytest.raises(KeyError):
        taxonomy.query_terms("nothing", "en")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('keywords.en = ["DSR"]', "keywords.en = [3]"), "initiative 'dsr': keywords.en.0"),
        (('names.en = ["Digital Silk Road"]', ""), "initiative 'dsr': names: at least one"),
        (('label = "Digital Silk Road"', 'label = "DSR"\ncolour = "red"'), "unknown key 'colour'"),
        (('context.en = ["Belt and Road"]', 'context.english = ["x"]'), "context.english"),
        (('keywords.en = ["DSR"]', 'keywords.en = ["digital silk-road"]'), "one role only"),
        (('id = "waic"', 'id = "dsr"'), "initiative 'dsr': id: used twice"),
        (('id = "waic"', 'id = "World AI"'), "initiatives.1: id: must be a slug"),
        (("ambiguous_names = true", "ambiguous_names = 1"), "ambiguous_names"),
        (("version = 1", "version = 2"), "version: must be 1"),
        (('label = "World AI Conference"', 'label = "x"\nthreshold = -1'), "threshold"),
        (("version = 1", "version = 1\n[scoring]\ntitle_weight = 0"), "scoring.title_weight"),
        (('names.en = ["World AI Conference"]', "names.en = ["), "not valid TOML"),
    ],
)
def test_a_broken_taxonomy_says_where(tmp_path: Path, change: tuple[str, str], message: str):
    path = tmp_path / "mine.toml"
    old, new = change
    assert old in SMALL_TAXONOMY
    path.write_text(SMALL_TAXONOMY.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(TaxonomyError) as raised:
        load_taxonomy(path)
    assert str(path) in str(raised.value)
    assert message in str(raised.value)


def test_a_missing_taxonomy_file_is_a_taxonomy_error(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match="cannot read"):
        load_taxonomy(tmp_path / "absent.toml")
