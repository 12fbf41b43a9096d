"""The initiative taxonomy: loading, validation, and the compiled term matcher.

The taxonomy is a TOML file (``pipelines/taxonomy.toml`` ships with the package; a user may
pass their own to :func:`load_taxonomy`). It lists the initiatives Veille follows and, for
each, its terms in any number of languages, by kind:

- ``names`` and ``aliases``: *strong* terms, which name the initiative on their own;
- ``keywords``: *weak* terms, which count only where the article also has a context term;
- ``context``: terms that make the weak ones count, and never score by themselves;
- ``negative``: terms of a look-alike (a trap), which hide the terms they overlap and cancel
  the weak terms of the whole article (and the names too, where ``ambiguous_names`` is set).

How the tagger scores with them is described in :mod:`pipelines.tagging`.

How a term matches. Terms and articles go through the same
:func:`pipelines.text_normalization.normalize_text`, so case, accents, quote styles,
full-width forms and traditional or Taiwan Chinese do not matter. Then:

- Separators (spaces, quotes, hyphens, slashes, parentheses, Chinese book-title marks) and
  *connector* words (``de``, ``l'``, ``en matière de``, ``of``, ``the``, ``的`` …, listed in
  ``[matching]``) are blanked out of both the term and the text, so « coopération sur l'IA »
  matches a term written « coopération en matière d'IA ». Other punctuation (commas, full
  stops, line breaks) ends a phrase: no term matches across it.
- Latin words match whole words only (``WAIC`` does not match inside ``WAICO``); a word of four
  letters or more also matches its plural in ``-s``.
- Chinese characters written together must be together in the text; a space in a Chinese term
  marks a place where the text may put quotes or a connector (``加强…国际合作 决议`` matches
  ``加强…国际合作"决议``).
- Interchangeable writings listed in ``[matching] equivalents`` match one another wherever they
  appear in a term: ``AI``, ``IA``, ``artificial intelligence``, ``人工智能`` and the
  machine-translated « renseignement artificiel »; ``organisation`` and ``organization``.

Blanking replaces characters by spaces one for one, so offsets in the prepared text are
offsets in the normalised text. All terms are compiled once, at load, into one regular
expression shaped as a trie: an article is scanned once whatever the number of terms. At each
position the longest term wins. A name, keyword or negative hides the names, keywords and
negatives inside it (that is how a negative hides a name: write the trap's whole phrase); where
one initiative's name contains another's, list the longer name under both initiatives. Context
terms inside any term are still found (see :meth:`_Trie.add_contained_roles`).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pipelines.text_normalization import normalize_text

logger = logging.getLogger(__name__)

TermKind = Literal["name", "alias", "keyword", "context", "negative"]
STRONG_KINDS: frozenset[TermKind] = frozenset({"name", "alias"})
# The TOML field that holds each kind of term.
FIELDS: dict[TermKind, str] = {
    "name": "names",
    "alias": "aliases",
    "keyword": "keywords",
    "context": "context",
    "negative": "negative",
}
_ID = re.compile(r"[a-z][a-z0-9_]*")
_LANGUAGE = re.compile(r"[a-z]{2,3}")


class TaxonomyError(ValueError):
    """The taxonomy file is unusable; the message has one line per mistake."""


@dataclass(frozen=True, slots=True)
class Term:
    text: str
    """As written in the taxonomy file."""
    language: str
    kind: TermKind


@dataclass(frozen=True, slots=True)
class Initiative:
    id: str
    label: str
    about: str
    threshold: float
    ambiguous_names: bool
    """Names also used for things outside the initiative: they count like keywords (only with
    a context term, and not with a negative term), at the weight of names."""
    terms: tuple[Term, ...]
    query: Mapping[str, tuple[str, ...]]
    """Search terms per language for query feeds, where the file sets them explicitly."""

    def terms_of(self, *kinds: TermKind) -> tuple[Term, ...]:
        return tuple(term for term in self.terms if term.kind in kinds)


@dataclass(frozen=True, slots=True)
class Scoring:
    """Weights of the scoring model (see :mod:`pipelines.tagging`)."""

    threshold: float = 1.0
    name_weight: float = 1.0
    keyword_weight: float = 0.5
    repeat_decay: float = 0.5
    title_weight: float = 3.0
    lead_weight: float = 2.0
    body_weight: float = 1.0


@dataclass(frozen=True, slots=True)
class TermRole:
    """What a matched term means for one initiative."""

    initiative: str
    kind: TermKind
    term: str
    """The term as written in the taxonomy (the first writing, where several match alike)."""


@dataclass(frozen=True, slots=True)
class TermMatch:
    """A term found in a normalised text, at ``[start:end]``."""

    start: int
    end: int
    roles: tuple[TermRole, ...]


@dataclass(frozen=True, slots=True)
class _Scanner:
    pattern: re.Pattern[str]
    roles: tuple[tuple[TermRole, ...], ...]
    """By the pattern's group number (group 0 is unused)."""
    skip: int
    """Characters a match has before the term: the boundary before a Latin word."""


