"""Fact extraction: numbers with units, dates and names in English, French and Chinese, with
keys that do not depend on the language; offsets into the original text."""

from __future__ import annotations

import itertools
import tomllib
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from pipelines.facts import (
    Fact,
    date_index_keys,
    date_query_keys,
    extract_facts,
    is_counted,
    is_hard_fact,
    is_quoted,
    number_key,
)
from tests.conftest import shared_dir

DATA = Path(__file__).resolve().parents[1] / "data" / "seeds"


def keys(text: str, language: str | None = None, kind: str | None = None) -> list[str]:
    return [fact.key for fact in extract_facts(text, language) if kind in (None, fact.kind)]


def only(text: str, language: str | None = None) -> Fact:
    (fact,) = extract_facts(text, language)
    return fact


# --- Amounts, percentages, numbers ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("un fonds de 60 milliards de yuans", "fr"),
        ("a fund of 60 billion yuan", "en"),
        ("总额600亿元的基金", "zh"),
        ("總額六百億元的基金", "zh"),
        ("RMB 60 billion", "en"),
        ("人民币600亿元", "zh"),
        ("60 milliards de yuans", None),
    ],
)
def test_the_same_amount_has_the_same_key_in_every_language(text: str, language: str) -> None:
    assert keys(text, language, "money") == ["CNY:6e10"]


@pytest.mark.parametrize(
    ("text", "language", "key"),
    [
        ("53 900 milliards de yuans", "fr", "CNY:5.39e13"),
        ("53\u202f900 milliards de yuans", "fr", "CNY:5.39e13"),  # narrow no-break space
        ("53.9 trillion yuan", "en", "CNY:5.39e13"),
        ("53.9万亿元", "zh", "CNY:5.39e13"),
        ("$1.5 trillion", "en", "USD:1.5e12"),
        ("1.5 trillion US dollars", "en", "USD:1.5e12"),
        ("1,5 milliard d'euros", "fr", "EUR:1.5e9"),
        ("3 billions de yuans", "fr", "CNY:3e12"),  # a French billion is a million millions
        ("3 billion yuan", "en", "CNY:3e9"),
        ("3000亿美元", "zh", "USD:3e11"),
        ("€2bn", "en", "EUR:2e9"),
        ("$5m", "en", "USD:5e6"),
        ("20亿元", "zh", "CNY:2e9"),
        ("600多亿元", "zh", "CNY:6e10"),
    ],
)
def test_amounts(text: str, language: str, key: str) -> None:
    fact = only(text, language)
    assert (fact.kind, fact.key) == ("money", key)
    assert fact.phrase == text


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("42,8 %", "fr"),
        ("42,8\u00a0%", "fr"),
        ("42.8%", "en"),
        ("42.8 percent", "en"),
        ("42.8 per cent", "en"),
        ("42,8 pour cent", "fr"),
        ("42.8％", "zh"),
        ("百分之四十二点八", "zh"),
        ("百分之42.8", "zh"),
    ],
)
def test_percentages(text: str, language: str) -> None:
    fact = only(text, language)
    assert (fact.kind, fact.key, fact.phrase) == ("percent", "42.8%", text)


@pytest.mark.parametrize(
    ("text", "language", "key"),
    [
        ("plus de 500 millions d'utilisateurs", "fr", "5e8"),
        ("more than 500 million users", "en", "5e8"),
        ("超过5亿用户", "zh", "5e8"),
        ("3万人", "zh", "30000"),
        ("1 000 participants", "fr", "1000"),
        ("1,000 participants", "en", "1000"),
        ("53 900 entreprises", "fr", "53900"),
        ("53,900 companies", "en", "53900"),
        ("10 actions", "fr", "10"),
        ("la 32e réunion", "fr", "#32"),
        ("the 32nd meeting", "en", "#32"),
        ("第三十二次会议", "zh", "#32"),
        ("第79届联合国大会", "zh", "#79"),
        ("le 21e siècle", "fr", "#21"),
    ],
)
def test_numbers_and_ordinals(text: str, language: str, key: str) -> None:
    assert keys(text, language, "number") == [key]


@pytest.mark.parametrize(
    "text",
    ["5G networks", "COVID-19", "resolution A/RES/78/311", "at 10:30", "version v2", "08h40"],
)
def test_digits_inside_codes_are_not_numbers(text: str) -> None:
    assert keys(text, "en", "number") == []


