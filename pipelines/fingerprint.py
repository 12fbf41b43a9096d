"""Fingerprints of article text: exact copies by hash, near-copies by MinHash and LSH.

Pure functions and one in-memory index; no Scrapy, no database. The dedup pipeline and the
storage of signatures are built on them. Only extracted article text should come here: page
templates are what make two different pages alike.

**Exact copies.** :func:`content_fingerprint` hashes (BLAKE2b, 128 bits) the text after
:func:`~pipelines.text_normalization.normalize_text` (case, accents, traditional Chinese and
Taiwan usage, pinyin annotations) with every character that is not a letter or a digit
dropped, so a copy that differs only in line breaks, spacing, quotes or punctuation hashes the
same.

**Near-copies.** :func:`minhash_signature` is a datasketch MinHash (scheme ``affine32``,
:data:`NUM_PERM` = 128 permutations, :data:`SEED` = 1, ``zlib.crc32`` as the hash of each
shingle) of the shingles of the normalised text. A token is one CJK character (Han, kana) or
a run of other letters and digits, and

- text mostly in Chinese or Japanese characters (at least half of its letters, or at least a
  fifth when the language hint is Chinese or Japanese) gets shingles of
  :data:`CJK_SHINGLE_SIZE` = 4 tokens, about two Chinese words;
- other text gets shingles of :data:`WORD_SHINGLE_SIZE` = 3 words.

Lines that are list items (trafilatura writes ``- `` before each ``<li>``) are left out when
the rest gives at least :data:`MIN_PROSE_SHINGLES` shingles: the boilerplate that extraction
lets through is mostly lists (most read, related articles, sections), and through such lists
two different 163.com articles had a Jaccard similarity of 0.23 (0.02 without the lists).

*Shingle sizes.* Longer shingles make different articles less alike, but a spam word or an
edit breaks as many shingles as their size. Among the 222 English articles of the extraction
benchmark, two different articles have a mean Jaccard similarity of 0.010 with word pairs and
0.0007 with triples; among 66 Chinese pages, 0.018 with character pairs, 0.0022 with triples
and 0.0007 with 4-grams. A copy with 20% spam words spread through keeps 0.59 with word pairs,
0.43 with triples and 0.31 with 4-word shingles. Triples (and character 4-grams) keep such a
copy well above the threshold, and make an index return twelve times fewer candidates than
pairs would.

*crc32*, rather than datasketch's default SHA-1, is seven times faster per shingle and as
accurate once datasketch has mixed it (``affine32`` applies the MurmurHash3 finalizer first):
on 300 pairs of shingle sets of the corpora, the error of the estimate has an RMS of 0.040
with either.

**The threshold**, :data:`DEFAULT_THRESHOLD` = 0.3, on the estimated Jaccard similarity.
Exact similarities of the shingle sets:

- same story: near-duplicates.json pairs 1.0, except the cross-site syndication of a Cuban
  report, 0.48 (one outlet ran about half of the other's text); an EFE report run by two
  Chilean sites (elsewhere in the shared corpora) 0.44; our fixtures: a paragraph cut and a
  byline added 0.74-0.75, spam mirrors 0.73-0.76, 10/15/20% spam words spread through
  0.63/0.52/0.43 (English), 0.67/0.53/0.44 (French), a traditional-character Taiwan copy with
  pinyin annotations 0.93;
- different stories: near-duplicates.json pairs 0.01 at most (but for thepaper.cn 2 and 4,
  labelled different though both pages are captures of one article: 1.0); of the 223,446
  pairs of the 669 articles extracted from the shared corpora, all but the five same-story
  pairs are at most 0.17 (two press releases of one ad-tech company; 0.15 for two guancha.cn
  pages whose extraction kept the most-commented list); our fixtures of another story on the
  same topic from the same site, with the same boilerplate sentence, 0.03.

0.3 is about halfway between 0.17 and 0.43. With 128 permutations the estimate's standard
error is about 0.04 there, so both sides are about three standard errors away.

**The index.** :class:`NearDuplicateIndex` wraps ``datasketch.MinHashLSH`` with
:data:`LSH_BANDS` = 20 bands of :data:`LSH_ROWS` = 2 values (40 of the 128). A stored text of
similarity ``s`` is a candidate with probability ``1 - (1 - s**2)**20``: 0.85 at 0.3, 0.98 at
0.43, 0.996 at 0.5, 0.02 for another story on the same topic (0.03), 0.0002 on average for
two different articles of the extraction benchmark. datasketch's own choice for 0.3, which
weighs false positives and negatives alike, is 37 bands of 3 values: it finds only 64% of the
texts at 0.3, with nearly twice the memory. Candidates may be false hits, so
:func:`best_match` checks them against the threshold with all 128 values.

``bench/dedup.py`` measures 0.9 ms per article (median; 95th percentile 1.5-1.7 ms) for both
fingerprints and the lookup, with 10,000 or 100,000 articles stored; the lookup alone takes
0.07-0.08 ms. The index takes 7 KB per stored article, nearly all of it in MinHashLSH's tables
(a set per band and article); loading 100,000 serialised signatures takes about 11 s, and a
full garbage collection then about 0.8 s (``gc.freeze()`` after loading spares it).

**Serialised signatures** (:func:`signature_to_bytes`) are a format byte and the 128 hash
values as little-endian uint32: 513 bytes. The format byte stands for everything that makes
two signatures comparable (normalisation, shingles, hash function, scheme, seed,
permutations): change any of them and bump :data:`SIGNATURE_FORMAT`, and older signatures are
refused rather than compared wrongly. ``LeanMinHash.serialize`` would store the seed and the
scheme (13 bytes more) but nothing of the shingling, which matters as much.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from functools import cache, lru_cache
from typing import TYPE_CHECKING

import numpy as np

from pipelines.text_normalization import normalize_text

if TYPE_CHECKING:
    # Imported where used: datasketch imports SciPy (half a second), which a crawl that finds
    # no new article never needs.
    from datasketch import LeanMinHash, MinHash

NUM_PERM = 128
SEED = 1
SCHEME = "affine32"
WORD_SHINGLE_SIZE = 3
CJK_SHINGLE_SIZE = 4
MIN_PROSE_SHINGLES = 40
DEFAULT_THRESHOLD = 0.3
"""Estimated Jaccard similarity from which two texts tell the same story."""
LSH_BANDS = 20
LSH_ROWS = 2
SIGNATURE_FORMAT = 1
"""First byte of a serialised signature; bump it when anything that shapes a signature changes."""

_CJK = (
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # Han
    "\uff66-\uff9f"  # half-width katakana
    "\U00020000-\U0003134f"  # Han, supplementary planes
)
_TOKEN = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")
_CJK_CHARACTER = re.compile(rf"[{_CJK}]")
_OTHER_LETTERS = re.compile(rf"[^\W\d_{_CJK}]+")
_LETTER = re.compile(r"[^\W\d_]")
_LIST_ITEM = re.compile(r"^[ \t]*[-*•·▪►][ \t]")
_CJK_LANGUAGES = frozenset({"zh", "ja", "yue", "cmn", "wuu", "lzh"})
# Share of CJK among the letters: from _CJK_SHARE on, CJK shingles whatever the hint; below
# _CJK_SHARE_WITH_HINT, words whatever the hint. Latin words in Chinese text count several
# letters each, so a Chinese article full of names and acronyms can fall between the two.
_CJK_SHARE = 0.5
_CJK_SHARE_WITH_HINT = 0.2
_SIGNATURE_BYTES = 1 + 4 * NUM_PERM


def content_fingerprint(text: str) -> str:
    """A hash of the normalised text without whitespace or punctuation (32 hex digits)."""
    _normalized, tokens = _analysed(text)
    if not tokens:
        raise ValueError("no letters or digits to fingerprint")
    return hashlib.blake2b("".join(tokens).encode("utf-8"), digest_size=16).hexdigest()


@lru_cache(maxsize=2)
def _analysed(text: str) -> tuple[str, tuple[str, ...]]:
    """The normalised text and its tokens (the pipeline takes both fingerprints of a text)."""
    normalized = normalize_text(text).text
    return normalized, tuple(_TOKEN.findall(normalized))


def is_cjk_text(text: str, language: str | None = None) -> bool:
    """Whether ``text`` is written in Chinese or Japanese characters rather than words.

    ``text`` is normalised text. The language code is only a hint: it decides when the text
    has no letters, or when its share of CJK characters is ambiguous.
    """
    hinted = language is not None and re.split(r"[-_]", language.lower())[0] in _CJK_LANGUAGES
    cjk = len(_CJK_CHARACTER.findall(text))
    if cjk == 0:
        return hinted and _LETTER.search(text) is None
    share = cjk / (cjk + sum(map(len, _OTHER_LETTERS.findall(text))))
    return share >= _CJK_SHARE or (share >= _CJK_SHARE_WITH_HINT and hinted)


def shingles(text: str, language: str | None = None) -> set[str]:
    """The shingles of ``text``: 4 characters in Chinese and Japanese, 3 words otherwise.

    List items are left out when the rest gives :data:`MIN_PROSE_SHINGLES` shingles or more.
    A text shorter than one shingle gives one shingle of all its tokens; a text without
    letters or digits gives none.
    """
    normalized, tokens = _analysed(text)
    size = CJK_SHINGLE_SIZE if is_cjk_text(normalized, language) else WORD_SHINGLE_SIZE
    prose = "\n".join(line for line in normalized.splitlines() if not _LIST_ITEM.match(line))
    if len(prose) < len(normalized):
        found = _shingles_of(_TOKEN.findall(prose), size)
        if len(found) >= MIN_PROSE_SHINGLES:
            return found
    return _shingles_of(tokens, size)


def _shingles_of(tokens: Sequence[str], size: int) -> set[str]:
    if len(tokens) <= size:
        return {" ".join(tokens)} if tokens else set()
    # Each slice is one shorter than the one before: zip stops at the last whole shingle.
    starts = (tokens[offset:] for offset in range(size))
    return set(map(" ".join, zip(*starts, strict=False)))


@cache
def _empty_minhash() -> MinHash:
    # Drawing the permutations is the slow part of making a MinHash; copies share them.
    from datasketch import MinHash

    return MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME, hashfunc=zlib.crc32)


def minhash_of_shingles(found: Iterable[str]) -> LeanMinHash:
    """The signature of a set of shingles (as :func:`shingles` returns)."""
    encoded = [shingle.encode("utf-8") for shingle in found]
    if not encoded:
        raise ValueError("no letters or digits to fingerprint")
    from datasketch import LeanMinHash

    minhash = _empty_minhash().copy()
    minhash.update_batch(encoded)
    return LeanMinHash(minhash)


def minhash_signature(text: str, language: str | None = None) -> LeanMinHash:
    """The MinHash signature of ``text`` (raises ValueError if it has no letters or digits)."""
    return minhash_of_shingles(shingles(text, language))


def signature_to_bytes(signature: LeanMinHash) -> bytes:
    """:data:`SIGNATURE_FORMAT` as one byte, then the hash values as little-endian uint32."""
    _check_compatible(signature)
    return bytes([SIGNATURE_FORMAT]) + signature.hashvalues.astype("<u4").tobytes()


def signature_from_bytes(data: bytes) -> LeanMinHash:
    """The signature that :func:`signature_to_bytes` serialised.

    Raises ValueError for another format or length: such a signature was made with other
    shingles or hashes, and must be computed again from the text.
    """
    if len(data) != _SIGNATURE_BYTES or data[0] != SIGNATURE_FORMAT:
        raise ValueError(
            f"not a format-{SIGNATURE_FORMAT} signature "
            f"({len(data)} bytes, format {data[0] if data else None})"
        )
    from datasketch import LeanMinHash

    values = np.frombuffer(data, dtype="<u4", offset=1).astype(np.uint32)
    return LeanMinHash(seed=SEED, hashvalues=values, scheme=SCHEME)


def estimated_similarity(a: LeanMinHash, b: LeanMinHash) -> float:
    """The Jaccard similarity of the two shingle sets, as MinHash estimates it."""
    return a.jaccard(b)


def best_match(
    signature: LeanMinHash,
    candidates: Mapping[str, LeanMinHash],
    threshold: float = DEFAULT_THRESHOLD,
) -> tuple[str, float] | None:
    """The most similar candidate and its similarity, if at least ``threshold``.

    Ties go to the candidate that comes first in ``candidates``.
    """
    if not candidates:
        return None
    keys = list(candidates)
    values = np.stack([candidates[key].hashvalues for key in keys])
    if values.shape[1] != len(signature):
        raise ValueError(f"signatures of {values.shape[1]} values, expected {len(signature)}")
    scores = np.count_nonzero(values == signature.hashvalues, axis=1) / len(signature)
    best = int(np.argmax(scores))
    score = float(scores[best])
    return (keys[best], score) if score >= threshold else None


def _check_compatible(signature: LeanMinHash) -> None:
    if signature.seed != SEED or signature.scheme != SCHEME or len(signature) != NUM_PERM:
        raise ValueError(
            f"signature of seed {signature.seed}, scheme {signature.scheme!r} and "
            f"{len(signature)} values; expected {SEED}, {SCHEME!r} and {NUM_PERM}"
        )


class NearDuplicateIndex:
    """Signatures by key, with LSH to find the stored texts that may be near-copies of one.

    Keys are strings (article ids). Memory: about 7 KB per stored signature with the
    default bands (see the module docstring and ``bench/dedup.py``).
    """

    def __init__(
        self,
        threshold: float = DEFAULT_THRESHOLD,
        num_perm: int = NUM_PERM,
        bands: tuple[int, int] = (LSH_BANDS, LSH_ROWS),
    ) -> None:
        from datasketch import MinHashLSH

        self.threshold = threshold
        self._lsh = MinHashLSH(num_perm=num_perm, params=bands)
        self._signatures: dict[str, LeanMinHash] = {}

    def add(self, key: str, signature: LeanMinHash) -> None:
        """Store ``signature`` under ``key``; raises ValueError if the key is already there."""
        if key in self._signatures:
            raise ValueError(f"key {key!r} is already in the index")
        self._lsh.insert(key, signature, check_duplication=False)
        self._signatures[key] = signature

    def remove(self, key: str) -> None:
        """Forget ``key``; raises KeyError if it is not there."""
        if key not in self._signatures:
            raise KeyError(key)
        self._lsh.remove(key)
        del self._signatures[key]

    def candidates(self, signature: LeanMinHash) -> list[str]:
        """Keys whose signatures share a band with ``signature`` (sorted); may be false hits."""
        return sorted(self._lsh.query(signature))

    def find_match(
        self, signature: LeanMinHash, threshold: float | None = None
    ) -> tuple[str, float] | None:
        """The stored key most similar to ``signature``, with its similarity, if at least the
        threshold (the index's unless given)."""
        found = {key: self._signatures[key] for key in self.candidates(signature)}
        return best_match(signature, found, self.threshold if threshold is None else threshold)

    def __len__(self) -> int:
        return len(self._signatures)

    def __contains__(self, key: object) -> bool:
        return key in self._signatures
