"""Facts a text states: amounts, percentages, numbers, dates and names, keyed across languages.

:func:`extract_facts` is a pure function of a text (and an optional language hint). Each
:class:`Fact` has a *key* that does not depend on the language or script it was written in, so
that « 60 milliards de yuans », "60 billion yuan" and 600亿元 all have the key ``CNY:6e10``,
and the facts of a French seed can be looked for in a Chinese or English article.

Numbers, amounts, percentages and dates are found in the normalised text
(:func:`~pipelines.text_normalization.normalize_text`: lower case, no accents, full-width forms
folded, traditional Chinese converted, pinyin annotations dropped); names in the original text,
where capitals tell them apart. Offsets always index the original text.

**Keys.**

- ``money``: ISO currency code and value, ``CNY:6e10``, ``USD:1.5e12``. Values are written with
  six significant digits, the exponent without ``+`` or leading zeros (see :func:`number_key`).
  A currency is a symbol before the number ($, €, £, ¥, US$, RMB, 人民币) or a word or sign after
  it (yuan, dollars, euros, 元, 美元, 欧元 …). Chinese units multiply: 万 1e4, 亿 1e8, 万亿 1e12;
  so do the scale words *thousand/mille, million, billion/milliard, trillion*, and "bn", "m",
  "k" after a currency symbol. « billion » is 1e12 in French and 1e9 in English: the language
  decides (the hint, else the text's most frequent function words).
- ``percent``: ``42.8%`` for "42.8%", « 42,8 % », "42.8 percent", « pour cent », 百分之42.8.
- ``number``: any other number, scaled: ``5e8`` for « 500 millions » and 5亿; ``53900`` for
  « 53 900 » and "53,900". Ordinals get ``#`` and their number: ``#32`` for « 32e », "32nd"
  and 第32届. French numbers use a comma for decimals and spaces (or dots) between thousands;
  English and Chinese the other way round. A bare year is a date, not a number.
- ``date``: ISO 8601: ``2025-07-26``; ``2025-07`` (a month); ``2025`` (a year, written alone:
  "WAIC 2025", « en 2023 »); ``--11-01`` when the year is not written (« le 1er novembre »,
  7月26日, "July 26"). That last form is ISO 8601's own for a month and day without a year.
  The year is *not* guessed from the rest of the text: a January article about "12 December"
  would get it wrong, and a guess would make a key look more certain than the text is.
  Comparison treats ``--MM-DD`` as compatible with any full date of that day (see
  :func:`date_query_keys` and :func:`date_index_keys`). Ranges give one fact per end:
  "26–28 July 2025", « du 26 au 28 juillet », 7月26日至28日, "2024-2025". Numeric dates are
  read year first (2025-07-26, 2025/07/26) or day first (26/07/2025, as in French and British
  usage); an American 07/26/2025 is read month first only because day first is impossible.
- ``name``: a canonical name. First from :data:`NAME_TABLE`, which lists names that cross
  scripts and matter for our topics with their writings in English, French and Chinese
  (习近平, Xi Jinping → ``Xi Jinping``; 联合国, ONU, UN, Nations unies → ``United Nations``;
  金砖, BRICS → ``BRICS``). Then any other sequence of capitalised Latin words or acronym
  (WAICO, Song Haitao), in any of the three languages, keyed as written without accents.

**Names without a table entry** are guessed from capitals, so a few rules keep common words
out: a single capitalised word is kept only if the text never writes it in lower case; a
sequence that starts a sentence (or a quotation, or follows a colon) is kept only if one of its
words is not a lower-case word elsewhere in the text, and a single word there only if the text
also capitalises it mid-sentence; leading function words (The, Le, Depuis …), titles
(President, Ministre …) and nationality adjectives are dropped; generic acronyms (AI, IA, GDP,
PIB …), month and day names are not names; lines written in capitals are skipped; a single word
right next to a known name is part of a longer name the table only half knows ("Gyeongju
Declaration") and is dropped; and a surname alone takes the key of the one full name of the
text it belongs to ("Song" after "Song Haitao"). Lower-case text (some machine translations)
yields only table names. Chinese names outside the table are not found: without a segmenter, a
guess would be noise.

Connectors (of, the, de, la, l' …) may join capitalised words ("Ministry of Foreign Affairs");
"and" and « et » do not, because lists of names are more common than names with "and".
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import cache
from typing import Literal

from pipelines.text_normalization import NormalizedText, normalize_text

FactKind = Literal["number", "money", "percent", "date", "name"]


@dataclass(frozen=True, slots=True)
class Fact:
    kind: FactKind
    key: str
    """Language-independent value: ``CNY:6e10``, ``42.8%``, ``5e8``, ``#32``, ``2025-07-26``,
    ``--11-01``, ``Xi Jinping`` (see the module docstring)."""
    phrase: str
    """As written: ``text[start:end]``."""
    start: int
    end: int


# --- Numbers -----------------------------------------------------------------------------------

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_CHARACTER = re.compile(f"[{_CJK}]")
# Normalised text is lower case without accents: [0-9a-z] is every Latin letter or digit.
_BEFORE = r"(?<![0-9a-z_/\-])(?<!\d[.,:])"
_AFTER = r"(?![0-9a-z_]|[.,:]\d)"
_EN_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d)|\d+(?:\.\d+)?"
_FR_NUMBER = r"\d{1,3}(?: \d{3})+(?:,\d+)?(?!\d)|\d{1,3}(?:\.\d{3})+(?![\d,])|\d+(?:[,.]\d+)?"

_SCALES = {
    "thousand": 1e3, "thousands": 1e3, "mille": 1e3,
    "million": 1e6, "millions": 1e6,
    "milliard": 1e9, "milliards": 1e9,
    "trillion": 1e12, "trillions": 1e12,
    "万亿": 1e12, "千亿": 1e11, "百亿": 1e10, "亿": 1e8, "千万": 1e7, "百万": 1e6, "万": 1e4,
}  # fmt: skip
_BILLION = ("billion", "billions")  # 1e9 in English, 1e12 in French
# Abbreviated scales count only next to a currency: "5m" alone is five metres.
_ABBREVIATED_SCALES = {"bn": 1e9, "mn": 1e6, "mln": 1e6, "m": 1e6, "k": 1e3, "tn": 1e12,
                       "md": 1e9, "mds": 1e9, "mrd": 1e9, "mrds": 1e9}  # fmt: skip
_CURRENCY_AFTER = {
    "yuan": "CNY", "yuans": "CNY", "renminbi": "CNY", "rmb": "CNY", "cny": "CNY",
    "元": "CNY", "人民币": "CNY",
    "us dollars": "USD", "us dollar": "USD", "u.s. dollars": "USD", "u.s. dollar": "USD",
    "dollars americains": "USD", "dollars us": "USD", "dollars": "USD", "dollar": "USD",
    "usd": "USD", "美元": "USD",
    "euros": "EUR", "euro": "EUR", "eur": "EUR", "欧元": "EUR",
    "yen": "JPY", "yens": "JPY", "jpy": "JPY", "日元": "JPY",
    "pounds sterling": "GBP", "livres sterling": "GBP", "gbp": "GBP", "英镑": "GBP",
    "roubles": "RUB", "rubles": "RUB", "rub": "RUB", "卢布": "RUB",
    "hong kong dollars": "HKD", "hkd": "HKD", "港元": "HKD", "港币": "HKD",
    "krw": "KRW", "韩元": "KRW",
}  # fmt: skip
_CURRENCY_BEFORE = {
    "us$": "USD", "$": "USD", "usd": "USD", "€": "EUR", "eur": "EUR", "£": "GBP", "gbp": "GBP",
    "¥": "CNY", "￥": "CNY", "rmb": "CNY", "cny": "CNY", "人民币": "CNY", "hk$": "HKD",
}  # fmt: skip
_PERCENT_WORDS = ("%", "percent", "per cent", "pour cent", "pourcent")
_ORDINAL_SUFFIX = r"(?:st|nd|rd|th|er|re|eme|e)"


def _alternation(words: object) -> str:
    return "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))  # type: ignore[call-overload]


def _word(words: object) -> str:
    """An alternation of words; Latin words must end at a word boundary."""
    return rf"(?:{_alternation(words)})(?![a-z])"


@cache
def _amount_pattern(french: bool) -> re.Pattern[str]:
    number = _FR_NUMBER if french else _EN_NUMBER
    scales = _word([*_SCALES, *_BILLION, *_ABBREVIATED_SCALES])
    return re.compile(
        rf"(?:(?<![0-9a-z])(?P<before>{_alternation(_CURRENCY_BEFORE)})\s?)?"
        rf"{_BEFORE}(?P<number>{number})"
        rf"(?:\s?(?P<about>多|余))?"
        rf"(?:\s?(?P<scale>{scales}))?"
        rf"(?:\s?(?:(?:de|d')\s?)?(?P<after>{_word(_CURRENCY_AFTER)}))?"
        rf"(?:\s?(?P<percent>{_word(_PERCENT_WORDS[1:])}|%))?"
        rf"(?P<ordinal>{_ORDINAL_SUFFIX}(?![a-z]))?"
        rf"{_AFTER}"
    )


_CHINESE_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
                   "六": 6, "七": 7, "八": 8, "九": 9}  # fmt: skip
_CHINESE_NUMERAL = "[零〇一二两三四五六七八九十百千]+(?:点[零〇一二三四五六七八九]+)?"
_CHINESE_AMOUNT = re.compile(
    rf"(?:(?P<before>人民币)\s?)?(?P<number>{_CHINESE_NUMERAL}|\d+(?:\.\d+)?)"
    rf"(?P<about>多|余)?(?P<scale>万亿|千亿|百亿|亿|千万|百万|万)?"
    rf"(?P<after>{_alternation(k for k in _CURRENCY_AFTER if _CJK_CHARACTER.match(k))})"
)
_CHINESE_PERCENT = re.compile(rf"百分之(?P<number>{_CHINESE_NUMERAL}|\d+(?:\.\d+)?)")
_CHINESE_ORDINAL = re.compile(rf"第\s?(?P<number>{_CHINESE_NUMERAL}|\d+)\s?(?=[届次个期轮项])")
_LIST_MARKER = re.compile(r"(?:^|\n)[ \t]*\d{1,2}[.)]\s")


def number_key(value: float) -> str:
    """Six significant digits; the exponent without ``+`` or leading zeros: ``6e10``, ``42.8``."""
    text = f"{value:.6g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        return f"{mantissa}e{int(exponent)}"
    return text


def _parse_number(text: str, french: bool) -> float | None:
    """A number as written in the language's format ("53 900", "42,8", "53,900", "42.8")."""
    if french:
        if re.fullmatch(r"\d{1,3}(?:\.\d{3})+", text):
            text = text.replace(".", "")
        text = text.replace(" ", "").replace(",", ".")
    else:
        text = text.replace(",", "")
    try:
        return float(text)
    except ValueError:
        return None


