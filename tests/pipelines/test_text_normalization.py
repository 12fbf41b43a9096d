"""Normalisation for matching: what must become the same, and offsets back to the original."""

from __future__ import annotations

import pytest

from pipelines.text_normalization import normalize_text


@pytest.mark.parametrize(
    ("original", "normalized"),
    [
        ("Organisation mondiale de Coopération", "organisation mondiale de cooperation"),
        ("l’Initiative « IA+ »", 'l\'initiative " ia+ "'),
        ("ＡＩ＋行动", "ai+行动"),
        ("人工智慧全球治理行動計畫", "人工智能全球治理行动计划"),
        ("世界網際網路大會", "世界互联网大会"),
        ("數位絲路", "数字丝路"),
        ("中國(guó)人工智能", "中国人工智能"),
        ("中国（guó）", "中国"),
        ("中國(guo2)", "中国"),
        ("世界人工智能合作组织（WAICO）", "世界人工智能合作组织(waico)"),
        ("İstanbul", "istanbul"),
        ("Digital Silk Road — 2026", "digital silk road - 2026"),
    ],
)
def test_writings_of_the_same_words_become_the_same(original: str, normalized: str) -> None:
    assert normalize_text(original).text == normalized


def test_latin_text_in_parentheses_after_latin_words_is_kept() -> None:
    assert normalize_text("AI (ia) plan").text == "ai (ia) plan"


def test_offsets_point_back_into_the_original() -> None:
    original = "據新華社報道，世界網際網路大會(dà huì)在烏鎮開幕，人工智慧論壇同日舉行。"
    normalized = normalize_text(original)
    for phrase, original_phrase in (
        ("互联网", "網際網路"),
        ("人工智能", "人工智慧"),
        ("乌镇", "烏鎮"),
    ):
        start = normalized.text.index(phrase)
        begin, end = normalized.original_span(start, start + len(phrase))
        assert original[begin:end] == original_phrase


def test_offsets_are_exact_when_nothing_changes_length() -> None:
    original = "Le Plan d’action pour le renforcement des capacités en IA"
    normalized = normalize_text(original)
    start = normalized.text.index("capacites")
    assert original[slice(*normalized.original_span(start, start + 9))] == "capacités"
