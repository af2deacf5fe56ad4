"""psi_match over dataset records {"v": value}, and the dating_deck contract, against references."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from note_compute.encoding import encode
from note_compute.errors import SandboxError
from note_compute.sandbox import Sandbox, abi, pack_input, reference

CONTRACTS = Path(__file__).resolve().parent.parent / "contracts"
PSI = (CONTRACTS / "psi_match.wasm").read_bytes()
DECK = (CONTRACTS / "dating_deck.wasm").read_bytes()
FUEL = 10**9



def _run(sandbox: Sandbox, program: bytes, args: object, records: list[bytes]) -> list[int]:
    return list(sandbox.run(program, pack_input(encode(args), records), fuel=FUEL).indices)


def _error(sandbox: Sandbox, program: bytes, args: object, records: list[bytes]) -> str:
    with pytest.raises(SandboxError) as info:
        sandbox.run(program, pack_input(encode(args), records), fuel=FUEL)
    assert info.value.reason == abi.REASON_PROGRAM_ERROR
    return str(info.value)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ours=st.sets(st.binary(min_size=32, max_size=32), max_size=20),
       shared=st.sets(st.binary(min_size=32, max_size=32), max_size=6),
       theirs=st.sets(st.binary(min_size=32, max_size=32), max_size=20))
def test_psi_match_on_dataset_records(sandbox: Sandbox, ours: set, shared: set, theirs: set) -> None:
    values = sorted(ours | shared)
    the_set = sorted(theirs | shared)
    data = pack_input(encode({"set": b"".join(the_set)}), [encode({"v": v}) for v in values])
    got = list(sandbox.run(PSI, data, fuel=FUEL).indices)
    assert got == [i for i, v in enumerate(values) if v in set(the_set)] == reference.psi_match(data)


def test_psi_match_refuses_other_record_shapes(sandbox: Sandbox) -> None:
    a, b = b"\x01" * 32, b"\x02" * 32
    assert "error code 2" in _error(sandbox, PSI, {"set": a}, [encode({"w": a})])
    assert "error code 2" in _error(sandbox, PSI, {"set": a}, [encode({"v": a[:31]})])
    assert "error code 2" in _error(sandbox, PSI, {"set": a}, [encode({"v": a, "x": 1})])
    assert "error code 3" in _error(sandbox, PSI, {"set": a}, [encode({"v": b}), encode({"v": a})])
    assert "error code 3" in _error(sandbox, PSI, {"set": a}, [encode({"v": a}), encode(a)])  # same value twice


def _card(i: int, *interests: str, **extra: object) -> bytes:
    return encode({"id": f"u{i}", "region": "north", "age": 30, "interests": list(interests), **extra})


CARDS = [
    _card(0, "chess", "hiking"),
    _card(1, "cooking"),
    _card(2, "hiking", "jazz", "chess", note="x"),
    _card(3),
    encode({"id": "u4", "region": "north", "age": 30}),  # no interests at all
    _card(5, "Jazz"),  # case matters: the app lower-cases
]


@pytest.mark.parametrize("args, expected", [
    ({"interests": ["chess"]}, [0, 2]),
    ({"interests": ["hiking", "jazz"]}, [0, 2]),
    ({"interests": ["hiking", "jazz"], "min_shared": 2}, [2]),
    ({"interests": ["chess", "hiking", "jazz"], "min_shared": 3}, [2]),
    ({"interests": []}, []),
    ({"interests": [], "min_shared": 0}, [0, 1, 2, 3, 4, 5]),
    ({"interests": ["jazz"]}, [2]),
])
def test_dating_deck_selects_shared_interests(sandbox: Sandbox, args: dict, expected: list[int]) -> None:
    assert _run(sandbox, DECK, args, CARDS) == expected
    assert reference.dating_deck(pack_input(encode(args), CARDS)) == expected


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cards=st.lists(st.lists(st.sampled_from("abcdefg"), max_size=5, unique=True), max_size=12),
       want=st.lists(st.sampled_from("abcdefgh"), max_size=6, unique=True), need=st.integers(0, 3))
def test_dating_deck_matches_reference(sandbox: Sandbox, cards: list, want: list, need: int) -> None:
    recs = [_card(i, *c) for i, c in enumerate(cards)]
    args = {"interests": want, "min_shared": need}
    assert _run(sandbox, DECK, args, recs) == reference.dating_deck(pack_input(encode(args), recs))


def test_dating_deck_rejects_bad_input(sandbox: Sandbox) -> None:
    assert "error code 1" in _error(sandbox, DECK, {}, CARDS)
    assert "error code 1" in _error(sandbox, DECK, {"interests": "chess"}, CARDS)
    assert "error code 1" in _error(sandbox, DECK, {"interests": [1]}, CARDS)
    assert "error code 1" in _error(sandbox, DECK, {"interests": ["a"] * 33}, CARDS)
    assert "error code 1" in _error(sandbox, DECK, {"interests": ["a"], "other": 1}, CARDS)
    assert "error code 1" in _error(sandbox, DECK, {"interests": ["a"], "min_shared": -1}, CARDS)
    assert "error code 2" in _error(sandbox, DECK, {"interests": ["a"]}, [encode([1, 2])])
    assert "error code 2" in _error(sandbox, DECK, {"interests": ["a"]}, [encode({"interests": [1]})])
    assert "error code 2" in _error(sandbox, DECK, {"interests": ["a"]}, [encode({"interests": "a"})])
