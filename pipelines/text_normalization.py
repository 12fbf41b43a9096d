"""Text normalisation shared by tagging and deduplication, with a map back to the original.

What two writings of the same words have in common survives; what differs goes:

- case, and accents on Latin letters (``Coopération`` → ``cooperation``);
- typographic quotes and apostrophes (``l’IA`` → ``l'ia``, ``« IA »`` → ``" ia "``);
- full-width ASCII (``ＡＩ＋`` → ``ai+``);
- traditional Chinese and Taiwan usage → simplified mainland usage with OpenCC's ``tw2sp``
  (``人工智慧`` → ``人工智能``, ``網際網路`` → ``互联网``);
- pinyin annotations after Chinese characters (``中國(guó)`` → ``中国``).

Matching happens on the normalised text; :class:`NormalizedText` maps its offsets back to the
original, so evidence can point at the original characters.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import cache

import opencc

_QUOTES = {
    **dict.fromkeys("’‘‛′`´", "'"),
    **dict.fromkeys("“”„‟«»‹›″", '"'),
    "\u00a0": " ",  # no-break space
    "\u202f": " ",  # narrow no-break space (French typography)
    "\u2009": " ",
    "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-",
}  # fmt: skip
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
# A pinyin syllable in parentheses right after a Han character: 中國(guó), 國(guo2). It must
# carry its tone (a mark or a digit), so that acronyms such as 世界人工智能合作组织（WAICO）
# stay.
_PINYIN_ANNOTATION = re.compile(
    r"(?<=[\u4e00-\u9fff])[(（]\s*"
    r"(?:[a-zü]{0,5}[āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ][a-zü]{0,5}|[a-zü]{1,6}[1-5])"
    r"\s*[)）]",
    re.IGNORECASE,
)


def _build_table() -> dict[int, str]:
    """One character in, one character out: offsets survive the translation."""
    table: dict[int, str] = {ord(k): v for k, v in _QUOTES.items()}
    table[0x0130] = "i"  # 'İ'.lower() would give two characters
    for code in range(0xFF01, 0xFF5F):  # full-width ASCII
        table[code] = chr(code - 0xFEE0)
    table[0x3000] = " "  # ideographic space
    for code in (*range(0x00C0, 0x0250), *range(0x1E00, 0x1F00)):
        decomposed = unicodedata.normalize("NFD", chr(code))
        base = decomposed[0]
        if (
            len(decomposed) > 1
            and base.isascii()
            and all(unicodedata.combining(mark) for mark in decomposed[1:])
        ):
            table[code] = base
    return table


_TABLE = _build_table()
# The characters the table changes. Most of a text is plain ASCII: substituting only these is
# several times faster than str.translate over every character.
_TRANSLATED = re.compile("[" + re.escape("".join(map(chr, sorted(_TABLE)))) + "]")


def _translate(text: str) -> str:
    return _TRANSLATED.sub(lambda match: _TABLE[ord(match.group())], text)


@cache
def _chinese_converter() -> opencc.OpenCC:
    return opencc.OpenCC("tw2sp")


@dataclass(frozen=True, slots=True)
class NormalizedText:
    text: str
    _breaks: tuple[tuple[int, int], ...]
    """(normalised offset, original offset) where the two stop moving in step."""

    def original_offset(self, position: int) -> int:
        """The offset in the original text of the normalised character at ``position``."""
        index = bisect_right(self._breaks, (position, float("inf"))) - 1
        normalized_start, original_start = self._breaks[max(index, 0)]
        return original_start + (position - normalized_start)

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The original span covering the normalised span ``[start, end)``."""
        if end <= start:
            offset = self.original_offset(start)
            return offset, offset
        index = bisect_right(self._breaks, (end, float("inf"))) - 1
        if index >= 0 and self._breaks[index][0] == end:  # the span ends where a change ends
            return self.original_offset(start), self._breaks[index][1]
        return self.original_offset(start), self.original_offset(end - 1) + 1


def normalize_text(text: str) -> NormalizedText:
    """Normalise ``text`` for matching and fingerprinting (see the module docstring)."""
    lowered = _translate(text).lower()
    if len(lowered) != len(text):  # cannot happen with the table above; stay safe
        lowered = "".join(char.translate(_TABLE).lower()[:1] or " " for char in text)
    pieces: list[str] = []
    breaks: list[tuple[int, int]] = [(0, 0)]
    out = 0
    cursor = 0
    # Tone marks are gone from ``lowered``: find annotations in the original, same offsets.
    annotations = _PINYIN_ANNOTATION.finditer(text) if len(lowered) == len(text) else ()
    for match in annotations:
        out = _append_converted(lowered, cursor, match.start(), pieces, breaks, out)
        cursor = match.end()
        breaks.append((out, cursor))
    _append_converted(lowered, cursor, len(lowered), pieces, breaks, out)
    return NormalizedText("".join(pieces), tuple(_compact(breaks)))


def _append_converted(
    source: str,
    start: int,
    end: int,
    pieces: list[str],
    breaks: list[tuple[int, int]],
    out: int,
) -> int:
    """Append source[start:end] with Chinese converted; returns the new output length."""
    segment = source[start:end]
    if not segment:
        return out
    converted = _chinese_converter().convert(segment) if _CJK_RUN.search(segment) else segment
    if len(converted) == len(segment):
        pieces.append(converted)
        return out + len(segment)
    # Some phrase changed length (網際網路 → 互联网). Conversion leaves everything but Han
    # characters alone, so the runs of Han characters pair up, and only runs whose length
    # changed need aligning.
    original_runs = list(_CJK_RUN.finditer(segment))
    converted_runs = list(_CJK_RUN.finditer(converted))
    if len(original_runs) != len(converted_runs):
        original_runs = converted_runs = []  # unexpected: keep only the segment's two ends
    for before, after in zip(original_runs, converted_runs, strict=True):
        breaks.append((out + after.start(), start + before.start()))
        if len(before.group()) != len(after.group()):
            _align(
                before.group(), after.group(), start + before.start(), out + after.start(), breaks
            )
        breaks.append((out + after.end(), start + before.end()))
    pieces.append(converted)
    out += len(converted)
    breaks.append((out, end))
    return out


def _align(
    original: str, converted: str, original_start: int, out: int, breaks: list[tuple[int, int]]
) -> None:
    """Break points between a run and its conversion: exact where characters correspond."""
    character_wise = _character_converter().convert(original)
    if len(character_wise) != len(original):
        character_wise = original
    matcher = SequenceMatcher(None, character_wise, converted, autojunk=False)
    for _tag, i1, _i2, j1, _j2 in matcher.get_opcodes():
        breaks.append((out + j1, original_start + i1))


@cache
def _character_converter() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def _compact(breaks: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Drop break points that the previous one already implies; keep the last per offset."""
    kept: list[tuple[int, int]] = []
    for normalized, original in breaks:
        if kept and kept[-1][0] == normalized:
            kept[-1] = (normalized, original)
            continue
        if kept and original - kept[-1][1] == normalized - kept[-1][0]:
            continue
        kept.append((normalized, original))
    return kept or [(0, 0)]