def test_number_keys() -> None:
    assert number_key(6e10) == "6e10"
    assert number_key(53.9e12) == "5.39e13"
    assert number_key(42.8) == "42.8"
    assert number_key(1000) == "1000"
    assert number_key(1e6) == "1e6"


# --- Dates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("2025年7月26日", "zh", ["2025-07-26"]),
        ("2025年7月", "zh", ["2025-07"]),
        ("7月26日", "zh", ["--07-26"]),
        ("2025年7月26日至28日", "zh", ["2025-07-26", "2025-07-28"]),
        ("2025年7月30日至8月2日", "zh", ["2025-07-30", "2025-08-02"]),
        ("26 July 2025", "en", ["2025-07-26"]),
        ("July 26, 2025", "en", ["2025-07-26"]),
        ("on July 26", "en", ["--07-26"]),
        ("26–28 July 2025", "en", ["2025-07-26", "2025-07-28"]),
        ("Sept. 3, 2024", "en", ["2024-09-03"]),
        ("in May 2025", "en", ["2025-05"]),
        ("le 26 juillet 2025", "fr", ["2025-07-26"]),
        ("le 1er novembre", "fr", ["--11-01"]),
        ("du 26 au 28 juillet 2025", "fr", ["2025-07-26", "2025-07-28"]),
        ("le 21 novembre 2024 /CFP", "fr", ["2024-11-21"]),
        ("en juillet 2025", "fr", ["2025-07"]),
        ("2024-09-26", "fr", ["2024-09-26"]),
        ("publié le 24/10/2025", "fr", ["2025-10-24"]),
        ("en 2023", "fr", ["2023"]),
        ("2024-2025", "en", ["2024", "2025"]),
        ("2025世界人工智能大会", "zh", ["2025"]),
    ],
)
def test_dates(text: str, language: str, expected: list[str]) -> None:
    assert keys(text, language, "date") == expected


def test_a_lower_case_may_is_no_month_and_a_month_alone_no_fact() -> None:
    assert keys("Prices may 2 percent rise", "en", "date") == []
    assert extract_facts("今年7月，", "zh") == []  # nor is its 7 a number
    assert keys("In July the government", "en") == []


def test_invalid_dates_are_not_dates() -> None:
    assert keys("le 31 février 2025", "fr", "date") == ["2025-02"]  # the month still is one
    assert keys("2025年13月1日", "zh", "date") == ["2025"]


def test_a_date_without_a_year_matches_a_full_date_of_that_day() -> None:
    # The seed states "--11-01"; an article stating 2025-11-01 is stated by it, and back.
    assert set(date_query_keys("2025-11-01")) & set(date_index_keys("--11-01"))
    assert set(date_query_keys("--11-01")) & set(date_index_keys("2025-11-01"))
    # A month or a year is stated by any date within it; a day is not stated by its month.
    assert set(date_query_keys("2025-07")) & set(date_index_keys("2025-07-26"))
    assert set(date_query_keys("2025")) & set(date_index_keys("2025-07-26"))
    assert not set(date_query_keys("2025-07-26")) & set(date_index_keys("2025-07"))
    assert not set(date_query_keys("2026-11-01")) & set(date_index_keys("2025-11-01"))


# --- Names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "language", "key"),
    [
        ("习近平主席", "zh", "Xi Jinping"),
        ("習(xí)近平主席", "zh", "Xi Jinping"),
        ("President Xi Jinping said", "en", "Xi Jinping"),
        ("le président Xi Jinping a dit", "fr", "Xi Jinping"),
        ("王毅出席", "zh", "Wang Yi"),
        ("wang yi, ministre des affaires", "fr", "Wang Yi"),
        ("李强总理", "zh", "Li Qiang"),
        ("在乌镇举行", "zh", "Wuzhen"),
        ("à Wuzhen", "fr", "Wuzhen"),
        ("在庆州", "zh", "Gyeongju"),
        ("in Gyeongju", "en", "Gyeongju"),
        ("联合国", "zh", "United Nations"),
        ("au siège de l'ONU", "fr", "United Nations"),
        ("at the UN headquarters", "en", "United Nations"),
        ("des nations unies", "fr", "United Nations"),
        ("金砖国家", "zh", "BRICS"),
        ("les BRICS", "fr", "BRICS"),
        ("上海合作组织", "zh", "SCO"),
        ("the SCO summit", "en", "SCO"),
        ("l'Organisation de coopération de Shanghai", "fr", "SCO"),
        ("l'OCS", "fr", "SCO"),
        ("Corée du Sud", "fr", "South Korea"),
        ("韩国", "zh", "South Korea"),
        ("États-Unis", "fr", "United States"),
    ],
)
def test_names_that_cross_scripts_have_one_key(text: str, language: str, key: str) -> None:
    assert keys(text, language, "name") == [key]


