"""Records are checked by the wire module (wire/record.py): the shape by its Schema, then the field checks in
their stated order, the same rules for a decoded record and for one built in Python."""

from __future__ import annotations

from typing import Any

import pytest

from note_compute import encoding
from note_compute.crypto import SigningKey
from note_compute.errors import InvalidRecord, RemoteProtocolError
from note_compute.records import Record, sign_record
from note_compute.wire import record as wrec

KEY = SigningKey(b"\x05" * 32)
URL = f"note://{KEY.authority}/a"
GOOD = sign_record(KEY, URL, seq=1, value=b"v", created=10)


def _map(**over: Any) -> dict[str, Any]:
    m: dict[str, Any] = {"u": URL, "s": 1, "c": 10, "v": b"v", "sig": GOOD.signature}
    m.update(over)
    return {k: v for k, v in m.items() if v is not None}


@pytest.mark.parametrize(("m", "reason", "says"), [
    ([1], "schema", "is a map"),
    (_map(x=1, u=URL + "/"), "schema", "unexpected field"),  # shape before fields
    (_map(s=None, u=7), "schema", "lacks field 's'"),
    (_map(v=None, r=[], u=URL + "/"), "schema", "non-empty array"),  # refs shape is a shape check
    (_map(u=URL + "/", v=b"x" * 65537), "url", "normal form"),  # u before v
    (_map(s=True, v=b"x" * 65537), "schema", "seq"),  # s before v
    (_map(e=5, v=b"x" * 65537), "schema", "expires is before created"),  # e >= c right after e
    (_map(v=b"x" * 65537, sig=b"short"), "too-large", "65536-byte cap"),  # v before sig
    (_map(r=[bytes(32)]), "schema", "not both"),
    (_map(v=None, r=[bytes(32)] * 257, sig=b""), "too-large", "more than 256 refs"),  # r before sig
    (_map(sig=b"short"), "schema", "signature"),
])
def test_refusal_order(m: Any, reason: str, says: str) -> None:
    with pytest.raises(InvalidRecord) as err:
        Record.decode(encoding.encode(m))
    assert err.value.reason == reason and says in err.value.message
    # the wire module alone gives the same answer (shape by the Schema, then the field checks)
    with pytest.raises(RemoteProtocolError) as wire_err:
        f = wrec.parse_record_map(m)
        wrec.check_fields(f["u"], f["s"], f["c"], f.get("v"), tuple(f.get("r", ())), f.get("e"), f["sig"])
    assert (wire_err.value.reason, wire_err.value.message) == (reason, err.value.message)


def test_built_in_python_by_the_same_checks() -> None:
    with pytest.raises(InvalidRecord) as err:
        Record(URL, 1, 10, b"x" * 65537, (), None, b"short")
    assert err.value.reason == "too-large"
    with pytest.raises(InvalidRecord) as err:
        Record(URL, 1, 10, b"v", [bytes(32)], None, GOOD.signature)  # type: ignore[arg-type]
    assert err.value.reason == "schema"
    assert Record.decode(GOOD.encode()) == GOOD