@dataclass(frozen=True, slots=True)
class _CompiledTerms:
    scanners: tuple[_Scanner, ...]

    def find(self, prepared: str) -> list[TermMatch]:
        """Matches in a prepared text, with offsets in the text it was prepared from: at most
        one per position, the longest, and none overlapping."""
        found = [
            [
                TermMatch(match.start() + scanner.skip - 1, match.end() - 1, scanner.roles[group])
                for match in scanner.pattern.finditer(prepared)
                if (group := match.lastindex)
            ]
            for scanner in self.scanners
        ]
        found = [matches for matches in found if matches]
        if len(found) < 2:
            return found[0] if found else []
        # Latin and Chinese terms can overlap where scripts meet: keep the leftmost, longest.
        merged = sorted(
            (match for matches in found for match in matches),
            key=lambda match: (match.start, -match.end),
        )
        kept: list[TermMatch] = []
        for match in merged:
            if not kept or match.start >= kept[-1].end:
                kept.append(match)
        return kept


@dataclass(frozen=True, slots=True)
class TermMatcher:
    """The compiled terms of a taxonomy."""

    terms: _CompiledTerms
    blanking: tuple[tuple[re.Pattern[str], str], ...]
    """Separators and connector words, and the spaces that replace them, by length."""

    def prepare(self, normalized: str) -> str:
        """Blank separators and connector words out, keeping every offset, after a space put
        in front (so that a word at the start has a boundary before it too)."""
        return _prepare(normalized, self.blanking)

    def scan(self, normalized: str) -> list[TermMatch]:
        """The terms in a normalised text: the longest at each position, none overlapping."""
        return self.terms.find(self.prepare(normalized))


@dataclass(frozen=True, slots=True)
class Taxonomy:
    source: str
    initiatives: tuple[Initiative, ...]
    scoring: Scoring
    matcher: TermMatcher

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(initiative.id for initiative in self.initiatives)

    def initiative(self, initiative_id: str) -> Initiative:
        for initiative in self.initiatives:
            if initiative.id == initiative_id:
                return initiative
        raise KeyError(f"{self.source}: no initiative {initiative_id!r}")

    def query_terms(self, initiative_id: str, language: str) -> list[str]:
        """Search terms in ``language`` for query feeds: the initiative's ``query`` list for
        that language if the file has one, else its names and aliases in that language."""
        initiative = self.initiative(initiative_id)
        if language in initiative.query:
            return list(initiative.query[language])
        found: list[str] = []
        for term in initiative.terms_of("name", "alias"):
            if term.language == language and term.text not in found:
                found.append(term.text)
        return found


@cache
def load_taxonomy_once(path: Path | None = None) -> Taxonomy:
    """:func:`load_taxonomy`, compiled once per process and file: the tagging and seed
    stages of a crawl share it (a Taxonomy is immutable)."""
    return load_taxonomy(path)