def test_a_longer_name_wins_over_the_names_inside_it() -> None:
    assert keys("上海合作组织峰会", "zh", "name") == ["SCO"]
    assert keys("l'Assemblée générale des Nations unies", "fr", "name") == ["UNGA"]
    assert keys("Shanghai Cooperation Organization", "en", "name") == ["SCO"]


def test_latin_acronyms_in_every_language_and_whole_words_only() -> None:
    assert keys("世界人工智能合作组织（WAICO）", "zh", "name") == ["WAICO", "WAICO"]
    assert keys("WAIC 2025 and WAICO", "en") == ["WAIC", "2025", "WAICO"]
    assert keys("Chine-BRICS", "fr", "name") == ["China", "BRICS"]
    assert keys("l'AIGC et l'APEC", "fr", "name") == ["AIGC", "APEC"]


def test_a_french_un_is_not_the_un() -> None:
    assert keys("un plan inclusif pour un avenir partagé", "fr", "name") == []


def test_capitalised_names_outside_the_table() -> None:
    text = (
        "Song Haitao, directeur de l'institut, a ouvert l'atelier. "
        "Pour Song, la coopération est la clé, a déclaré Song."
    )
    assert keys(text, "fr", "name") == ["Song Haitao", "Song Haitao", "Song Haitao"]
    assert keys("The Ministry of Foreign Affairs said", "en", "name") == [
        "Ministry of Foreign Affairs"
    ]
    assert keys("Le Forum de Davos s'ouvre", "fr", "name") == ["Forum de Davos"]


def test_sentence_starts_titles_months_and_generic_acronyms_are_not_names() -> None:
    text = (
        "Depuis des années, l'IA progresse. Planificateurs : Li Zhongfa, Zhang Xiaosong\n"
        "Artificial intelligence is spreading. In November, the GDP grew. "
        "Chinese President Xi said AI matters. On Monday, Secretary Blinken left."
    )
    assert keys(text, "en", "name") == ["Li Zhongfa", "Zhang Xiaosong", "Xi Jinping", "Blinken"]


def test_lower_case_text_gives_only_table_names() -> None:
    text = "le porte-parole lin jian a annoncé que wang yi se rendra à new york et en zambie."
    assert keys(text, "fr", "name") == ["Lin Jian", "Wang Yi", "New York", "Zambia"]


def test_a_headline_in_capitals_is_not_a_list_of_acronyms() -> None:
    text = "CHINA HOSTS GLOBAL AI MEETING IN SHANGHAI THIS WEEK\nThe meeting opens."
    assert keys(text, "en", "name") == ["China", "Shanghai"]


# --- Facts and their offsets -----------------------------------------------------------------


def test_hard_facts() -> None:
    facts = {fact.key: fact for fact in extract_facts("Le 1er novembre 2025, 60 % et Xi Jinping.")}
    assert is_hard_fact(facts["2025-11-01"])
    assert is_hard_fact(facts["60%"])
    assert not is_hard_fact(facts["Xi Jinping"])
    assert not is_hard_fact(only("en 2025", "fr"))


def test_facts_come_in_order_without_overlaps() -> None:
    facts = extract_facts(
        "Le 26 septembre 2024, Lin Jian a annoncé 10 projets et un fonds de 60 milliards "
        "de yuans, soit 42,8 % de plus.",
        "fr",
    )
    assert [(fact.kind, fact.key) for fact in facts] == [
        ("date", "2024-09-26"),
        ("name", "Lin Jian"),
        ("number", "10"),
        ("money", "CNY:6e10"),
        ("percent", "42.8%"),
    ]
    for before, after in itertools.pairwise(facts):
        assert before.end <= after.start


def texts_to_check() -> list[tuple[str, str | None]]:
    found = [
        (path.read_text(encoding="utf-8"), None)
        for path in sorted(DATA.glob("*.txt"))
        if "{{" not in path.read_text(encoding="utf-8")
    ]
    shared = shared_dir()
    if shared is not None and (shared / "seeds").is_dir():
        seeds = sorted((shared / "seeds").glob("0*.txt"))
        found += [(path.read_text(encoding="utf-8"), None) for path in seeds]
    return found