def _parse_chinese_number(text: str) -> float | None:
    """Chinese numerals (六百, 三十二, 四十二点八) or Arabic digits."""
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    whole, _, fraction = text.partition("点")
    total = section = 0
    digit: int | None = None
    for char in whole:
        if char in _CHINESE_DIGITS:
            digit = _CHINESE_DIGITS[char] if digit is None else digit * 10 + _CHINESE_DIGITS[char]
        else:
            unit = {"十": 10, "百": 100, "千": 1000}.get(char)
            if unit is None:
                return None
            section += (1 if digit is None else digit) * unit
            digit = None
    total = section + (digit or 0)
    if fraction:
        decimals = "".join(str(_CHINESE_DIGITS[char]) for char in fraction)
        return float(f"{total}.{decimals}")
    return float(total)


def _is_french(normalized: str, language: str | None) -> bool:
    if language:
        return _primary(language) == "fr"
    french = len(re.findall(r"\b(?:le|la|les|des|du|est|une|dans|pour|sur)\b", normalized))
    english = len(re.findall(r"\b(?:the|of|is|to|and|for|with|on|that)\b", normalized))
    return french > english


def _primary(language: str) -> str:
    return re.split(r"[-_]", language.lower())[0]


# --- Dates -------------------------------------------------------------------------------------