def load_taxonomy(path: Path | None = None) -> Taxonomy:
    """Load and validate a taxonomy file (default: the one shipped with Veille)."""
    if path is None:
        resource = resources.files("pipelines").joinpath("taxonomy.toml")
        source, content = str(resource), resource.read_text(encoding="utf-8")
    else:
        source = str(path)
        try:
            content = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise TaxonomyError(f"{source}: cannot read: {error.strerror or error}") from error
    try:
        data = tomllib.loads(content)
    except tomllib.TOMLDecodeError as error:
        raise TaxonomyError(f"{source}: not valid TOML: {error}") from error
    taxonomy = _Loader(source).build(data)
    logger.debug("loaded %d initiatives from %s", len(taxonomy.initiatives), source)
    return taxonomy


class _Loader:
    """Turns the parsed TOML into a :class:`Taxonomy`, collecting every mistake."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.errors: list[str] = []

    def error(self, where: str, message: str) -> None:
        self.errors.append(f"{self.source}: {where}: {message}")

    def build(self, data: dict[str, Any]) -> Taxonomy:
        self._unknown_keys("top level", data, {"version", "scoring", "matching", "initiatives"})
        if data.get("version") != 1:
            self.error("version", f"must be 1, not {data.get('version')!r}")
        scoring = self._scoring(data.get("scoring", {}))
        connectors, equivalents = self._matching(data.get("matching", {}))
        initiatives = self._initiatives(data.get("initiatives"), scoring)
        self._raise_errors()
        matcher = self._compile(initiatives, _PatternCompiler(connectors, equivalents))
        self._raise_errors()
        return Taxonomy(self.source, initiatives, scoring, matcher)

    def _raise_errors(self) -> None:
        if self.errors:
            raise TaxonomyError("\n".join(self.errors))

    def _unknown_keys(self, where: str, table: Mapping[str, Any], known: set[str]) -> None:
        for key in table:
            if key not in known:
                self.error(where, f"unknown key {key!r}")

    def _number(self, where: str, value: Any) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            self.error(where, f"must be a positive number, not {value!r}")
            return None
        return float(value)

    def _scoring(self, table: Any) -> Scoring:
        if not isinstance(table, dict):
            self.error("scoring", "must be a table")
            return Scoring()
        defaults = {field.name: field.default for field in dataclasses.fields(Scoring)}
        self._unknown_keys("scoring", table, set(defaults))
        values = {}
        for name, default in defaults.items():
            value = self._number(f"scoring.{name}", table.get(name, default))
            values[name] = default if value is None else value
        if values["repeat_decay"] > 1:
            self.error("scoring.repeat_decay", "must be at most 1")
        return Scoring(**values)

    def _matching(self, table: Any) -> tuple[list[str], list[list[str]]]:
        if not isinstance(table, dict):
            self.error("matching", "must be a table")
            return [], []
        self._unknown_keys("matching", table, {"connectors", "equivalents"})
        connectors = self._strings("matching.connectors", table.get("connectors", []))
        for number, word in enumerate(connectors):
            normalized = normalize_text(word).text
            if not (_LATIN_WORD.fullmatch(normalized) or _HAN_WORD.fullmatch(normalized)):
                self.error(f"matching.connectors.{number}", f"{word!r} is not one word")
        groups = table.get("equivalents", [])
        if not isinstance(groups, list):
            self.error("matching.equivalents", "must be a list of lists of strings")
            groups = []
        equivalents = []
        for number, group in enumerate(groups):
            members = self._strings(f"matching.equivalents.{number}", group)
            if len(members) < 2:
                self.error(f"matching.equivalents.{number}", "needs at least two writings")
            equivalents.append(members)
        return connectors, equivalents

    def _strings(self, where: str, value: Any) -> list[str]:
        if not isinstance(value, list):
            self.error(where, f"must be a list of strings, not {type(value).__name__}")
            return []
        good = []
        for number, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                self.error(f"{where}.{number}", f"must be a non-empty string, not {item!r}")
            else:
                good.append(item.strip())
        return good

    def _initiatives(self, value: Any, scoring: Scoring) -> tuple[Initiative, ...]:
        if not isinstance(value, list) or not value:
            self.error("initiatives", "must be a non-empty array of tables ([[initiatives]])")
            return ()
        initiatives: list[Initiative] = []
        seen: set[str] = set()
        for number, table in enumerate(value):
            if not isinstance(table, dict):
                self.error(f"initiatives.{number}", "must be a table")
                continue
            initiative_id = table.get("id")
            if not isinstance(initiative_id, str) or not _ID.fullmatch(initiative_id):
                where = f"initiatives.{number}"
                self.error(where, f"id: must be a slug (a-z, 0-9, _), not {initiative_id!r}")
                continue
            if initiative_id in seen:
                self.error(f"initiative {initiative_id!r}", "id: used twice")
                continue
            seen.add(initiative_id)
            initiative = self._initiative(initiative_id, table, scoring)
            if initiative is not None:
                initiatives.append(initiative)
        return tuple(initiatives)

    def _initiative(
        self, initiative_id: str, table: dict[str, Any], scoring: Scoring
    ) -> Initiative | None:
        where = f"initiative {initiative_id!r}"
        known = {"id", "label", "about", "threshold", "ambiguous_names", "query"}
        self._unknown_keys(where, table, known | set(FIELDS.values()))
        errors_before = len(self.errors)
        label = table.get("label")
        if not isinstance(label, str) or not label.strip():
            self.error(where, "label: required, a non-empty string")
        about = table.get("about", "")
        if not isinstance(about, str):
            self.error(where, "about: must be a string")
        threshold = self._number(f"{where}: threshold", table.get("threshold", scoring.threshold))
        ambiguous_names = table.get("ambiguous_names", False)
        if not isinstance(ambiguous_names, bool):
            self.error(where, "ambiguous_names: must be true or false")
        terms = [
            Term(text, language, kind)
            for kind, field in FIELDS.items()
            for language, texts in self._by_language(f"{where}: {field}", table.get(field, {}))
            for text in texts
        ]
        if not any(term.kind == "name" for term in terms):
            self.error(where, "names: at least one name is required")
        if ambiguous_names is True and not any(term.kind == "context" for term in terms):
            self.error(where, "ambiguous_names: true, but there are no context terms")
        query = dict(self._by_language(f"{where}: query", table.get("query", {})))
        if len(self.errors) > errors_before:
            return None
        return Initiative(
            id=initiative_id,
            label=str(label).strip(),
            about=str(about).strip(),
            threshold=threshold or scoring.threshold,
            ambiguous_names=ambiguous_names,
            terms=tuple(terms),
            query={language: tuple(texts) for language, texts in query.items()},
        )

    def _by_language(self, where: str, value: Any) -> list[tuple[str, list[str]]]:
        if not isinstance(value, dict):
            self.error(where, "must be a table of language = [terms]")
            return []
        found = []
        for language, items in value.items():
            if not _LANGUAGE.fullmatch(language):
                self.error(f"{where}.{language}", "not a language code (such as en, fr, zh)")
                continue
            found.append((language, self._strings(f"{where}.{language}", items)))
        return found

    def _compile(
        self, initiatives: tuple[Initiative, ...], compiler: _PatternCompiler
    ) -> TermMatcher:
        trie = _Trie()
        for initiative in initiatives:
            where = f"initiative {initiative.id!r}"
            first: dict[tuple[str, ...], Term] = {}  # this initiative's terms, by pattern
            for term in initiative.terms:
                field = f"{FIELDS[term.kind]}.{term.language}"
                compiled = compiler.compile(term.text)
                if compiled is None:
                    self.error(where, f"{field}: {term.text!r} has no word but connectors")
                    continue
                signature, variants = compiled
                earlier = first.setdefault(signature, term)
                if earlier is not term:
                    if _strength(earlier.kind) != _strength(term.kind):
                        self.error(
                            where,
                            f"{field}: {term.text!r} matches the same text as "
                            f"{FIELDS[earlier.kind]}.{earlier.language} {earlier.text!r}: "
                            "a term has one role only",
                        )
                    continue
                trie.add(signature, variants, TermRole(initiative.id, term.kind, term.text))
        trie.add_contained_roles(compiler.prepare)
        return TermMatcher(trie.compile(), compiler.blanking)


def _strength(kind: TermKind) -> str:
    return "strong" if kind in STRONG_KINDS else kind


# --- Term patterns -------------------------------------------------------------------------

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Normalisation has folded accented letters to ASCII; the few letters left outside it (ø, œ …)
# do not start or end our terms.
_LATIN = "a-z0-9"
_TOKEN = re.compile(rf"(?P<latin>[{_LATIN}]+)|(?P<han>[{_HAN}])|(?P<symbol>\+)")
_LATIN_WORD = re.compile(f"[{_LATIN}]+")
_HAN_WORD = re.compile(f"[{_HAN}]+")
# Characters that separate words without ending a phrase; \n is kept, as a phrase break.
_SEPARATORS = "\t\r\f\v\"'-/()「」『』《》〈〉【】、·・"
_BOUNDARY = f"[^{_LATIN}]"
_WORD_END = f"(?![{_LATIN}])"


def _prepare(text: str, blanking: tuple[tuple[re.Pattern[str], str], ...]) -> str:
    # One pass per length of what is blanked, each with a constant replacement: much faster
    # than one pass calling a function per match.
    text = " " + text
    for pattern, spaces in blanking:
        text = pattern.sub(spaces, text)
    return text


@dataclass(frozen=True, slots=True)
class _Token:
    text: str
    kind: str  # latin, han or symbol
    spaced: bool  # something stood between it and the token before, in the prepared term


class _PatternCompiler:
    """Turns a term into a tuple of regex atoms (see the module docstring)."""

    def __init__(self, connectors: list[str], equivalents: list[list[str]]) -> None:
        words = {normalize_text(word).text for word in connectors}
        han = [re.escape(word) for word in sorted(words) if not _LATIN_WORD.fullmatch(word)]
        blanking = [(re.compile("|".join(["[" + re.escape(_SEPARATORS) + "]", *han])), " ")]
        # A Latin connector is blanked with the space before it: every match then starts with
        # a space, which `re` finds quickly. (One after a comma or a line break stays.)
        for length in sorted({len(word) for word in words if _LATIN_WORD.fullmatch(word)}):
            same = sorted(w for w in words if len(w) == length and _LATIN_WORD.fullmatch(w))
            pattern = f" (?:{'|'.join(map(re.escape, same))}){_WORD_END}"
            blanking.append((re.compile(pattern), " " * (length + 1)))
        self.blanking = tuple(blanking)
        self.groups = [[self._tokens(member) for member in group] for group in equivalents]
        self._writings_by_first: dict[str, list[tuple[int, list[_Token]]]] = {}
        for number, group in enumerate(self.groups):
            for member in group:
                if member:
                    self._writings_by_first.setdefault(member[0].text, []).append((number, member))
        self._group_atoms: dict[tuple[int, frozenset[int]], str] = {}

    def prepare(self, text: str) -> str:
        return _prepare(normalize_text(text).text, self.blanking)

    def _tokens(self, text: str) -> list[_Token]:
        prepared = self.prepare(text)
        tokens: list[_Token] = []
        previous_end = 0
        for match in _TOKEN.finditer(prepared):
            spaced = bool(tokens) and match.start() > previous_end
            tokens.append(_Token(match.group(), match.lastgroup or "symbol", spaced))
            previous_end = match.end()
        return tokens

    def compile(self, text: str) -> tuple[tuple[str, ...], list[tuple[str, ...]]] | None:
        """The term's signature (terms with the same signature match the same texts) and the
        atom sequences to put in the trie; None if the term has no word."""
        tokens = self._tokens(text)
        if not tokens:
            return None
        signature = tuple(self._sequence(tokens, frozenset(), start=True))
        return signature, self._variants(tokens, frozenset())

    def _variants(self, tokens: list[_Token], excluded: frozenset[int]) -> list[tuple[str, ...]]:
        """The atoms, with an equivalence group at the start spelt out as one sequence per
        writing: every branch of the trie then starts with a character or a character class,
        which `re` checks quickly. Groups further in stay alternations (a smaller pattern)."""
        atoms = self._sequence(tokens, excluded, start=True)
        group, _length = self._equivalent_at(tokens, 0, excluded)
        if group < 0:
            return [tuple(atoms)]
        variants = {
            head + tuple(atoms[1:])
            for member in self.groups[group]
            for head in self._variants(member, excluded | {group})
        }
        return sorted(variants)

    def _sequence(self, tokens: list[_Token], excluded: frozenset[int], start: bool) -> list[str]:
        """Regex atoms for ``tokens``. At the ``start`` of a term a Latin word takes the
        character before it too (a space, punctuation or a Chinese character, never a Latin
        letter): whole-word matching, and a first character `re` can look for quickly."""
        atoms: list[str] = []
        previous: _Token | None = None  # None after an equivalence group
        i = 0
        while i < len(tokens):
            token = tokens[i]
            group, length = self._equivalent_at(tokens, i, excluded)
            if group >= 0:
                if atoms:
                    atoms.append(" *")
                atoms.append(self._group(group, excluded))
                previous = None
                i += length
                continue
            if previous is None:
                if atoms:
                    atoms.append(" *")
                elif start and token.kind == "latin":
                    atoms.append(_BOUNDARY)
            elif previous.kind == "latin" and token.kind == "latin":
                atoms.append(" +")
            elif token.spaced or previous.kind != "han" or token.kind != "han":
                atoms.append(" *")
            atoms.extend(map(re.escape, token.text))
            if token.kind == "latin" and _has_plural(token.text):
                atoms.append("s?")
            previous = token
            i += 1
        if previous is not None and previous.kind == "latin":
            atoms.append(_WORD_END)
        return atoms

    def _equivalent_at(
        self, tokens: list[_Token], i: int, excluded: frozenset[int]
    ) -> tuple[int, int]:
        """The equivalence group with the longest writing that starts at ``tokens[i]``."""
        best, best_length = -1, 0
        for number, member in self._writings_by_first.get(tokens[i].text, ()):
            length = len(member)
            if (
                number not in excluded
                and best_length < length <= len(tokens) - i
                and all(a.text == b.text for a, b in zip(tokens[i:], member, strict=False))
            ):
                best, best_length = number, length
        return best, best_length

    def _group(self, number: int, excluded: frozenset[int]) -> str:
        """One alternation for every writing of an equivalence group, each with its bounds."""
        key = (number, excluded)
        if key not in self._group_atoms:
            inner = excluded | {number}
            writings = {
                "".join(self._sequence(member, inner, start=False))
                for member in self.groups[number]
            }
            self._group_atoms[key] = "(?:" + "|".join(sorted(writings, key=len, reverse=True)) + ")"
        return self._group_atoms[key]


def _literal_piece(atoms: tuple[str, ...]) -> str:
    """The longest run of plain characters among ``atoms`` ("" if none)."""
    runs = [""]
    for atom in atoms:
        if len(atom) == 1 or atom == r"\+":
            runs[-1] += atom[-1]
        else:
            runs.append("")
    return max(runs, key=len)


def _has_plural(word: str) -> bool:
    return len(word) >= 4 and word.isalpha() and not word.endswith("s")


class _Trie:
    """Terms as atom sequences sharing their prefixes, compiled to one regular expression."""

    _END = ""

    def __init__(self) -> None:
        self.root: dict[str, Any] = {}
        self.roles: dict[tuple[str, ...], list[TermRole]] = {}
        self.variants: dict[tuple[str, ...], list[tuple[str, ...]]] = {}

    def add(
        self, signature: tuple[str, ...], variants: list[tuple[str, ...]], role: TermRole
    ) -> None:
        self.variants[signature] = variants
        self._add_role(signature, role)
        for atoms in variants:
            node = self.root
            for atom in atoms:
                node = node.setdefault(atom, {})
            node[self._END] = signature

    def _add_role(self, signature: tuple[str, ...], role: TermRole) -> None:
        roles = self.roles.setdefault(signature, [])
        if not any(r.initiative == role.initiative and r.kind == role.kind for r in roles):
            roles.append(role)

    def add_contained_roles(self, prepare: Callable[[str], str]) -> None:
        """Gives terms the roles of the terms that match inside them.

        A scan finds the longest term at each position, so it would miss a term inside a longer
        one: waic's context "治理" inside gaigap's context "全球治理", or a name inside a context
        term. Context terms only say what the article is about, so every one found inside
        another term counts; and inside a term that is context only, so do names, keywords and
        negatives. Inside a name, keyword or negative, the shorter signal stays hidden: that is
        how a negative hides the name it contains, and how a name keeps its words to itself."""
        context_only = {
            signature
            for signature, roles in self.roles.items()
            if all(role.kind == "context" for role in roles)
        }
        with_context = [
            signature
            for signature, roles in self.roles.items()
            if any(role.kind == "context" for role in roles)
        ]
        # A literal piece of each writing of a term: a term whose pieces are all absent from a
        # text cannot match in it, and its pattern need not be compiled (which is slow).
        pieces = {
            signature: [_literal_piece(atoms) for atoms in variants]
            for signature, variants in self.variants.items()
        }
        patterns: dict[tuple[str, ...], re.Pattern[str]] = {}
        contained = []
        for outer in self.variants:
            text = prepare(self.roles[outer][0].term)
            for inner in self.variants if outer in context_only else with_context:
                if inner == outer or not any(piece in text for piece in pieces[inner]):
                    continue
                if inner not in patterns:
                    writings = ("".join(atoms) for atoms in self.variants[inner])
                    patterns[inner] = re.compile("|".join(writings))
                if patterns[inner].search(text):
                    contained.append((outer, inner))
        for outer, inner in contained:
            for role in list(self.roles[inner]):
                if role.kind == "context" or outer in context_only:
                    self._add_role(outer, role)

    def compile(self) -> _CompiledTerms:
        """Two patterns, each starting with one character class, so that `re` skips every
        position where no term can start: Latin terms after a boundary, ``[^a-z…](?:w…|g…)``,
        and Chinese terms, ``[世人…](?:(?<=世)界…|(?<=人)工…)``."""
        scanners = []
        if _BOUNDARY in self.root:
            leaves: list[tuple[TermRole, ...]] = [()]
            body = self._render(self.root[_BOUNDARY], leaves)
            scanners.append(_Scanner(re.compile(_BOUNDARY + body), tuple(leaves), skip=1))
        firsts = [atom for atom in self.root if atom != _BOUNDARY]
        if firsts:
            leaves = [()]
            branches = [f"(?<={atom}){self._render(self.root[atom], leaves)}" for atom in firsts]
            pattern = f"[{''.join(firsts)}](?:{'|'.join(branches)})"
            scanners.append(_Scanner(re.compile(pattern), tuple(leaves), skip=0))
        return _CompiledTerms(tuple(scanners))

    def _render(self, node: dict[str, Any], leaves: list[tuple[TermRole, ...]]) -> str:
        """Groups number left to right, so ``leaves`` follows the order of rendering."""
        branches = []
        for atom, child in node.items():
            if atom == self._END:
                continue
            parts = [atom]
            while len(child) == 1 and self._END not in child:  # a chain: no group needed
                ((atom, child),) = child.items()
                parts.append(atom)
            branches.append("".join(parts) + self._render(child, leaves))
        if self._END in node:  # last, so that longer terms through this node win
            leaves.append(tuple(self.roles[node[self._END]]))
            branches.append("()")
        if not branches:
            return ""
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
