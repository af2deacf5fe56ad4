"""specs/vectors/wire_refusals.json: messages with several defects, refused for the first (transport.md 4.1)."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from note_compute import encoding
from note_compute.errors import NoteError
from note_compute.ring import messages as rm
from note_compute.wire import compute as wc
from note_compute.wire import envelope
from note_compute.wire import storage as ws

VEC = Path(__file__).resolve().parents[1] / "specs" / "vectors"
DATA = json.loads((VEC / "wire_refusals.json").read_text())
CASES = {c["name"]: c for c in DATA["cases"]}

READERS: dict[str, Callable[[Any], Any]] = {
    "ring request": rm.parse_request,
    "ring reply to ring.find": lambda v: rm.parse_reply(envelope.raise_if_error(v), rm.FIND),
    "store.get request": ws.parse_get,
    "store.put request": ws.parse_put,
    "store.get reply": lambda v: ws.parse_get_reply(envelope.raise_if_error(v)),
    "compute.query request": wc.QueryRequest.from_msg,
    "compute.query reply": lambda v: wc.parse_reply_fields(v, ranged=False),
}


def test_every_family_has_a_reader_and_cases_have_two_defects() -> None:
    assert set(DATA["families"]) == set(READERS)
    multi = [c for c in DATA["cases"] if len(c["defects"]) >= 2]
    assert len(multi) >= 10  # the order is shown, not just single defects
    for step in ("unexpected-field", "missing-field", "bad-error-reply", "bad-reply", "wrong-reply"):
        assert any(c["reason"] == step and len(c["defects"]) >= 2 for c in DATA["cases"]), step


@pytest.mark.parametrize("name", sorted(CASES))
def test_refused_for_the_first_defect(name: str) -> None:
    case = CASES[name]
    value = encoding.decode(bytes.fromhex(case["cbor"]))
    with pytest.raises(NoteError) as err:
        READERS[case["family"]](value)
    assert (err.value.code, err.value.reason or "") == (case["code"], case["reason"])


def test_generator_reproduces_the_file() -> None:
    spec = importlib.util.spec_from_file_location("gen_wire_refusals", VEC / "gen_wire_refusals.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert json.dumps(mod.build(), indent=1, sort_keys=True) + "\n" == (VEC / "wire_refusals.json").read_text()