_MONTHS = {
    "january": 1, "jan": 1, "janvier": 1, "janv": 1,
    "february": 2, "feb": 2, "fevrier": 2, "fevr": 2, "fev": 2,
    "march": 3, "mar": 3, "mars": 3,
    "april": 4, "apr": 4, "avril": 4, "avr": 4,
    "may": 5, "mai": 5,
    "june": 6, "jun": 6, "juin": 6,
    "july": 7, "jul": 7, "juillet": 7, "juil": 7,
    "august": 8, "aug": 8, "aout": 8,
    "september": 9, "sept": 9, "sep": 9, "septembre": 9,
    "october": 10, "oct": 10, "octobre": 10,
    "november": 11, "nov": 11, "novembre": 11,
    "december": 12, "dec": 12, "decembre": 12,
}  # fmt: skip
_MONTH_ABBREVIATIONS = frozenset(
    {"jan", "janv", "feb", "fev", "fevr", "mar", "apr", "avr", "jun", "jul", "juil", "aug",
     "sep", "sept", "oct", "nov", "dec"}
)  # fmt: skip
# English month names that are also common words: they must be capitalised in the original.
_AMBIGUOUS_MONTHS = frozenset({"may", "mar", "march"})
_MONTH = rf"(?P<month>{_alternation(_MONTHS)})(?![a-z])\.?"
_DAY = r"(?P<day>[0-3]?\d)(?:er|re|st|nd|rd|th)?(?![0-9a-z])"
_DAY2 = r"(?:\s?(?:-|to|au|et|and)\s?(?P<day2>[0-3]?\d)(?:er|re|st|nd|rd|th)?(?![0-9a-z]))?"
_YEAR = r"(?P<year>(?:19|20)\d\d)(?!\d)"
_DATE_PATTERNS = (
    re.compile(r"(?<![0-9a-z])(?P<year>(?:19|20)\d\d)[-/.](?P<month>[01]?\d)[-/.](?P<day>[0-3]?\d)(?!\d)"),
    re.compile(r"(?<![0-9a-z/])(?P<day>[0-3]?\d)/(?P<month>[0-3]?\d)/(?P<year>(?:19|20)\d\d)(?!\d)"),
    re.compile(
        r"(?<!\d)(?:(?P<year>(?:19|20)\d\d)\s?年\s?)?(?P<month>[01]?\d)\s?月"
        r"(?:\s?(?P<day>[0-3]?\d)\s?[日号])?"
        r"(?:\s?(?:至|到|-|~|—)\s?(?:(?P<month2>[01]?\d)\s?月\s?)?(?P<day2>[0-3]?\d)\s?[日号])?"
    ),
    re.compile(rf"(?<![0-9a-z]){_DAY}{_DAY2}\s(?:de\s|of\s)?{_MONTH}(?:,?\s{_YEAR})?"),
    re.compile(rf"(?<![0-9a-z]){_MONTH}\s{_DAY}{_DAY2}(?:,?\s{_YEAR})?"),
    re.compile(rf"(?<![0-9a-z]){_MONTH}\s(?:de\s|of\s)?{_YEAR}"),
    re.compile(r"(?<![0-9a-z])(?P<year>(?:19|20)\d\d)\s?(?:-|/|to|a)\s?(?P<year2>(?:19|20)\d\d)(?!\d)"),
)  # fmt: skip


def _date_key(year: int | None, month: int | None, day: int | None) -> str | None:
    if month is None:
        return f"{year:04d}" if year else None
    if not 1 <= month <= 12:
        return None
    if day is None:
        return f"{year:04d}-{month:02d}" if year else None
    if not 1 <= day <= calendar.monthrange(year or 2000, month)[1]:
        return None
    return f"{year:04d}-{month:02d}-{day:02d}" if year else f"--{month:02d}-{day:02d}"


def date_index_keys(key: str) -> tuple[str, ...]:
    """The keys under which a stored document's date is indexed: the date itself, and marks
    (``~``) that say "some day in this month/year" and "this day in some year"."""
    if re.fullmatch(r"\d{4}-\d\d-\d\d", key):
        return (key, "~" + key[:7], "~" + key[:4], "~--" + key[5:])
    if re.fullmatch(r"\d{4}-\d\d", key):
        return (key, "~" + key[:4])
    return (key,)


def date_query_keys(key: str) -> tuple[str, ...]:
    """The index keys that state a date (see :func:`date_index_keys`): a full date is stated
    by the same date or the same day without a year; a year or month by itself or by any
    date within it; a day without a year by that day in any year."""
    if re.fullmatch(r"\d{4}-\d\d-\d\d", key):
        return (key, "--" + key[5:])
    if re.fullmatch(r"\d{4}(?:-\d\d)?", key):
        return (key, "~" + key)
    if key.startswith("--"):
        return (key, "~" + key)
    return (key,)


# --- Names -------------------------------------------------------------------------------------

