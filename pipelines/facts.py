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
  and 第32届. The phrase takes in what is counted ("3,000 experts", "12 cooperation
  documents", "32nd informal meeting", 40个国家, « 38 participants »; see :func:`is_counted`),
  which the key leaves out so that it still crosses languages. French numbers use a comma for
  decimals and spaces (or dots) between thousands; English and Chinese the other way round. A
  bare year is a date, not a number.
- ``date``: ISO 8601: ``2025-07-26``; ``2025-07`` (a month); ``2025`` (a year, written alone:
  "WAIC 2025", « en 2023 »); ``--11-01`` when the year is not written (« le 1er novembre »,
  7月26日, "July 26"). That last form is ISO 8601's own for a month and day without a year.
  The year is *not* guessed from the rest of the text: a January article about "12 December"
  would get it wrong, and a guess would make a key look more certain than the text is.
  Comparison treats ``--MM-DD`` as compatible with any full date of that day (see
  :func:`date_query_keys` and :func:`date_index_keys`). Ranges give one fact per end:
  "26–28 July 2025", « du 26 au 28 juillet », 7月26日至28日, 2025年1至9月, "2024-2025". Numeric
  dates are read year first (2025-07-26, 2025/07/26) or day first (26/07/2025, as in French and
  British usage); an American 07/26/2025 is read month first only because day first is
  impossible.
- ``name``: a canonical name. First from :data:`NAME_TABLE`, which lists names that cross
  scripts and matter for our topics with their writings in English, French and Chinese
  (习近平, Xi Jinping → ``Xi Jinping``; 联合国, ONU, UN, Nations unies → ``United Nations``;
  金砖, BRICS → ``BRICS``). Then titles and names in quotation marks (《人工智能全球治理行动计划》,
  “人工智能+”, « Intelligence artificielle + », "AI Plus"), keyed as written inside the marks,
  which their phrase keeps (see :func:`is_quoted`); Chinese people named after their title
  (发言人何亚东, 总理莫迪); then any other sequence of capitalised Latin words or acronym
  (WAICO, Song Haitao), in any of the three languages, keyed as written without accents.

**Names without a table entry** are guessed from capitals, and capitals also mark sentence
starts, titles and house style. The rules that keep common words out:

- *Sentence starts.* A capitalised word opening a sentence (or a quotation, or following a
  colon) is dropped from the front of a name if it is a function word or a stop word of the
  text's language ("However", "Several Member States", "Both Sides"), unless the text
  capitalises it inside sentences too ("New Zealand"). Stop words come from the ``stop-words``
  package (its English and French lists, less their one- and two-letter words, which are
  mostly country codes and surnames such as Li and Ma). A single word opening a sentence is a
  name only if the text also capitalises it inside a sentence.
- *Common words.* A single capitalised word is a name only if the text never writes it in lower
  case and it is no stop word; words that name a kind of institution or place (Organization,
  Summit, Internet, Plan, Ministère …) are not names alone, nor together ("Member States",
  "Action Plan"); generic acronyms (AI, IA, GDP, PIB …), month and day names, contractions
  ("I'd") and adjectives such as "London-based" are never names.
- *Titles and nationalities.* A title before a person is dropped ("Defense Secretary Mark
  Esper" → Mark Esper), with the nationality before it ("Israeli Prime Minister …"); a place
  or organisation before the title stays a name of its own ("New Zealand Prime Minister
  Christopher Luxon" → New Zealand, Christopher Luxon). Nationality adjectives elsewhere belong
  to the name ("International Monetary Fund", "Global AI Governance Action Plan").
- *Headlines.* Lines in capitals are skipped; in a line in title case ("Current Roster Of Games
  Isn't Very Impressive"), only acronyms and words the text capitalises inside its sentences
  count as capitalised.
- *Neighbours.* A single word right next to a known name is part of a longer name the table
  only half knows ("Gyeongju Declaration") and is dropped; a surname alone takes the key of the
  one full name of the text it belongs to ("Song" after "Song Haitao").

Connectors (of, the, de, la, l' …) join capitalised words after a word that heads a name
(Ministry, Forum, University …: "Ministry of Foreign Affairs", "Forum de Davos") and inside a
person's name ("Alex de Minaur"), not between two names ("Michael Venus of New Zealand"); "and"
and « et » never do, because lists of names are more common than names with "and".
Lower-case text (some machine translations) yields only table and quoted names. Other Chinese
names are not guessed: without a segmenter, a guess would be noise.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import cache, lru_cache
from typing import Literal

from stop_words import get_stop_words

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
    "singapore dollars": "SGD", "sgd": "SGD", "新加坡元": "SGD", "新元": "SGD",
}  # fmt: skip
_CURRENCY_BEFORE = {
    "us$": "USD", "$": "USD", "usd": "USD", "€": "EUR", "eur": "EUR", "£": "GBP", "gbp": "GBP",
    "¥": "CNY", "￥": "CNY", "rmb": "CNY", "cny": "CNY", "人民币": "CNY", "hk$": "HKD",
    "s$": "SGD", "sgd": "SGD",
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
    re.compile(  # 1至9月: a span of months
        r"(?<!\d)(?:(?P<year>(?:19|20)\d\d)\s?年\s?)?(?P<month>[01]?\d)\s?(?:月\s?)?"
        r"(?:至|到|-|~|—)\s?(?P<month2>[01]?\d)\s?月(?!\s?[0-3]?\d\s?[日号])"
    ),
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
    meanwhile yet so then thus today yesterday tomorrow last next first according is be do my
    le la les l un une des du de d ce cet cette ces en dans sur pour par avec selon lors depuis
    pendant apres avant au aux il elle ils elles nous vous on mais et ou si quand comme tout tous
    toutes ainsi cela ceci son sa ses leur leurs notre nos votre vos a ou qui que quoi dont grace
    face outre parmi sans sous vers chez entre hier demain aujourd cependant enfin
""")
_TITLES = _words("""
    president presidente president-elect premier prime minister ministre vice mr mrs ms dr prof
    m mme mlle secretary secretaire secretary-general secretaire-general chairman chairwoman
    chairperson chair director directeur directrice ambassador ambassadeur spokesperson
    spokesman spokeswoman porte-parole king queen prince roi reine chancellor chancelier
    governor gouverneur mayor maire senator senateur sen rep gov hon rev lt col capt captain gen
    general state councillor conseiller deputy adjoint professor professeur foreign chief
    executive founder fondateur fondatrice former ancien ancienne speaker envoy emissary
    representative commissioner commissaire ceo cfo pdg senior
""")
_NATIONALITIES = _words("""
    chinese american french british european african asian russian korean indian brazilian
    japanese german zambian indonesian pakistani egyptian serbian kazakh kenyan nigerian
    ethiopian south-african ghanaian senegalese rwandan ugandan tanzanian moroccan algerian
    tunisian arab israeli palestinian iranian iraqi syrian saudi emirati qatari turkish
    ukrainian belarusian polish czech hungarian romanian bulgarian greek italian spanish
    portuguese dutch belgian swiss austrian swedish norwegian danish finnish irish scottish
    canadian mexican argentine argentinian chilean peruvian colombian venezuelan cuban
    australian vietnamese thai malaysian singaporean filipino cambodian mongolian nepali
    bangladeshi afghan uzbek kyrgyz tajik latin pacific nordic western eastern southern
    northern international global national
""")
_GENERIC_NOUNS = _words("""
    organization organisation organizations organisations ministry ministries department
    government governments council committee commission conference summit forum meeting
    session assembly parliament congress senate cabinet agency office bureau authority
    administration association federation union alliance institute institution university
    college school academy center centre laboratory lab foundation fund bank court party
    group initiative plan programme program project strategy framework declaration charter
    treaty agreement convention protocol resolution report act law policy network platform
    secretariat board member members state states nation nations country countries side sides
    region province city county district republic kingdom internet web company corporation
    gulf bay sea strait island islands isle cape lake mount river port coast festival prize
    cup day action
    ministere gouvernement conseil comite sommet reunion assemblee parlement congres senat
    agence autorite federation institut universite ecole academie laboratoire fondation fonds
    banque cour parti groupe projet strategie cadre charte traite accord protocole rapport
    loi politique reseau plateforme secretariat etat etats pays ville republique royaume
    societe entreprise golfe baie mer detroit ile iles lac mont fleuve cote prix coupe journee
""")
"""Words that name a kind of institution or place. Alone, or only with each other ("Member
States", "Action Plan"), they are house style for a name written in full elsewhere; at the
head of a name they let connectors in ("Ministry of …", "Forum de …")."""
_NOT_STOP_WORDS = frozenset({"microsoft", "netscape", "arpa", "uucp", "msie"})
"""Brand names in the library's English list."""
_CALENDAR_WORDS = _words("""
    monday tuesday wednesday thursday friday saturday sunday lundi mardi mercredi jeudi vendredi
    samedi dimanche
""") | frozenset(_MONTHS)
_NOT_NAMES = (
    _words("""
    ai ia gdp pib ceo pdg cfp tv ok faq pdf url rss am pm ii iii iv vi vii viii ix xi xii xiii
    oh ah eh hey wow
    north south east west nord sud est ouest north-east north-west south-east south-west
    northeast northwest southeast southwest nord-est nord-ouest sud-est sud-ouest
""")
    | _CALENDAR_WORDS
)
_HEADS = _GENERIC_NOUNS | _TITLES
_SMALL_WORDS = _FUNCTION_WORDS | _CONNECTORS
_NOT_LAST = _CONNECTORS | _NATIONALITIES | _TITLES
_TITLES_AND_NATIONALITIES = _TITLES | _NATIONALITIES
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
    accepted = _with_units(text, normalized, _without_overlaps(candidates), french)
    names = _names(text, normalized, [(c.start, c.end) for c in accepted], french)
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
            elif groups.get("month2") and day is None:
                second = _date_key(year, int(groups["month2"]), None)
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


_NOT_UNITS = _words("""
    is are was were be been being will would can could may might has have had do does did said
    says per than est sont etait etaient sera seront ont avait avaient
""")
_NOT_UNIT_WORDS = _NOT_UNITS | _FUNCTION_WORDS | _CONNECTORS | _CALENDAR_WORDS | frozenset(_MONTHS)
_CLASSIFIERS = "个名家位项所座条场次批种款台架艘辆本篇份件国届期轮人"
_CHINESE_UNIT = re.compile(rf"\s?([{_CLASSIFIERS}])([{_CJK}]{{2}})?")
_AFTER_CHINESE_NOUN = frozenset("将均共已参出来")
_LATIN_UNIT = re.compile(rf"[ \u00a0\u202f]([{_LATIN}]+)(?:[ \u00a0\u202f]([{_LATIN}]+))?")


def _with_units(
    text: str, normalized: NormalizedText, accepted: list[_Candidate], french: bool
) -> list[_Candidate]:
    """Counts with what they count: "3,000 experts", "40个国家", « 38 participants ». A number
    alone says little in a list of new facts; its key stays the number, which crosses
    languages (the noun does not)."""
    result = []
    for position, candidate in enumerate(accepted):
        if len(candidate.facts) != 1 or candidate.facts[0].kind != "number":
            result.append(candidate)
            continue
        fact = candidate.facts[0]
        limit = accepted[position + 1].start if position + 1 < len(accepted) else len(text)
        end = min(_unit_end(text, fact.end, french), limit)
        if end > fact.end and not text[fact.end : end].isspace():
            fact = replace(fact, phrase=text[fact.start : end], end=end)
            candidate = replace(candidate, end=end, facts=(fact,))
        result.append(candidate)
    return result


_ADJECTIVE_ENDINGS = ("al", "ive", "ic", "ous", "ary", "ful", "ent", "ant", "ing")


def _unit_end(text: str, end: int, french: bool) -> int:
    """Where the noun after a number ends: a Chinese classifier and its two-character noun,
    or a lower-case word, two after an adjective or a nationality or if the second is a plural
    ("32nd informal meeting", "25 African states", "12 cooperation documents"; « 21e siècle
    avance » and "20 countries attended" stop at the noun), or ``end``."""
    chinese = None
    if _CJK_CHARACTER.match(text[end : end + 2].strip()):
        window = normalize_text(text[end : end + 12])
        chinese = _CHINESE_UNIT.match(window.text)
    if chinese:
        last = chinese.end(1)
        noun, stop = chinese.group(2), _chinese_stop_characters()
        after = window.text[chinese.end(2) : chinese.end(2) + 1] if noun else ""
        # Two characters make the noun only if a word boundary we can see follows them.
        if (
            noun
            and not set(noun) & stop
            and (not _CJK_CHARACTER.match(after) or after in stop or after in _AFTER_CHINESE_NOUN)
        ):
            last = chinese.end(2)
        return end + window.original_span(0, last)[1]
    latin = _LATIN_UNIT.match(text, end)
    if not latin:
        return end
    words = []
    adjective = False
    for group in (1, 2):
        word = latin.group(group)
        if not word:
            break
        plain = _strip_accents(word).lower()
        nationality = word[0].isupper() and plain in _NATIONALITIES and group == 1
        if (word[0].isupper() and not nationality) or plain in _NOT_UNIT_WORDS:
            break
        if text[latin.end(group) : latin.end(group) + 1] == "-":
            break  # "3.5 million twenty-foot units": no half of a compound
        if group == 2 and not (adjective or plain.endswith(("s", "x"))):
            break  # « 21e siècle avance »: a noun and then a verb
        words.append(latin.end(group))
        adjective = nationality or plain.endswith(_ADJECTIVE_ENDINGS)
        if plain.endswith(("s", "x")) and not adjective:
            break  # "20 countries attended"
    return words[-1] if words else end


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


def _names(
    text: str, normalized: NormalizedText, blocked: list[tuple[int, int]], french: bool
) -> list[Fact]:
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
    stop_words = _stop_words(french)
    quoted = _quoted_names(text, folded, facts, stop_words)
    facts.extend(quoted)
    facts.extend(_chinese_person_names(text, normalized, taken))
    quotes = [(fact.start, fact.end) for fact in quoted]
    facts.extend(_capitalised_names(text, folded, taken + quotes, stop_words))
    return facts


@cache
def _stop_words(french: bool) -> frozenset[str]:
    """The stop-words package's list for the text's language, without accents. Latin words in
    a Chinese text are English."""
    words = get_stop_words("fr" if french else "en")
    # Its words of one or two letters are mostly country codes (cn, uk) and Chinese surnames
    # (li, ma); the function words among them are in _FUNCTION_WORDS.
    return (
        frozenset(plain for word in words if len(plain := _strip_accents(word).lower()) > 2)
        - _NOT_STOP_WORDS
    )


@cache
def _chinese_stop_characters() -> frozenset[str]:
    return frozenset(word for word in get_stop_words("zh") if len(word) == 1)


# --- Quoted names ------------------------------------------------------------------------------

_QUOTES = re.compile(
    r"《(?P<book>[^《》\n]{2,40})》"
    r"|“(?P<curly>[^“”\n]{1,60})”|「(?P<corner>[^「」\n]{1,60})」"
    r"|«\s?(?P<guillemets>[^«»\n]{1,100}?)\s?»"
    r'|(?<![\w"])"(?P<straight>[^"\n]{1,60})"(?!\w)'
)
_CLAUSE_PUNCTUATION = re.compile(r"[.,;:!?…，。；：！？、]")
_MAX_QUOTED_WORDS = 10


def _quoted_names(
    text: str, folded: str, known: list[Fact], stop_words: frozenset[str]
) -> list[Fact]:
    """Titles and names in quotation marks: 《人工智能全球治理行动计划》, “人工智能+”,
    « Intelligence artificielle + », "AI Plus". Their phrase keeps the marks, which tell a
    reader it is a title. Speech is not a name: a quotation with clause punctuation, of more
    than :data:`_MAX_QUOTED_WORDS` words, or starting with a lower-case or common word (« sans
    tarder », "We are ready") is left out; so is one that is exactly a name of the table."""
    facts = []
    spans = {(fact.start, fact.end) for fact in known}
    for match in _QUOTES.finditer(folded):
        kind = match.lastgroup
        assert kind is not None
        start, end = match.span(kind)
        inner = folded[start:end].strip()
        start += len(folded[start:end]) - len(folded[start:end].lstrip())
        end = start + len(inner)
        if not inner or (start, end) in spans or _CLAUSE_PUNCTUATION.search(inner):
            continue
        if _CJK_CHARACTER.search(inner):
            if kind != "book" and len(inner) > 20:
                continue
            key = normalize_text(inner).text
        else:
            words = [w for m in _LATIN_WORD.finditer(inner) if (w := _split_elision(m))]
            if not words or len(words) > _MAX_QUOTED_WORDS:
                continue
            first = words[0]
            if not (first.text[0].isupper() or _is_acronym(first.text)) or (
                (_plain(first) in stop_words or _plain(first) in _FUNCTION_WORDS)
                and not _is_acronym(first.text)
            ):
                continue
            if len(words) == 1 and _plain(first) in _HEADS:
                continue
            key = _name_key(inner[first.start :])
        phrase_start, phrase_end = match.span()
        facts.append(Fact("name", key, text[phrase_start:phrase_end], phrase_start, phrase_end))
    return facts


def is_quoted(fact: Fact) -> bool:
    """Whether the fact is a title or name written in quotation marks."""
    return fact.kind == "name" and fact.phrase[:1] in '《“「«"'


# --- Chinese names of people -------------------------------------------------------------------

_CHINESE_TITLES = (
    "国家主席|主席|总统|副总统|总理|副总理|首相|总书记|国务委员|外长|部长|副部长|大使|代表|"
    "发言人|秘书长|副秘书长|总干事|主任|院长|校长|局长|司长|署长|省长|市长|议长|董事长|总裁|"
    "行长|教授|特使|国王|女王|王储"
)
_CHINESE_AFTER_NAME = (
    "表示|说|指出|强调|介绍|称|认为|宣布|出席|会见|会晤|致辞|主持|发表|接受|回答|答|应约|应邀|"
    "访问|率团|一行|当天|日前|近日|今天|昨天|在|于|和|与|及|同|等|向|对|将|也|还|则|就|"
    r"[，。、；：！？（(\s“”\"0-9]"
)
_CHINESE_PERSON = re.compile(
    rf"(?:{_CHINESE_TITLES})(?P<name>[{_CJK}]{{2,5}}?)(?={_CHINESE_AFTER_NAME}|$)"
)
_CHINESE_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾"
    "毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关"
    "兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻"
    "祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿"
)
_TRANSLITERATION = frozenset(
    "阿埃艾爱安昂奥巴拜班邦贝本比彼毕波伯博布查达戴丹道德登迪蒂杜多厄恩法范菲费芬弗福盖甘戈格"
    "贡古哈海汉豪赫亨胡华霍基吉加贾杰金卡凯坎康科克肯库奎拉莱兰朗劳勒雷里利连林卢鲁伦罗洛马迈"
    "麦曼梅门蒙米明莫姆穆纳南内尼努诺欧帕潘佩皮普奇齐乔切琼萨塞桑瑟森沙尚舍施什斯苏索塔泰坦汤"
    "唐特图托瓦万旺威韦维温沃乌武西希席夏谢辛休雅亚扬耶伊因英尤约泽扎詹兹茨黛娜丽琳莎娃"
)


def _chinese_person_names(
    text: str, normalized: NormalizedText, taken: list[tuple[int, int]]
) -> list[Fact]:
    """People named after their title (发言人毛宁, 总理莫迪, 代表傅聪), without a segmenter: two
    or three characters starting with a common surname, or two to five characters used to
    transliterate foreign names, between a title and a verb, a preposition or punctuation."""
    facts = []
    for match in _CHINESE_PERSON.finditer(normalized.text):
        name = match.group("name")
        chinese = name[0] in _CHINESE_SURNAMES and len(name) <= 3
        foreign = all(char in _TRANSLITERATION for char in name)
        if not (chinese or foreign) or set(name[1:]) & _chinese_stop_characters():
            continue  # the surname may be one (何, 于)
        start, end = normalized.original_span(match.start("name"), match.end("name"))
        if any(start < other_end and other_start < end for other_start, other_end in taken):
            continue
        taken.append((start, end))
        facts.append(Fact("name", name, text[start:end], start, end))
    return facts


# --- Capitalised names -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Word:
    start: int
    end: int
    text: str
    connector: str | None = None
    """The elided article written before it (l', d'), if any."""


@dataclass(frozen=True, slots=True)
class _Context:
    text: str
    folded: str
    lower_case: frozenset[str]
    """Words the text writes in lower case (plain: no accents)."""
    capitalised_inside: frozenset[str]
    """Words the text capitalises inside a sentence, where only names are capitalised."""
    edges: frozenset[int]
    """Where the names already found start and end."""
    stop_words: frozenset[str]
    headlines: frozenset[int]
    """The start offsets of lines in title case or in capitals."""
    line_of: dict[int, int]
    """Word start → the start of its line."""


def _capitalised_names(
    text: str, folded: str, taken: list[tuple[int, int]], stop_words: frozenset[str]
) -> list[Fact]:
    """Sequences of capitalised Latin words and acronyms that the table does not know."""
    words = [word for match in _LATIN_WORD.finditer(folded) if (word := _split_elision(match))]
    line_of = _line_starts(folded, words)
    headlines = _headline_lines(folded, words, line_of, stop_words)
    capitalised_inside = set()
    after_opening = False  # the previous word was a capitalised function word opening a sentence
    for word in words:
        if line_of[word.start] in headlines:
            continue
        opening = _starts_sentence(folded, word)
        if word.text[0].isupper() and not opening and not after_opening:
            capitalised_inside.add(word.text)
        after_opening = opening and (_plain(word) in _FUNCTION_WORDS or _plain(word) in stop_words)
    context = _Context(
        text=text,
        folded=folded,
        lower_case=frozenset(_plain(word) for word in words if word.text[0].islower()),
        capitalised_inside=frozenset(capitalised_inside),
        edges=frozenset(edge for span in taken for edge in span),
        stop_words=stop_words,
        headlines=frozenset(headlines),
        line_of=line_of,
    )
    facts: list[Fact] = []
    for sequence in _sequences(words, taken, context):
        facts.extend(_names_of(sequence, context))
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


_NOT_A_NAME_WORD = re.compile(
    r"^I$|(?:'(?:d|ll|m|ve|re|D|LL|M|VE|RE)|n't|N'T)$"  # I, I'd, Isn't
    r"|-(?:[a-z]+ed|led|run|born|made|style|size|wide|like|free|era|speaking|winning|leading"
    r"|weary|friendly|level|scale|class)$"  # London-based, Oscar-winning
)
_PARTICLES = frozenset({"de", "van", "von", "der", "den", "da", "di", "del", "bin"})
"""Connectors that join the parts of a person's name ("Alex de Minaur")."""


def _counts_as_capitalised(word: _Word, in_headline: bool, context: _Context) -> bool:
    """Whether the word counts as capitalised. In a headline in title case every word is, so
    only acronyms and the words the text capitalises inside its sentences count there."""
    if not word.text[0].isupper() or _NOT_A_NAME_WORD.search(word.text):
        return False
    return not in_headline or _is_acronym(word.text) or word.text in context.capitalised_inside


def _is_head(word: _Word) -> bool:
    return _plain(word) in _HEADS


def _sequences(
    words: list[_Word], taken: list[tuple[int, int]], context: _Context
) -> Iterator[list[_Word]]:
    """Runs of capitalised words, joined by spaces and connectors, outside ``taken`` spans.
    Connectors join only after a word that heads a name ("Ministry of Foreign Affairs",
    "Forum de Davos"), not between two names ("Michael Venus of New Zealand")."""
    folded = context.folded
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
        line = context.line_of[word.start]
        if (
            _counts_as_capitalised(word, line in context.headlines, context)
            and not covered[word.start]
            and not covered[word.end - 1]
            and _plain(word) not in _CALENDAR_WORDS
            and not (capital_lines and line in capital_lines)
        ):
            linked = (
                all(_plain(connector) in _PARTICLES for connector in pending)
                if word.connector is None
                else not pending
            ) or any(map(_is_head, current))
            if current and joined and word.connector in (None, "l'", "d'") and linked:
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


_SENTENCE_BREAK = re.compile(r"[.!?。！？][\"'”’»)]*\s+\S")


def _headline_lines(
    folded: str, words: list[_Word], line_of: dict[int, int], stop_words: frozenset[str]
) -> set[int]:
    """The start offsets of lines in title case ("Current Roster Of Games Isn't Impressive"):
    short, mostly capitalised, and capitalising common words after their first."""
    lines: dict[int, list[_Word]] = {}
    for word in words:
        lines.setdefault(line_of[word.start], []).append(word)
    found = set()
    for start, line in lines.items():
        end = folded.find("\n", start)
        end = end if end >= 0 else len(folded)
        if len(line) < 3 or end - start > 150 or _SENTENCE_BREAK.search(folded, start, end):
            continue
        capitalised = [word for word in line[1:] if word.text[0].isupper()]
        common = [
            word
            for word in capitalised
            if not _is_acronym(word.text) and not _starts_sentence(folded, word)
        ]
        function = [word for word in common if _plain(word) in _SMALL_WORDS]
        stop = [word for word in common if _plain(word) in stop_words]
        # One capitalised article or preposition, or two common words: a surname such as Ma
        # or Han is a French or English common word too.
        if len(capitalised) + 1 >= 0.6 * len(line) and (function or len(stop) > 1):
            found.add(start)
    return found


def _line_starts(folded: str, words: list[_Word]) -> dict[int, int]:
    """Word start → the start of its line, in one pass."""
    found = {}
    line = 0
    for word in words:
        newline = folded.rfind("\n", line, word.start)
        if newline >= 0:
            line = newline + 1
        found[word.start] = line
    return found


def _names_of(sequence: list[_Word], context: _Context) -> list[Fact]:
    """The names a run of capitalised words makes: none, one, or a place or organisation and
    a person ("New Zealand Prime Minister Christopher Luxon")."""
    initial = _starts_sentence(context.folded, sequence[0])
    # At a sentence start, a capitalised common word is only the start: "Several Member
    # States", "Both Sides", unless the text capitalises it inside sentences ("New York").
    while sequence and (
        _plain(sequence[0]) in _SMALL_WORDS
        or (
            _starts_sentence(context.folded, sequence[0])
            and (
                _plain(sequence[0]) in context.stop_words
                or sequence[0].text.rsplit("-", 1)[-1].islower()  # "Day-by-day"
            )
            and sequence[0].text not in context.capitalised_inside
            and not _is_acronym(sequence[0].text)
        )
    ):
        sequence = sequence[1:]
    while sequence and _plain(sequence[-1]) in _NOT_LAST:
        sequence = sequence[:-1]
    if not sequence:
        return []
    facts = []
    person = _after_title(sequence)
    if person is not None:
        title = len(sequence) - len(person) - 1
        while title > 0 and _plain(sequence[title - 1]) in _TITLES_AND_NATIONALITIES:
            title -= 1
        before = sequence[:title]
        if len(before) > 1:
            facts.extend(_name_of(before, initial, context))
        sequence, initial = person, False
    facts.extend(_name_of(sequence, initial, context))
    return facts


def _after_title(sequence: list[_Word]) -> list[_Word] | None:
    """The person named after the last title in the sequence, if the words after it are
    names, not connectors or words heading an organisation."""
    titles = [n for n, word in enumerate(sequence) if _plain(word) in _TITLES]
    if not titles or titles[-1] == len(sequence) - 1:
        return None
    person = sequence[titles[-1] + 1 :]
    if any(_plain(word) in _CONNECTORS or _plain(word) in _GENERIC_NOUNS for word in person) or any(
        _plain(word) in _CONNECTORS for word in sequence[: titles[-1]]
    ):
        return None
    return person


_GENERIC = _GENERIC_NOUNS | _TITLES | _NATIONALITIES | _FUNCTION_WORDS | _NOT_NAMES


def _name_of(sequence: list[_Word], initial: bool, context: _Context) -> list[Fact]:
    while (
        len(sequence) > 1
        and (_plain(sequence[0]) in _TITLES or _plain(sequence[0]) in _CONNECTORS)
        and any(_plain(word) in _TITLES for word in sequence[:-1])
    ):
        sequence = sequence[1:]  # "Secretary of State Antony Blinken"
    while sequence and (_plain(sequence[0]) in _CONNECTORS or len(sequence[0].text) == 1):
        sequence = sequence[1:]  # connectors, and initials without their full stop: "S Morgan"
    while sequence and len(sequence[-1].text) == 1:
        sequence = sequence[:-1]
    names = [word for word in sequence if _plain(word) not in _CONNECTORS]
    if not names or all(_plain(word) in _GENERIC for word in names):
        return []
    if len(names) == 1:
        word = names[0]
        plain = _plain(word)
        if not _is_acronym(word.text):
            if plain in context.stop_words or len(word.text) < 2:
                return []
            lower_case = context.lower_case
            if plain in lower_case or plain.rstrip("s") in lower_case or plain + "s" in lower_case:
                return []
            if initial and word.text not in context.capitalised_inside:
                return []
            if word.start - 1 in context.edges or word.end + 1 in context.edges:
                return []  # part of a longer name around a known one: "Gyeongju Declaration"
    elif initial and all(_plain(word) in context.lower_case for word in names):
        return []
    start, end = sequence[0].start, sequence[-1].end
    phrase = context.folded[start:end]
    return [Fact("name", _name_key(phrase), context.text[start:end], start, end)]


def _plain(word: _Word) -> str:
    return _plain_text(word.text)


@lru_cache(maxsize=1 << 16)
def _plain_text(text: str) -> str:
    return _strip_accents(text).lower()


def _is_acronym(word: str) -> bool:
    letters = [char for char in word if char.isalpha()]
    return len(letters) >= 2 and all(char.isupper() for char in letters)


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _name_key(phrase: str) -> str:
    return re.sub(r"\s+", " ", _strip_accents(phrase)).strip()


def is_counted(fact: Fact) -> bool:
    """Whether a number is written with what it counts ("3,000 experts", 40个国家), not alone
    or with a scale only ("500 million")."""
    if fact.kind != "number":
        return False
    rest = re.sub(r"[\d\s.,]+", " ", normalize_text(fact.phrase).text)
    words = re.findall(rf"[a-z]+|[{_CJK}]", rest)
    scales = {*_SCALES, *_BILLION, *_ABBREVIATED_SCALES, "多", "余", "第", "亿", "万"}
    return any(word not in scales and not re.fullmatch(_ORDINAL_SUFFIX, word) for word in words)


def is_hard_fact(fact: Fact) -> bool:
    """Numbers, amounts, percentages and dates more precise than a year: the facts that cross
    languages reliably (names are written differently from one language to another)."""
    if fact.kind == "name":
        return False
    return not (fact.kind == "date" and re.fullmatch(r"\d{4}", fact.key))
