"""errors: codes are unique and round-trip through error_from_code."""

from __future__ import annotations

import pytest

from note_compute import errors
from note_compute.errors import Equivocation, InvalidRecord, NoteError, StaleRecord, error_from_code


def _all(cls: type[NoteError]) -> list[type[NoteError]]:
    """NoteError classes defined in errors.py (other modules may add their own)."""
    out = [cls] if cls.__module__ == errors.__name__ else []
    for sub in cls.__subclasses__():
        out.extend(_all(sub))
    return out


def test_codes_are_unique() -> None:
    codes = [c.code for c in _all(NoteError)]
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize("cls", _all(NoteError), ids=lambda c: c.__name__)
def test_round_trip(cls: type[NoteError]) -> None:
    err = error_from_code(cls.code, "boom", "why")
    assert type(err) is cls
    assert err.message == "boom" and err.reason == "why"
    assert str(err) == "boom [why]"


def test_default_message_is_the_first_docstring_line() -> None:
    assert str(Equivocation()) == "Two different records signed by one authority with the same URL and seq."
    assert str(StaleRecord()) == StaleRecord.__doc__


def test_unknown_code_gives_the_root() -> None:
    err = error_from_code("no-such-code", "x")
    assert type(err) is NoteError


def test_hierarchy() -> None:
    assert issubclass(StaleRecord, InvalidRecord) and issubclass(Equivocation, InvalidRecord)
    assert issubclass(errors.LocalProtocolError, errors.ProtocolError)
    assert Equivocation("x", proof=1).proof == 1
    assert set(errors.__all__) >= {c.__name__ for c in _all(NoteError)}