# (key, writings). A writing starting with "=" matches case-sensitively (short acronyms that
# are also words: UN, US, ONU); the others match normalised text, case and accents aside.
NAME_TABLE: tuple[tuple[str, tuple[str, ...]], ...] = (
    # People
    ("Xi Jinping", ("习近平", "Xi Jinping", "=Xi")),
    ("Li Qiang", ("李强", "Li Qiang")),
    ("Wang Yi", ("王毅", "Wang Yi")),
    ("Lin Jian", ("林剑", "Lin Jian")),
    ("Mao Ning", ("毛宁", "Mao Ning")),
    ("Guo Jiakun", ("郭嘉昆", "Guo Jiakun")),
    ("Ma Zhaoxu", ("马朝旭", "Ma Zhaoxu")),
    ("Ding Xuexiang", ("丁薛祥", "Ding Xuexiang")),
    ("Han Zheng", ("韩正", "Han Zheng")),
    ("Antonio Guterres", ("古特雷斯", "Antonio Guterres", "Guterres")),
    ("Vladimir Putin", ("普京", "Vladimir Putin", "Vladimir Poutine", "Putin", "Poutine")),
    ("Donald Trump", ("特朗普", "Donald Trump", "Trump")),
    ("Lee Jae-myung", ("李在明", "Lee Jae-myung", "Lee Jae Myung")),
    ("Aleksandar Vucic", ("武契奇", "Aleksandar Vucic", "Vucic")),
    ("Hakainde Hichilema", ("希奇莱马", "Hakainde Hichilema", "Hichilema")),
    # Places
    ("China", ("中国", "China", "Chine", "=PRC", "République populaire de Chine",
               "People's Republic of China")),
    ("Shanghai", ("上海", "Shanghai")),
    ("Beijing", ("北京", "Beijing", "Pékin")),
    ("Tianjin", ("天津", "Tianjin")),
    ("Hangzhou", ("杭州", "Hangzhou")),
    ("Zhejiang", ("浙江", "Zhejiang")),
    ("Wuzhen", ("乌镇", "Wuzhen")),
    ("Xi'an", ("西安", "Xi'an")),
    ("Quanzhou", ("泉州", "Quanzhou")),
    ("Shenzhen", ("深圳", "Shenzhen")),
    ("Hong Kong", ("香港", "Hong Kong")),
    ("Macao", ("澳门", "Macao", "Macau")),
    ("Taiwan", ("台湾", "Taiwan", "Taïwan")),
    ("Gyeongju", ("庆州", "Gyeongju", "Kyongju")),
    ("Seoul", ("首尔", "Seoul", "Séoul")),
    ("South Korea", ("韩国", "South Korea", "Corée du Sud", "Republic of Korea",
                     "République de Corée")),
    ("New York", ("纽约", "New York")),
    ("Geneva", ("日内瓦", "Geneva", "Genève")),
    ("Kazan", ("喀山", "Kazan")),
    ("Johannesburg", ("约翰内斯堡", "Johannesburg")),
    ("Brasilia", ("巴西利亚", "Brasília", "Brasilia")),
    ("Tsinghua University", ("清华大学", "Tsinghua University", "Université Tsinghua",
                             "Université de Tsinghua")),
    ("United States", ("美国", "United States", "États-Unis", "=US", "=USA", "=U.S.")),
    ("Zambia", ("赞比亚", "Zambia", "Zambie")),
    ("Russia", ("俄罗斯", "Russia", "Russie")),
    ("Brazil", ("巴西", "Brazil", "Brésil")),
    ("India", ("印度", "India", "Inde")),
    ("South Africa", ("南非", "South Africa", "Afrique du Sud")),
    ("Indonesia", ("印度尼西亚", "印尼", "Indonesia", "Indonésie")),
    ("Pakistan", ("巴基斯坦", "Pakistan")),
    ("Egypt", ("埃及", "Egypt", "Égypte")),
    ("Kazakhstan", ("哈萨克斯坦", "Kazakhstan")),
    ("Serbia", ("塞尔维亚", "Serbia", "Serbie")),
    ("France", ("法国", "France")),
    ("United Kingdom", ("英国", "United Kingdom", "Royaume-Uni", "=UK")),
    ("Japan", ("日本", "Japan", "Japon")),
    ("Germany", ("德国", "Germany", "Allemagne")),
    ("Morocco", ("摩洛哥", "Morocco", "Maroc")),
    ("Singapore", ("新加坡", "Singapore", "Singapour")),
    ("Malaysia", ("马来西亚", "Malaysia", "Malaisie")),
    ("Kenya", ("肯尼亚", "Kenya")),
    ("Nigeria", ("尼日利亚", "Nigeria")),
    ("Ethiopia", ("埃塞俄比亚", "Ethiopia", "Éthiopie")),
    ("Africa", ("非洲", "Africa", "Afrique")),
    ("Asia", ("亚洲", "Asia", "Asie")),
    ("Europe", ("欧洲", "Europe")),
    ("Latin America", ("拉丁美洲", "拉美", "Latin America", "Amérique latine")),
    ("Global South", ("全球南方", "Global South", "Sud global")),
    # Organisations, conferences and the initiatives' own acronyms
    ("United Nations", ("联合国", "United Nations", "Nations unies",
                        "Organisation des Nations unies", "=UN", "=ONU")),
    ("UNGA", ("联合国大会", "联大", "United Nations General Assembly", "UN General Assembly",
              "General Assembly", "Assemblée générale des Nations unies",
              "Assemblée générale de l'ONU", "UNGA", "AGNU")),
    ("UNIDO", ("联合国工业发展组织", "United Nations Industrial Development Organization",
               "Organisation des Nations unies pour le développement industriel", "UNIDO",
               "ONUDI")),
    ("UNESCO", ("联合国教科文组织", "UNESCO")),
    ("ITU", ("国际电信联盟", "International Telecommunication Union",
             "Union internationale des télécommunications", "=ITU", "=UIT")),
    ("BRICS", ("金砖国家", "金砖", "BRICS")),
    ("SCO", ("上海合作组织", "上合组织", "Shanghai Cooperation Organization",
             "Shanghai Cooperation Organisation", "Organisation de coopération de Shanghai",
             "=SCO", "=OCS")),
    ("APEC", ("亚太经合组织", "亚太经济合作组织", "Asia-Pacific Economic Cooperation",
              "Coopération économique Asie-Pacifique", "APEC")),
    ("ASEAN", ("东盟", "ASEAN", "ANASE")),
    ("European Union", ("欧盟", "European Union", "Union européenne", "=EU", "=UE")),
    ("G20", ("二十国集团", "=G20")),
    ("WAICO", ("世界人工智能合作组织", "World Artificial Intelligence Cooperation Organization",
               "World Artificial Intelligence Cooperation Organisation",
               "World AI Cooperation Organization", "World AI Cooperation Organisation",
               "Organisation mondiale de coopération en matière d'intelligence artificielle",
               "Organisation mondiale de coopération sur l'intelligence artificielle",
               "Organisation mondiale de coopération en matière d'IA", "WAICO")),
    ("WAIC", ("世界人工智能大会", "World Artificial Intelligence Conference",
              "World AI Conference", "Conférence mondiale sur l'intelligence artificielle",
              "Conférence mondiale de l'intelligence artificielle", "WAIC")),
    ("WIC", ("世界互联网大会", "World Internet Conference", "Conférence mondiale sur Internet",
             "Conférence mondiale sur l'Internet", "Conférence mondiale de l'Internet", "=WIC")),
    ("Belt and Road", ("一带一路", "Belt and Road", "la Ceinture et la Route")),
    ("Five-Year Plan", ("五年规划", "五年计划", "Five-Year Plan", "plan quinquennal")),
    ("CPC Central Committee", ("中共中央", "CPC Central Committee", "Central Committee",
                               "Comité central")),
    ("Xinhua", ("新华社", "新华通讯社", "Xinhua", "Xinhua News Agency")),
    ("Ministry of Foreign Affairs", ("外交部", "Ministry of Foreign Affairs", "Foreign Ministry",
                                     "ministère des Affaires étrangères")),
    ("State Council", ("国务院", "State Council", "Conseil des affaires de l'État")),
    ("CPC", ("中国共产党", "中共", "Communist Party of China", "Chinese Communist Party",
             "Parti communiste chinois", "Parti communiste de Chine", "=CPC", "=CCP", "=PCC")),
    ("Cyberspace Administration of China", ("国家互联网信息办公室", "国家网信办",
                                            "Cyberspace Administration of China", "=CAC")),
    ("Shanghai AI Laboratory", ("上海人工智能实验室", "Shanghai AI Laboratory", "Shanghai AI Lab",
                                "Shanghai Artificial Intelligence Laboratory")),
    ("Shanghai AI Research Institute", ("上海人工智能研究院", "Shanghai AI Research Institute",
                                        "Shanghai Artificial Intelligence Research Institute",
                                        "Institut de recherche sur l'intelligence artificielle "
                                        "de Shanghai")),
)  # fmt: skip