def test_every_phrase_is_the_original_text_at_its_offsets() -> None:
    texts = texts_to_check()
    assert texts
    for text, language in texts:
        for fact in extract_facts(text, language):
            assert text[fact.start : fact.end] == fact.phrase, fact
            assert fact.phrase.strip() == fact.phrase, fact


# --- Labelled passages: what an analyst would list ------------------------------------------

LABELLED = Path(__file__).resolve().parents[1] / "data" / "facts" / "labelled.toml"
KNOWN_NOISE = {("fr", "Affaires")}
"""Noise the rules still let through: « le ministre … des Affaires étrangères »."""


def labelled_passages() -> list[dict[str, Any]]:
    passages: list[dict[str, Any]] = tomllib.loads(LABELLED.read_text(encoding="utf-8"))["passage"]
    return passages


def test_the_labelled_passages_cover_three_languages_and_are_consistent() -> None:
    passages = labelled_passages()
    assert Counter(p["language"] for p in passages) == {"en": 18, "fr": 14, "zh": 14}
    for passage in passages:
        assert passage["facts"], passage["text"]
        assert not set(passage["facts"]) & set(passage["noise"]), passage["text"]


def test_precision_and_recall_on_the_labelled_passages() -> None:
    """Distinct keys per passage against the analyst's list. Before the rules for sentence
    starts, stop words, generic nouns, titles, quotations, Chinese names after titles and
    month spans: precision 0.899, recall 0.885 (all 46 passages)."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for passage in labelled_passages():
        found = {fact.key for fact in extract_facts(passage["text"], passage["language"])}
        wanted = set(passage["facts"])
        for language in (passage["language"], "all"):
            counts[language].update(
                right=len(found & wanted), wrong=len(found - wanted), missed=len(wanted - found)
            )
    for language, count in counts.items():
        precision = count["right"] / (count["right"] + count["wrong"])
        recall = count["right"] / (count["right"] + count["missed"])
        print(f"{language}: precision {precision:.3f}, recall {recall:.3f}")
        assert precision >= (0.95 if language == "all" else 0.93), language
        assert recall >= (0.93 if language == "all" else 0.9), language


def test_no_noise_word_of_the_labelled_passages_is_a_fact() -> None:
    noise = set()
    for passage in labelled_passages():
        facts = extract_facts(passage["text"], passage["language"])
        written = {fact.phrase.strip('"“”«» 《》') for fact in facts} | {f.key for f in facts}
        noise |= {(passage["language"], word) for word in passage["noise"] if word in written}
    assert noise == KNOWN_NOISE


# --- Common words that capitals make look like names ----------------------------------------


def test_sentence_starts_and_common_words_are_not_names() -> None:
    text = (
        "Several Member States welcomed the plan. However, the Summit was delayed. "
        "Both Sides agreed on the text. The Organization declined to comment on the Internet "
        "rules. Speaking in Geneva, officials said the Action Plan had 13 points.\n"
        "I'd say the London-based Institute for Strategic Studies is right."
    )
    assert keys(text, "en", "name") == ["Geneva", "Institute for Strategic Studies"]


def test_a_capitalised_common_word_inside_sentences_keeps_its_name_together() -> None:
    text = "New Zealand signed the accord. Officials in New Zealand and New Delhi welcomed it."
    assert keys(text, "en", "name") == ["New Zealand", "New Zealand", "New Delhi"]


def test_titles_go_places_and_nationalities_in_names_stay() -> None:
    text = (
        "Premier Li Qiang met New Zealand Prime Minister Christopher Luxon, Defense Secretary "
        "Mark Esper and Israeli Prime Minister Benjamin Netanyahu. The International Monetary "
        "Fund praised the Global AI Governance Action Plan."
    )
    assert keys(text, "en", "name") == [
        "Li Qiang", "New Zealand", "Christopher Luxon", "Mark Esper", "Benjamin Netanyahu",
        "International Monetary Fund", "Global AI Governance Action Plan",
    ]  # fmt: skip


def test_connectors_join_names_after_a_head_word_and_inside_a_persons_name() -> None:
    text = (
        "Alex de Minaur beat Michael Venus of New Zealand. The Bank of England and the "
        "University of Nairobi signed with the Forum de Davos."
    )
    assert keys(text, "en", "name") == [
        "Alex de Minaur", "Michael Venus", "New Zealand", "Bank of England",
        "University of Nairobi", "Forum de Davos",
    ]  # fmt: skip


def test_a_headline_in_title_case_gives_only_names_the_text_confirms() -> None:
    text = (
        "Why The New Stadia Controller Is Worth A Look\n"
        "On Tuesday, Google said the Stadia controller works with the Chromecast Ultra."
    )
    assert keys(text, "en", "name") == ["Stadia", "Google", "Stadia", "Chromecast Ultra"]


# --- Quoted names, Chinese people, counts ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "language", "key", "phrase"),
    [
        ("中方将落实《人工智能能力建设普惠计划》。", "zh", "人工智能能力建设普惠计划",
         "《人工智能能力建设普惠计划》"),
        ("“智能鸿沟”正在扩大", "zh", "智能鸿沟", "“智能鸿沟”"),
        ("l'action « Intelligence artificielle + »", "fr", "Intelligence artificielle +",
         "« Intelligence artificielle + »"),
        ("la publication de « l'Initiative sur l'IA de l'APEC »", "fr",
         "Initiative sur l'IA de l'APEC", "« l'Initiative sur l'IA de l'APEC »"),
        ('at the "SCO Plus" meeting', "en", "SCO Plus", '"SCO Plus"'),
    ],
)  # fmt: skip
def test_quoted_titles_are_names(text: str, language: str, key: str, phrase: str) -> None:
    quoted = [fact for fact in extract_facts(text, language) if is_quoted(fact)]
    assert [(fact.kind, fact.key, fact.phrase) for fact in quoted] == [("name", key, phrase)]
    assert text[quoted[0].start : quoted[0].end] == phrase


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ('"We are ready to work with all parties," Wang said.', "en"),
        ('The talks were "constructive", officials said.', "en"),
        ("« Nous voulons apprendre » et combler ce fossé « sans tarder ».", "fr"),
        ("他说：“我们愿同各方一道，推动人工智能发展。”", "zh"),
        ("“联合国”", "zh"),  # a table name in quotes is the table's name
    ],
)
def test_speech_in_quotation_marks_is_not_a_name(text: str, language: str) -> None:
    assert not [fact for fact in extract_facts(text, language) if is_quoted(fact)]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("外交部发言人毛宁表示", "Mao Ning"),  # in the table
        ("商务部新闻发言人何亚东表示，", "何亚东"),
        ("中国常驻联合国代表傅聪在会上介绍", "傅聪"),
        ("法国总统马克龙12月3日抵达北京", "马克龙"),
        ("印度总理莫迪出席会议", "莫迪"),
    ],
)
def test_chinese_people_named_after_their_title(text: str, name: str) -> None:
    assert name in keys(text, "zh", "name")


def test_chinese_words_after_a_title_that_are_no_name() -> None:
    text = "部长会议在北京举行。与会代表表示支持。代表团在上海参观。"
    assert keys(text, "zh", "name") == ["Beijing", "Shanghai"]


@pytest.mark.parametrize(
    ("text", "language", "phrase", "key"),
    [
        ("3,000 experts from 40 countries", "en", "3,000 experts", "3000"),
        ("leaders from 20 countries attended", "en", "20 countries", "20"),
        ("they signed 12 cooperation documents", "en", "12 cooperation documents", "12"),
        ("the 32nd informal meeting", "en", "32nd informal meeting", "#32"),
        ("ministers from 25 African states", "en", "25 African states", "25"),
        ("more than 500 million users", "en", "500 million users", "5e8"),
        ("up from 10 in the first draft", "en", "10", "10"),
        ("3.5 million twenty-foot units", "en", "3.5 million", "3.5e6"),
        ("le 21e siècle avance", "fr", "21e siècle", "#21"),
        ("1 200 entreprises y présentent", "fr", "1 200 entreprises", "1200"),
        ("来自40个国家的专家", "zh", "40个国家", "40"),
        ("3000名专家将出席", "zh", "3000名专家", "3000"),
        ("來自40個國家", "zh", "40個國家", "40"),
        ("培养500名人工智能人才", "zh", "500名", "500"),
    ],
)
def test_counts_come_with_what_they_count(text: str, language: str, phrase: str, key: str) -> None:
    fact = next(fact for fact in extract_facts(text, language) if fact.kind == "number")
    assert (fact.key, fact.phrase) == (key, phrase)
    assert is_counted(fact) == (phrase not in {"10", "3.5 million"})


def test_month_spans_and_singapore_dollars() -> None:
    assert keys("2025年1至9月，贸易额增长", "zh") == ["2025-01", "2025-09"]
    assert keys("今年1至9月，贸易额增长", "zh") == []  # months without a year: too vague
    assert keys("grants of S$200,000 each", "en") == ["SGD:200000"]
