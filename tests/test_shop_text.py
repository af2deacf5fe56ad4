"""The shop's text normalization against the hand-written vectors of specs/vectors/text.json."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from examples.shop.text import MAX_WORD_BYTES, fold, unique_words, words

VECTORS = json.loads((Path(__file__).resolve().parents[1] / "specs" / "vectors" / "text.json").read_text("utf-8"))


@pytest.mark.parametrize("v", VECTORS["vectors"], ids=lambda v: v["why"][:40])
def test_vector(v: dict) -> None:
    assert words(v["text"]) == v["words"], v["why"]


def test_vectors_cover_the_issue_cases() -> None:
    texts = {v["text"] for v in VECTORS["vectors"]}
    for t in ("ÉCLAIR mould", "Łódź", "straße", "cafe\u0301", "caf\u00e9", "Steel Clamp"):
        assert t in texts


@given(st.text(max_size=80))
def test_idempotent_and_normal(text: str) -> None:
    ws = words(text)
    for w in ws:
        assert words(w) == [w]  # a word is its own normal form
        assert unicodedata.is_normalized("NFKC", w) and len(w.encode()) <= MAX_WORD_BYTES
    assert words(" ".join(ws)) == ws
    assert words(fold(text)) == ws
    assert unique_words(text) == sorted(set(ws), key=lambda w: w.encode())


def test_bad_input_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        words(b"bytes")  # type: ignore[arg-type]


@given(st.text(max_size=60))
def test_regex_split_equals_the_category_definition(text: str) -> None:
    """The fast splitter agrees with the spec's definition, code point by code point."""
    folded, ws, cur = fold(text), [], ""
    for ch in folded + " ":
        if unicodedata.category(ch)[0] in "LMN":
            cur += ch
        elif cur:
            ws.append(cur)
            cur = ""
    assert words(text) == [w for w in ws if len(w.encode()) <= MAX_WORD_BYTES][:256]


def test_stop_words_are_dropped_from_searches_only() -> None:
    from examples.shop.text import search_words

    assert words("The lamp of the year") == ["the", "lamp", "of", "the", "year"]
    assert search_words("The lamp of the year, THE LAMP") == ["lamp", "year"]


def test_name_order_vectors() -> None:
    """The name sort: letters first (Å among the a's, Ł among the l's), then accents and case (specs/text.md)."""
    from examples.shop.text import name_key

    names = VECTORS["name_order"]["names"]
    assert sorted(reversed(names), key=lambda n: name_key(n).encode()) == names
    assert name_key("Café") == name_key("cafe\u0301") and name_key("Ångström") != name_key("angstrom")