_LATIN = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff"
_LATIN_WORD = re.compile(rf"[{_LATIN}](?:[{_LATIN}0-9]|['\-](?=[{_LATIN}0-9]))*")
_ELISION = re.compile(r"(?i)^(?:[ldjmnstc]|qu|jusqu|lorsqu|puisqu)'(?=[A-ZÀ-ÖØ-Þ])")
_CONNECTORS = frozenset(
    {"of", "the", "for", "on", "de", "des", "du", "la", "le", "les", "l'", "d'", "von", "van",
     "der", "den", "da", "di", "del", "bin"}
)  # fmt: skip


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_FUNCTION_WORDS = _words("""
    a an the this that these those in on at for with by from as but and or if when while after
    before during since under over it he she they we our their his her its there here what which
    who how why many some all each every most more other such no not yes to of also however
    meanwhile yet so then thus today yesterday tomorrow last next first according
    le la les l un une des du de d ce cet cette ces en dans sur pour par avec selon lors depuis
    pendant apres avant au aux il elle ils elles nous vous on mais et ou si quand comme tout tous
    toutes ainsi cela ceci son sa ses leur leurs notre nos votre vos a ou qui que quoi dont grace
    face outre parmi sans sous vers chez entre hier demain aujourd cependant enfin
""")
_TITLES = _words("""
    president presidente premier prime minister ministre vice mr mrs ms dr prof m mme mlle
    secretary secretaire secretary-general secretaire-general chairman chairwoman chair director
    directeur directrice ambassador ambassadeur spokesperson spokesman spokeswoman porte-parole
    king queen prince roi reine chancellor chancelier governor gouverneur mayor maire senator
    senateur general state councillor conseiller deputy adjoint professor professeur foreign
    chief executive founder fondateur fondatrice former ancien ancienne
""")
_NATIONALITIES = _words("""
    chinese american french british european african asian russian korean indian brazilian
    japanese german zambian indonesian pakistani egyptian serbian kazakh western eastern
    southern northern international global national
""")
_CALENDAR_WORDS = _words("""
    monday tuesday wednesday thursday friday saturday sunday lundi mardi mercredi jeudi vendredi
    samedi dimanche
""") | frozenset(_MONTHS)
_NOT_NAMES = (
    _words("""
    ai ia gdp pib ceo pdg cfp tv ok faq pdf url rss am pm ii iii iv vi vii viii ix xi xii xiii
    north south east west nord sud est ouest
""")
    | _CALENDAR_WORDS
)
_SENTENCE_END = ".!?。！？:;|\n…"
_OPENERS = " \t\"'«»“”‘’([{—–-•*·"


