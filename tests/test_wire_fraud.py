"""Fraud proofs are checked by the wire module's schema: one reason (``malformed``), a fixed refusal order."""

from __future__ import annotations

from typing import Any

import pytest

from note_compute import encoding
from note_compute.compute.fraud import KIND_RANGE, KIND_SHARD, KIND_SUBSET, Evidence, FraudProof
from note_compute.errors import InvalidEncoding, InvalidProof, RemoteProtocolError
from note_compute.wire import fraud as wf


def _good(**over: Any) -> dict[str, Any]:
    v: dict[str, Any] = {"type": "fraud", "v": 1, "kind": KIND_SUBSET, "receipt": b"r", "args": b"a",
                         "indices": [0, 2], "digests": [bytes(32), b"\x01" * 32], "extra": b"",
                         "evidence": [{"indices": [0], "records": [b"rec"], "proof": b"p"}], "range_proof": b""}
    v.update(over)
    return {k: x for k, x in v.items() if x is not _DROP}


_DROP = object()


def test_round_trip_each_kind() -> None:
    for kind, blob in ((KIND_SUBSET, b""), (KIND_RANGE, b""), (KIND_RANGE, b"\x02" * 32), (KIND_SHARD, b"\x03" * 32)):
        fp = FraudProof(kind, b"r", b"a", [1], [bytes(32)], b"x", [Evidence([1], [b"y"], b"p")], b"rp", blob)
        again = FraudProof.decode(fp.encode())
        assert again == fp
        assert again.encode() == fp.encode()


@pytest.mark.parametrize(("value", "says"), [
    ([1], "is a map"),
    (_good(extra_field=b""), "unexpected field"),
    (_good(evidence=_DROP), "lacks field 'evidence'"),
    (_good(type="fraud2"), "'type'"),
    (_good(v=True), "'v'"),
    (_good(kind="x"), "'kind'"),
    (_good(receipt="text"), "'receipt'"),
    (_good(indices=[-1, 0]), "'indices'"),
    (_good(digests=[bytes(31), bytes(32)]), "'digests'"),
    (_good(digests=[bytes(32)]), "one digest per claimed index"),
    (_good(evidence=[{"indices": [0, 1], "records": [b""], "proof": b""}]), "one record per index"),
    (_good(evidence=[{"indices": [0], "records": [b""]}]), "lacks field 'proof'"),
    (_good(evidence=[{"indices": [0], "records": [b""], "proof": b"", "x": 1}]), "unexpected field"),
    (_good(blob=b"\x00" * 32), "subset fraud proof carries no blob"),
    (_good(kind=KIND_SHARD), "names its shard blob"),
    (_good(kind=KIND_RANGE, blob=b"\x00" * 31), "'blob'"),
])
def test_each_defect_is_malformed(value: Any, says: str) -> None:
    with pytest.raises(RemoteProtocolError) as wire_err:
        wf.parse_fraud_proof(value)
    assert wire_err.value.reason == "malformed" and says in wire_err.value.message
    with pytest.raises(InvalidProof) as err:
        FraudProof.decode(encoding.encode(value))
    assert err.value.reason == "malformed" and says in err.value.message


def test_refusal_order_first_defect_wins() -> None:
    # unexpected field before missing field before field checks, and field checks in schema order
    two = [(_good(zz=1, args=_DROP), "unexpected field"),
           (_good(args=_DROP, kind="x"), "lacks field 'args'"),
           (_good(kind="x", receipt=1), "'kind'"),
           (_good(receipt=1, digests=[b""]), "'receipt'"),
           (_good(kind=KIND_SHARD, digests=[bytes(32)]), "names its shard blob")]
    for value, says in two:
        with pytest.raises(InvalidProof) as err:
            FraudProof.decode(encoding.encode(value))
        assert says in err.value.message, (value, err.value.message)


def test_not_cbor_is_an_encoding_error() -> None:
    with pytest.raises(InvalidEncoding):
        FraudProof.decode(b"\xff")
