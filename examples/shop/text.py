"""The shop's one text-normalization function (``specs/text.md``), pure.

``words(text)`` is what every side of the shop uses: the publisher to build
product word lists and the word index, the client to turn a query into
index keys, the plain-Python reference search in the tests. Steps:

1. Unicode NFKC (compatibility composition: "ﬁ" -> "fi", "Å" (U+212B) ->
   "Å", decomposed "café" -> precomposed);
2. full case folding (``str.casefold``: "ß" -> "ss", "Σ" -> "σ");
3. NFKC again (folding can leave a string that is not NFKC);
4. split into words: a word is a maximal run of characters whose Unicode
   general category is a letter (L*), a mark (M*) or a number (N*);
   everything else separates words;
5. drop words longer than :data:`MAX_WORD_BYTES` UTF-8 bytes (junk, never a
   product word) and keep the first :data:`MAX_WORDS` words.

Accents are *not* removed ("lodz" does not find "Łódź"; "łódź" does): the
issue asks for NFKC and full case folding, and stripping marks changes
meaning in many languages. The Unicode version is the one of the Python
that runs it (3.11: Unicode 14.0); the vectors pin the cases we rely on.
"""

from __future__ import annotations

import functools
import re
import unicodedata

__all__ = ["MAX_WORDS", "MAX_WORD_BYTES", "STOP_WORDS", "fold", "name_key", "search_words", "unique_words", "words"]

MAX_WORD_BYTES = 64
MAX_WORDS = 256


def fold(text: str) -> str:
    """NFKC, full case folding, NFKC (steps 1-3)."""
    if not isinstance(text, str):
        raise TypeError("text must be str")
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


@functools.lru_cache(maxsize=1)
def _word_re() -> re.Pattern[str]:
    """A regex of maximal runs of L*, M*, N* code points (built once from unicodedata: same answer, ~50x faster)."""
    ranges: list[tuple[int, int]] = []
    for cp in range(0x110000):
        if unicodedata.category(chr(cp))[0] in "LMN":
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    cls = "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)
    return re.compile(f"[{cls}]+")


_ASCII_WORD = re.compile(r"[0-9a-z]+")


def words(text: str) -> list[str]:
    """The normalized words of ``text`` in order (duplicates kept)."""
    if isinstance(text, str) and text.isascii():
        # ASCII is NFKC, folds to lower case, and its L/M/N code points are exactly [0-9A-Za-z].
        found = _ASCII_WORD.findall(text.lower())
    else:
        found = _word_re().findall(fold(text))
    out: list[str] = []
    for w in found:
        if len(w.encode("utf-8")) <= MAX_WORD_BYTES:
            out.append(w)
            if len(out) == MAX_WORDS:
                break
    return out


STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "in",
        "is",
        "it",
        "of",
        "on",
        "or",
        "the",
        "to",
        "with",
    ]
)
"""Common English words that are neither indexed nor searched for (``specs/text.md``)."""


def search_words(text: str) -> list[str]:
    """The distinct words of ``text`` that a search uses: :func:`words` minus :data:`STOP_WORDS`, in order."""
    return [w for w in dict.fromkeys(words(text)) if w not in STOP_WORDS]


def unique_words(text: str) -> list[str]:
    """The distinct normalized words of ``text``, sorted by their UTF-8 bytes."""
    return sorted(set(words(text)), key=lambda w: w.encode("utf-8"))


# Letters that carry their difference in the letter itself, not in a combining mark (NFKD leaves them whole).
_BASE_LETTERS = str.maketrans({"ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ı": "i", "ŀ": "l", "ŧ": "t", "æ": "ae",
                               "œ": "oe", "þ": "th", "ð": "d"})


def name_key(text: str) -> str:
    """The key of the name sort (``specs/text.md``): accents and case second, letters first.

    ``base + "\\0" + fold(text)`` (just ``base`` when it equals ``fold(text)``), where ``base`` is
    ``fold(text)`` decomposed (NFKD) without its combining marks and with the letters of
    :data:`_BASE_LETTERS` replaced by their base letters; compared as UTF-8 bytes. So "Ångström" sorts
    among the a's and "Łódź" among the l's (not after "z"), "ÉCLAIR" beside "eclair"; the folded name
    breaks ties (unaccented first).
    """
    f = fold(text)
    base = "".join(c for c in unicodedata.normalize("NFKD", f) if not unicodedata.combining(c))
    base = base.translate(_BASE_LETTERS)
    return base if base == f else base + "\0" + f  # the same order; most names (ASCII) stay as short as folded