@dataclass(frozen=True, slots=True)
class _Candidate:
    start: int
    end: int
    priority: int
    facts: tuple[Fact, ...]


def extract_facts(text: str, language: str | None = None) -> list[Fact]:
    """The facts ``text`` states, in order of their position (see the module docstring).

    ``language`` (``fr``, ``en``, ``zh`` …) is a hint for number formats and for « billion »;
    without it the text's function words decide.
    """
    if not text:
        return []
    normalized = normalize_text(text)
    french = _is_french(normalized.text, language)
    candidates = [
        *_dates(text, normalized),
        *_amounts(text, normalized, french),
        *_chinese_amounts(text, normalized),
    ]
    accepted = _without_overlaps(candidates)
    names = _names(text, normalized, blocked=[(c.start, c.end) for c in accepted])
    facts = [fact for candidate in accepted for fact in candidate.facts] + names
    facts.sort(key=lambda fact: (fact.start, fact.end))
    return facts


def _without_overlaps(candidates: list[_Candidate]) -> list[_Candidate]:
    """Candidates by priority, then longest first; each kept if it overlaps none kept."""
    kept: list[_Candidate] = []
    taken: list[tuple[int, int]] = []
    for candidate in sorted(candidates, key=lambda c: (c.priority, c.start - c.end, c.start)):
        if any(candidate.start < end and start < candidate.end for start, end in taken):
            continue
        kept.append(candidate)
        taken.append((candidate.start, candidate.end))
    kept.sort(key=lambda c: c.start)
    return kept


def _fact(
    kind: FactKind, key: str, text: str, normalized: NormalizedText, start: int, end: int
) -> Fact:
    original_start, original_end = normalized.original_span(start, end)
    return Fact(kind, key, text[original_start:original_end], original_start, original_end)


def _candidate(
    text: str, normalized: NormalizedText, start: int, end: int, priority: int, *facts: Fact
) -> _Candidate:
    original_start, original_end = normalized.original_span(start, end)
    return _Candidate(original_start, original_end, priority, facts)


def _dates(text: str, normalized: NormalizedText) -> Iterator[_Candidate]:
    source = normalized.text
    for pattern in _DATE_PATTERNS:
        for match in pattern.finditer(source):
            groups = match.groupdict()
            month_word = groups.get("month")
            if month_word and not month_word.isdigit():
                if month_word in _AMBIGUOUS_MONTHS and not _is_capitalised(
                    text, normalized, match.start("month")
                ):
                    continue
                month: int | None = _MONTHS[month_word]
            else:
                month = int(month_word) if month_word else None
            year = int(groups["year"]) if groups.get("year") else None
            day = int(groups["day"]) if groups.get("day") else None
            if "/" in match.group() and month is not None and day is not None and month > 12:
                month, day = day, month  # 07/26/2025
            end = match.end()
            if source[end - 1] == "." and month_word not in _MONTH_ABBREVIATIONS:
                end -= 1  # a full stop after a month's full name ends the sentence
            if month is not None and day is None and year is None:
                # "7月" or "July" alone: too vague to be a fact, and its digit is no number
                yield _candidate(text, normalized, match.start(), end, 0)
                continue
            first = _date_key(year, month, day)
            if first is None:
                continue
            facts = [_fact("date", first, text, normalized, match.start(), end)]
            if groups.get("day2"):
                month2 = int(groups["month2"]) if groups.get("month2") else month
                second = _date_key(year, month2, int(groups["day2"]))
                if second is None:
                    continue
                facts.append(_fact("date", second, text, normalized, match.start(), end))
            elif groups.get("year2"):
                facts.append(_fact("date", groups["year2"], text, normalized, match.start(), end))
            yield _candidate(text, normalized, match.start(), end, 0, *facts)


def _is_capitalised(text: str, normalized: NormalizedText, position: int) -> bool:
    start, _end = normalized.original_span(position, position + 1)
    return text[start : start + 1].isupper()


def _amounts(text: str, normalized: NormalizedText, french: bool) -> Iterator[_Candidate]:
    source = normalized.text
    list_markers = {match.end() - 2 for match in _LIST_MARKER.finditer(source)}
    for match in _amount_pattern(french).finditer(source):
        value = _parse_number(match.group("number"), french)
        if value is None or match.end("number") - 1 in list_markers:
            continue
        start, end = match.start(), match.end()
        before, after = match.group("before"), match.group("after")
        currency = _CURRENCY_AFTER[after] if after else _CURRENCY_BEFORE.get(before or "")
        scale = match.group("scale")
        if scale in _ABBREVIATED_SCALES and currency is None:
            scale = None  # "5 m" is five metres, not five million
            end = match.end("number")
        if scale:
            value *= _scale(scale, french)
        if before and not currency:
            start = match.start("number")
        if not before and not after:
            start = match.start("number")
        number = match.group("number")
        if match.group("ordinal"):
            if currency or scale or match.group("percent") or not number.isdigit():
                continue
            fact = _fact("number", f"#{int(number)}", text, normalized, start, end)
        elif match.group("percent") and not currency:
            fact = _fact("percent", number_key(value) + "%", text, normalized, start, end)
        elif currency:
            fact = _fact("money", f"{currency}:{number_key(value)}", text, normalized, start, end)
        elif not scale and re.fullmatch(r"(?:19|20)\d\d", number):
            fact = _fact("date", number, text, normalized, start, end)
        else:
            fact = _fact("number", number_key(value), text, normalized, start, end)
        yield _candidate(text, normalized, start, end, 1, fact)


def _scale(word: str, french: bool) -> float:
    if word in _BILLION:
        return 1e12 if french else 1e9
    return _SCALES.get(word) or _ABBREVIATED_SCALES[word]


def _chinese_amounts(text: str, normalized: NormalizedText) -> Iterator[_Candidate]:
    source = normalized.text
    for match in _CHINESE_AMOUNT.finditer(source):
        value = _parse_chinese_number(match.group("number"))
        if value is None:
            continue
        scale = match.group("scale")
        value *= _SCALES[scale] if scale else 1
        currency = _CURRENCY_AFTER[match.group("after")]
        key = f"{currency}:{number_key(value)}"
        fact = _fact("money", key, text, normalized, match.start(), match.end())
        yield _candidate(text, normalized, match.start(), match.end(), 1, fact)
    for match in _CHINESE_PERCENT.finditer(source):
        value = _parse_chinese_number(match.group("number"))
        if value is not None:
            fact = _fact("percent", number_key(value) + "%", text, normalized, *match.span())
            yield _candidate(text, normalized, *match.span(), 1, fact)
    for match in _CHINESE_ORDINAL.finditer(source):
        value = _parse_chinese_number(match.group("number"))
        if value is not None:
            fact = _fact("number", f"#{int(value)}", text, normalized, *match.span())
            yield _candidate(text, normalized, *match.span(), 1, fact)


# --- Names -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _NameMatchers:
    latin: re.Pattern[str]
    """Table writings in Latin script, on normalised text, whole words."""
    cjk: re.Pattern[str]
    """Table writings in Chinese, on normalised text."""
    exact: re.Pattern[str]
    """Case-sensitive table writings, on the original text with full-width forms folded."""
    keys: dict[str, str]
    """Writing (normalised, or as written for case-sensitive ones) → key."""


def _trie_pattern(words: list[str]) -> str:
    """A regular expression matching any of ``words``, longest first at each position."""
    trie: dict[str, dict] = {}  # type: ignore[type-arg]
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict) -> str:  # type: ignore[type-arg]
        branches = [
            (r"[\s\-]+" if char == " " else re.escape(char)) + build(child)
            for char, child in sorted(node.items())
            if char
        ]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return build(trie)


@cache
def _name_matchers() -> _NameMatchers:
    latin: list[str] = []
    cjk: list[str] = []
    exact: list[str] = []
    keys: dict[str, str] = {}
    for key, writings in NAME_TABLE:
        for writing in writings:
            if writing.startswith("="):
                exact.append(writing[1:])
                keys[writing[1:]] = key
                continue
            prepared = re.sub(r"[\s\-]+", " ", normalize_text(writing).text).strip()
            (cjk if _CJK_CHARACTER.search(prepared) else latin).append(prepared)
            keys[prepared] = key
    return _NameMatchers(
        latin=re.compile(rf"(?<![0-9a-z])(?:{_trie_pattern(latin)})(?![0-9a-z])"),
        cjk=re.compile(_trie_pattern(cjk)),
        exact=re.compile(rf"(?<![0-9A-Za-z])(?:{_trie_pattern(exact)})(?![0-9A-Za-z'])"),
        keys=keys,
    )


_FOLD = str.maketrans({**{chr(code): chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)},
                       "’": "'", "‘": "'", "\u3000": " ", "\u00a0": " "})  # fmt: skip


def _names(text: str, normalized: NormalizedText, blocked: list[tuple[int, int]]) -> list[Fact]:
    matchers = _name_matchers()
    folded = text.translate(_FOLD)
    found: list[tuple[int, int, str]] = []  # original start, end, key
    for pattern in (matchers.latin, matchers.cjk):
        for match in pattern.finditer(normalized.text):
            writing = re.sub(r"[\s\-]+", " ", match.group())
            start, end = normalized.original_span(match.start(), match.end())
            found.append((start, end, matchers.keys[writing]))
    for match in matchers.exact.finditer(folded):
        found.append((match.start(), match.end(), matchers.keys[match.group()]))
    taken = list(blocked)
    facts: list[Fact] = []
    for start, end, key in sorted(found, key=lambda item: (item[0] - item[1], item[0])):
        if any(start < other_end and other_start < end for other_start, other_end in taken):
            continue
        taken.append((start, end))
        facts.append(Fact("name", key, text[start:end], start, end))
    facts.extend(_capitalised_names(text, folded, taken))
    return facts


@dataclass(frozen=True, slots=True)
class _Word:
    start: int
    end: int
    text: str
    connector: str | None = None
    """The elided article written before it (l', d'), if any."""


def _capitalised_names(text: str, folded: str, taken: list[tuple[int, int]]) -> list[Fact]:
    """Sequences of capitalised Latin words and acronyms that the table does not know."""
    words = [word for match in _LATIN_WORD.finditer(folded) if (word := _split_elision(match))]
    lower_case = {word.text.lower() for word in words if word.text[0].islower()}
    capitalised_inside = set()
    after_opening = False  # the previous word was a capitalised function word opening a sentence
    for word in words:
        opening = _starts_sentence(folded, word)
        if word.text[0].isupper() and not opening and not after_opening:
            capitalised_inside.add(word.text)
        after_opening = opening and _plain(word) in _FUNCTION_WORDS
    facts: list[Fact] = []
    edges = {edge for span in taken for edge in span}
    for sequence in _sequences(folded, words, taken):
        fact = _name_of(text, folded, sequence, lower_case, capitalised_inside, edges)
        if fact is not None:
            facts.append(fact)
    return _with_full_names(facts)


def _with_full_names(facts: list[Fact]) -> list[Fact]:
    """A surname or given name alone ("Song") takes the key of the one longer name of the text
    that it belongs to ("Song Haitao")."""
    longer: dict[str, set[str]] = {}
    for fact in facts:
        words = fact.key.split()
        if len(words) > 1:
            for word in words:
                longer.setdefault(word, set()).add(fact.key)
    return [
        replace(fact, key=next(iter(keys)))
        if " " not in fact.key and len(keys := longer.get(fact.key, set())) == 1
        else fact
        for fact in facts
    ]


def _split_elision(match: re.Match[str]) -> _Word | None:
    word = match.group()
    elision = _ELISION.match(word)
    if elision:
        return _Word(match.start() + elision.end(), match.end(), word[elision.end() :],
                     word[: elision.end()].lower())  # fmt: skip
    if word.endswith("'s"):
        return _Word(match.start(), match.end() - 2, word[:-2])
    return _Word(match.start(), match.end(), word)


def _starts_sentence(folded: str, word: _Word) -> bool:
    """Whether only openers (spaces, quotes, brackets, dashes) stand between ``word`` and the
    start of its sentence, of a quotation or of the text."""
    position = word.start - (len(word.connector) if word.connector else 0) - 1
    while position >= 0 and folded[position] in _OPENERS:
        if folded[position] in '"«“':
            return True
        position -= 1
    return position < 0 or folded[position] in _SENTENCE_END


def _sequences(
    folded: str, words: list[_Word], taken: list[tuple[int, int]]
) -> Iterator[list[_Word]]:
    """Runs of capitalised words, joined by spaces and connectors, outside ``taken`` spans."""
    covered = bytearray(len(folded) + 1)
    for start, end in taken:
        covered[start:end] = b"\x01" * (end - start)
    capital_lines = _capital_lines(folded)
    current: list[_Word] = []
    pending: list[_Word] = []  # connectors waiting for the next capitalised word
    previous_end: int | None = None
    for word in words:
        outer_start = word.start - len(word.connector or "")
        gap = folded[previous_end:outer_start] if previous_end is not None else None
        joined = gap == " " or (gap == "" and word.connector is not None)
        previous_end = word.end
        if (
            word.text[0].isupper()
            and not covered[word.start]
            and not covered[word.end - 1]
            and _plain(word) not in _CALENDAR_WORDS
            and not (capital_lines and _line_start(folded, word.start) in capital_lines)
        ):
            if current and joined and word.connector in (None, "l'", "d'"):
                current.extend(pending)
                current.append(word)
            else:
                if current:
                    yield current
                current = [word]
            pending = []
            if folded[word.end : word.end + 2] == "'s":  # a possessive ends the name
                yield current
                current = []
        elif current and joined and word.connector is None and word.text in _CONNECTORS:
            pending.append(word)
            if len(pending) > 2:
                yield current
                current, pending = [], []
        else:
            if current:
                yield current
            current, pending = [], []
    if current:
        yield current


_UPPER_LATIN = re.compile(r"[A-ZÀ-ÖØ-Þ]")
_LOWER_LATIN = re.compile(r"[a-zß-öø-ÿ]")


def _capital_lines(folded: str) -> set[int]:
    """The start offsets of lines written in capitals (a headline in upper case)."""
    found = set()
    start = 0
    for line in folded.split("\n"):
        upper = len(_UPPER_LATIN.findall(line))
        if upper >= 14 and upper >= 0.7 * (upper + len(_LOWER_LATIN.findall(line))):
            found.add(start)
        start += len(line) + 1
    return found


def _line_start(folded: str, position: int) -> int:
    return folded.rfind("\n", 0, position) + 1


def _name_of(
    text: str,
    folded: str,
    sequence: list[_Word],
    lower_case: set[str],
    capitalised_inside: set[str],
    edges: set[int],
) -> Fact | None:
    initial = _starts_sentence(folded, sequence[0])
    while sequence and _plain(sequence[0]) in _FUNCTION_WORDS | _CONNECTORS:
        sequence = sequence[1:]
    while len(sequence) > 1 and _plain(sequence[0]) in _TITLES | _NATIONALITIES:
        sequence = sequence[1:]
    while sequence and _plain(sequence[-1]) in _CONNECTORS | _NATIONALITIES:
        sequence = sequence[:-1]
    if not sequence or all(_plain(word) in _TITLES | _NATIONALITIES for word in sequence):
        return None
    names = [word for word in sequence if _plain(word) not in _CONNECTORS]
    if len(names) == 1:
        word = names[0]
        plain = _plain(word)
        acronym = _is_acronym(word.text)
        if plain in _NOT_NAMES | _TITLES | _NATIONALITIES or len(word.text) < 2:
            return None
        if not acronym:
            if plain in lower_case or plain.rstrip("s") in lower_case or plain + "s" in lower_case:
                return None
            if initial and word.text not in capitalised_inside:
                return None
            if word.start - 1 in edges or word.end + 1 in edges:
                return None  # part of a longer name around a known one: "Gyeongju Declaration"
    elif initial and all(_plain(word) in lower_case for word in names):
        return None
    start, end = sequence[0].start, sequence[-1].end
    return Fact("name", _name_key(folded[start:end]), text[start:end], start, end)


def _plain(word: _Word) -> str:
    return _strip_accents(word.text).lower()


def _is_acronym(word: str) -> bool:
    letters = [char for char in word if char.isalpha()]
    return len(letters) >= 2 and all(char.isupper() for char in letters)


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _name_key(phrase: str) -> str:
    return re.sub(r"\s+", " ", _strip_accents(phrase)).strip()


def is_hard_fact(fact: Fact) -> bool:
    """Numbers, amounts, percentages and dates more precise than a year: the facts that cross
    languages reliably (names are written differently from one language to another)."""
    if fact.kind == "name":
        return False
    return not (fact.kind == "date" and re.fullmatch(r"\d{4}", fact.key))
