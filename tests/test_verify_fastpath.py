"""The client's cheaper receipt checks refuse exactly what the full checks refuse.

:func:`note_compute.compute.verify.verify_answer` checks a just-decoded receipt's signature over the body
bytes received (strict decoding proved them canonical) and compares its fields with
:func:`note_compute.compute.strict.same_decoded` (no encoding when the types match). Each test here plays
an input the shortcut could get wrong: bytes that are not the canonical encoding, a field that matches on
one reply and not the next, a value that is equal in Python but not on the wire, and every tampered field,
signature and key, with the outcome compared to the full :func:`~note_compute.compute.verify.check_receipt`.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

import cbor2
import pytest
import wasmtime
from hypothesis import given
from hypothesis import strategies as st

from note_compute import domains, encoding
from note_compute.compute.dataset import build_dataset
from note_compute.compute.protocol import QueryRequest, Receipt, parse_query_response
from note_compute.compute.server import ProgramCode, execute, load_shard
from note_compute.compute.strict import same, same_decoded
from note_compute.compute.verify import OtherRange, check_declared_bounds, check_receipt, verify_answer
from note_compute.crypto import SigningKey
from note_compute.errors import InvalidRecord, NoteError, RemoteProtocolError
from note_compute.merkle import KeyRangeProof
from note_compute.testing.compute import SUBSTRING_WAT

SITE = SigningKey(hashlib.sha256(b"fastpath-site").digest())
PEER = SigningKey(hashlib.sha256(b"fastpath-peer").digest())
OTHER = SigningKey(hashlib.sha256(b"fastpath-other").digest())
DATASET = f"note://{SITE.authority}/datasets/things"
PROGRAM = f"note://{SITE.authority}/programs/sub"


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    wasm = wasmtime.wat2wasm(SUBSTRING_WAT)
    recs = [encoding.encode({"id": i, "tag": ["red", "blue", "green"][i % 3]}) for i in range(60)]
    built = build_dataset(recs, name="things", sort_key=["id"], shard_records=20)
    manifest = replace(built.manifest, url=DATASET, seq=3)
    shards = [load_shard(manifest, i, built.shards[i].blob) for i in range(3)]
    program = ProgramCode(PROGRAM, hashlib.sha256(wasm).digest(), wasm, 10**8)
    return manifest, shards, program


def _req(program: ProgramCode, shard: int = 1, rng: Any = None) -> QueryRequest:
    return QueryRequest(PROGRAM, program.hash, DATASET, 3, shard, encoding.encode("red"), rng)


def _resign(body: dict[str, Any], key: SigningKey = PEER) -> bytes:
    return Receipt(body, key.sign(domains.SIG_RECEIPT, encoding.encode(body))).encode()


def _outcome(fn: Any) -> tuple[str, str | None]:
    try:
        fn()
    except NoteError as exc:
        return type(exc).__name__, exc.reason
    return "ok", None


def _full_check(req: QueryRequest, reply: dict[str, Any], manifest: Any, peer_id: bytes | None) -> None:
    """The full path: decode the receipt, then check_receipt (signature over a re-encoding, fields by encoding)."""
    check_receipt(parse_query_response(reply, ranged=req.range is not None).receipt, req, manifest, peer_id=peer_id)


# -- bytes received that are not the canonical encoding --------------------------------------------------------


def _raw_receipt(body_bytes: bytes, sig: bytes, *, body_first: bool = False) -> bytes:
    """A receipt map written by hand: {"sig": sig, "body": <body_bytes>} (or the keys the other way round)."""
    sig_item, body_item = b"\x63sig" + cbor2.dumps(sig), b"\x64body" + body_bytes
    return b"\xa2" + (body_item + sig_item if body_first else sig_item + body_item)


def test_decode_signed_returns_the_canonical_body(world, sandbox) -> None:  # type: ignore[no-untyped-def]
    manifest, shards, program = world
    reply = execute(PEER, sandbox, _req(program), program, manifest, shards[1])
    receipt, signed = Receipt.decode_signed(reply["receipt"])
    assert signed == encoding.encode(receipt.body) and reply["receipt"].endswith(signed)
    assert receipt == Receipt.decode(reply["receipt"])


@pytest.mark.parametrize("how", ["long-int", "body-first", "unsorted-body", "trailing"])
def test_signature_over_non_canonical_bytes_is_refused(world, sandbox, how: str) -> None:  # type: ignore[no-untyped-def]
    """A peer signs body bytes that decode to the right values but are not their canonical encoding: the
    signature over the bytes received is valid, yet the receipt is refused (strict decoding), as before."""
    manifest, shards, program = world
    q = _req(program)
    reply = execute(PEER, sandbox, q, program, manifest, shards[1])
    body = Receipt.decode(reply["receipt"]).body
    canonical = encoding.encode(body)
    if how == "long-int":  # "v": 1 written as a one-byte-argument integer (0x18 0x01): same value, longer form
        at = canonical.index(b"\x61v\x01")
        body_bytes = canonical[:at] + b"\x61v\x18\x01" + canonical[at + 3:]
    elif how == "unsorted-body":  # the same map with its keys in insertion order of a reversed dict
        body_bytes = cbor2.dumps(dict(reversed(list(body.items()))))
    else:
        body_bytes = canonical
    assert cbor2.loads(body_bytes) == body
    sig = PEER.sign(domains.SIG_RECEIPT, body_bytes)
    data = _raw_receipt(body_bytes, sig, body_first=how == "body-first") + (b"\x00" if how == "trailing" else b"")
    assert data != Receipt(body, sig).encode() or how in ("body-first", "trailing")
    bad = dict(reply, receipt=data)
    with pytest.raises(RemoteProtocolError) as err:
        verify_answer(q, bad, manifest)
    assert err.value.reason == "bad-receipt"
    assert _outcome(lambda: _full_check(q, bad, manifest, None)) == ("RemoteProtocolError", "bad-receipt")


# -- every field, signature and key: the same outcome as the full check ----------------------------------------


_TAMPER: list[tuple[str, Any]] = [
    ("program", bytes(32)), ("dataset", "note://x/datasets/y"), ("seq", 2), ("seq", True), ("shard", 0),
    ("shard", True), ("shard_root", bytes(32)), ("count", 19), ("sort_key", ["tag"]), ("sort_key", []),
    ("args", bytes(32)), ("range", [[1], None]), ("range", [None, None]), ("peer", bytes(32)),
]


@pytest.mark.parametrize("field, value", _TAMPER)
def test_tampered_fields_fail_as_the_full_check_does(world, sandbox, field: str, value: Any) -> None:  # type: ignore[no-untyped-def]
    manifest, shards, program = world
    q = _req(program)
    reply = execute(PEER, sandbox, q, program, manifest, shards[1])
    body = dict(Receipt.decode(reply["receipt"]).body, **{field: value})
    bad = dict(reply, receipt=_resign(body))
    fast = _outcome(lambda: verify_answer(q, bad, manifest, peer_id=PEER_ID))
    assert fast == _outcome(lambda: _full_check(q, bad, manifest, PEER_ID))
    assert fast[0] != "ok"


PEER_ID = hashlib.sha256(PEER.public_key).digest()


def test_signature_key_and_peer_fail_as_the_full_check_does(world, sandbox) -> None:  # type: ignore[no-untyped-def]
    manifest, shards, program = world
    q = _req(program)
    reply = execute(PEER, sandbox, q, program, manifest, shards[1])
    receipt = Receipt.decode(reply["receipt"])
    body = receipt.body
    other_id = hashlib.sha256(OTHER.public_key).digest()
    cases = {
        "flipped signature": (dict(reply, receipt=Receipt(body, bytes([receipt.sig[0] ^ 1]) + receipt.sig[1:])
                                   .encode()), PEER_ID),
        "signed by another key": (dict(reply, receipt=Receipt(body, OTHER.sign(domains.SIG_RECEIPT,
                                                                               encoding.encode(body))).encode()),
                                  PEER_ID),
        "another key, its own peer id": (dict(reply, receipt=_resign(dict(body, key=OTHER.public_key,
                                                                          peer=other_id), OTHER)), PEER_ID),
        "the peer asked is another": (reply, other_id),
        "honest": (reply, PEER_ID),
    }
    seen = {}
    for name, (msg, pid) in cases.items():
        fast = _outcome(lambda msg=msg, pid=pid: verify_answer(q, msg, manifest, peer_id=pid))
        assert fast == _outcome(lambda msg=msg, pid=pid: _full_check(q, msg, manifest, pid)), name
        seen[name] = fast
    assert seen["honest"] == ("ok", None)
    assert seen["flipped signature"] == ("InvalidSignature", "bad-signature")
    assert seen["signed by another key"] == ("InvalidSignature", "bad-signature")
    assert seen["another key, its own peer id"] == ("InvalidSignature", "peer-id")
    assert seen["the peer asked is another"] == ("InvalidSignature", "peer-id")


def test_a_field_right_on_one_reply_and_wrong_on_the_next(world, sandbox) -> None:  # type: ignore[no-untyped-def]
    """Nothing is remembered between replies: a receipt right for shard 1 is refused for shard 2, and one
    reply's passing check does not carry over to the next reply's wrong seq."""
    manifest, shards, program = world
    q1, q2 = _req(program, 1), _req(program, 2)
    r1 = execute(PEER, sandbox, q1, program, manifest, shards[1])
    r2 = execute(PEER, sandbox, q2, program, manifest, shards[2])
    verify_answer(q1, r1, manifest)
    verify_answer(q2, r2, manifest)
    with pytest.raises(RemoteProtocolError) as err:
        verify_answer(q2, r1, manifest)  # shard 1's receipt for the shard 2 request
    assert err.value.reason == "receipt-shard"
    wrong_seq = dict(r2, receipt=_resign(dict(Receipt.decode(r2["receipt"]).body, seq=4)))
    verify_answer(q1, r1, manifest)
    with pytest.raises(RemoteProtocolError) as err:
        verify_answer(q2, wrong_seq, manifest)
    assert err.value.reason == "receipt-seq"
    verify_answer(q2, r2, manifest)


def test_equal_in_python_but_not_on_the_wire(world, sandbox) -> None:  # type: ignore[no-untyped-def]
    """The request's range [[1], [9]] against a receipt signing [[true], [9]]: Python says equal, the wire does
    not; the shortcut must not take Python's word (refused as a statement about another range, as before)."""
    manifest, shards, program = world
    q = _req(program, 0, [[1], [9]])
    reply = execute(PEER, sandbox, q, program, manifest, shards[0])
    verify_answer(q, reply, manifest)
    body = dict(Receipt.decode(reply["receipt"]).body, range=[[True], [9]])
    assert body["range"] == q.range
    lying = dict(reply, receipt=_resign(body))
    with pytest.raises(OtherRange):
        verify_answer(q, lying, manifest)
    assert _outcome(lambda: _full_check(q, lying, manifest, None)) == ("OtherRange", "receipt-range")


def test_same_value_of_another_python_type_still_passes(world, sandbox) -> None:  # type: ignore[no-untyped-def]
    """A request whose range is a tuple encodes like the list the receipt carries: the shortcut cannot decide
    (types differ), the canonical comparison accepts, as the full check does."""
    manifest, shards, program = world
    q = _req(program, 0, [[1], [9]])
    reply = execute(PEER, sandbox, q, program, manifest, shards[0])
    as_tuple = replace(q, range=([1], (9,)))  # type: ignore[arg-type]
    ans = verify_answer(as_tuple, reply, manifest)
    assert [encoding.decode(r)["id"] for r in ans.range_records or []] == list(range(1, 9))
    _full_check(as_tuple, reply, manifest, None)


# -- same_decoded is same -----------------------------------------------------------------------------------------

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**64), 2**64 - 1), st.text(max_size=4),
                     st.binary(max_size=4), st.sampled_from([0, 1, -1, True, False, 0.0, -0.0, 1.0]))
_values = st.recursive(_scalars, lambda c: st.one_of(st.lists(c, max_size=3), st.tuples(c, c),
                                                      st.dictionaries(st.text(max_size=2), c, max_size=2)),
                       max_leaves=8)


def _python_equal_variant(v: Any, flips: Any) -> Any:
    """``v`` with types swapped that Python's ``==`` ignores (0/1 <-> False/True, int -> float) or that encode
    alike (list -> tuple)."""
    t = type(v)
    if t is bool:
        return int(v) if flips.draw(st.booleans()) else v
    if t is int:
        choice = flips.draw(st.integers(0, 2))
        if choice == 1 and v in (0, 1):
            return bool(v)
        return float(v) if choice == 2 and abs(v) < 2**53 else v
    if t is list:
        items = [_python_equal_variant(x, flips) for x in v]
        return tuple(items) if flips.draw(st.booleans()) else items
    if t is dict:
        return {k: _python_equal_variant(x, flips) for k, x in v.items()}
    return v


@given(_values, _values, st.data())
def test_same_decoded_agrees_with_same(a: Any, b: Any, flips: Any) -> None:
    received = encoding.decode(encoding.encode(a), allow_float=True)  # what strict decoding hands over
    variant = _python_equal_variant(received, flips)
    for expected in (b, a, variant):
        assert same_decoded(received, expected) == same(received, expected)
    assert same_decoded(received, received)


def test_same_decoded_never_takes_python_equality() -> None:
    for received, expected in (([True], [1]), (1, True), (0, False), ([[True], [5]], [[1], [5]]), (1, 1.0),
                               (b"a", "a"), (None, False), (["a", 1], ["a", True])):
        assert received == expected or received != expected
        assert not same_decoded(received, expected) and not same_decoded(expected, received)
    assert same_decoded([[1], None], ([1], None))  # tuple or list: one canonical encoding


# -- the range path: leaf keys read once ---------------------------------------------------------------------------


def test_declared_bounds_with_a_key_cache_refuse_the_same(world, sandbox) -> None:  # type: ignore[no-untyped-def]
    manifest, shards, program = world
    q = _req(program, 1, [[25], [31]])
    reply = execute(PEER, sandbox, q, program, manifest, shards[1])
    krp = KeyRangeProof.decode(reply["range_proof"])
    calls: list[bytes] = []

    def key_of(leaf: bytes) -> Any:
        calls.append(leaf)
        from note_compute.compute.dataset import fast_key_of_record

        return fast_key_of_record(leaf, manifest.sort_key)

    check_declared_bounds(manifest, 1, krp, key_of=key_of)
    assert calls == list(krp.leaves)
    lying = replace(manifest, shards=[manifest.shards[0], replace(manifest.shards[1], lo=[26]),
                                      *manifest.shards[2:]])
    for kw in ({}, {"key_of": key_of}):
        with pytest.raises(InvalidRecord) as err:
            check_declared_bounds(lying, 1, krp, **kw)
        assert err.value.reason == "shard-bounds"


# -- the receipt decoder's shortcut: the strict decoder's answer, always ---------------------------------------


def _strict_outcome(data: bytes) -> Any:
    from note_compute.compute.protocol import _strict_receipt

    try:
        v = _strict_receipt(data)
    except NoteError as exc:
        return ("refused", type(exc).__name__, exc.reason, str(exc))
    return ("ok", encoding.encode(v))


def _decoder_outcome(data: bytes) -> Any:
    try:
        receipt, signed = Receipt.decode_signed(data)
    except NoteError as exc:
        return ("refused", type(exc).__name__, exc.reason, str(exc))
    assert signed == encoding.encode(receipt.body)
    return ("ok", encoding.encode({"body": receipt.body, "sig": receipt.sig}))


def _honest_receipt() -> tuple[bytes, dict[str, Any]]:
    body = {"v": 1, "peer": hashlib.sha256(PEER.public_key).digest(), "key": PEER.public_key,
            "program": bytes(32), "dataset": DATASET, "seq": 3, "shard": 1, "shard_root": bytes(range(32)),
            "count": 20, "sort_key": ["id"], "args": bytes(32), "range": None, "result": bytes(32), "fuel": 1234}
    return _resign(body), body


def test_honest_receipts_take_the_shortcut() -> None:
    from note_compute.compute.protocol import _plain_receipt

    data, body = _honest_receipt()
    assert _plain_receipt(data) is not None
    for rng in ([[1], [9]], [None, ["a", b"b", True, -(2**64), 2**64 - 1]], [[[[1]]], None]):
        data = _resign(dict(body, range=rng))
        assert _plain_receipt(data) is not None and _decoder_outcome(data) == _strict_outcome(data)


_odd = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**65), 2**65), st.floats(allow_nan=False), st.text(max_size=3),
              st.binary(max_size=3), st.builds(cbor2.CBORTag, st.sampled_from([2, 3, 24, 55799, 258]),
                                              st.binary(max_size=2))),
    lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.one_of(st.text(max_size=2),
                                                                          st.integers(-3, 3)), c, max_size=3)),
    max_leaves=10)


@given(st.data())
def test_receipt_decoder_answers_as_the_strict_decoder(data: Any) -> None:
    """Hostile receipts built from an honest one: odd range values (floats, tags, huge integers, maps with
    mixed keys, deep nesting), other key orders, cbor2's non-canonical encoder, byte edits; the decoder's
    outcome (value, or error class, reason and message) is the strict decoder's."""
    honest, body = _honest_receipt()
    how = data.draw(st.sampled_from(["range", "order", "bytes", "wrap"]))
    if how == "range":
        lo, hi = data.draw(_odd), data.draw(_odd)
        new = dict(body, range=data.draw(st.sampled_from([[lo, hi], [[lo], [hi]], [[lo, hi], None], lo])))
        signed_bytes = cbor2.dumps(new, canonical=data.draw(st.booleans()))
        sig = PEER.sign(domains.SIG_RECEIPT, signed_bytes)
        raw = _raw_receipt(signed_bytes, sig)
    elif how == "order":
        items = list(body.items())
        order = data.draw(st.permutations(items))
        raw = _raw_receipt(cbor2.dumps(dict(order)), PEER.sign(domains.SIG_RECEIPT, cbor2.dumps(dict(order))),
                           body_first=data.draw(st.booleans()))
    elif how == "bytes":
        at = data.draw(st.integers(0, len(honest) - 1))
        edit = data.draw(st.sampled_from(["flip", "cut", "insert", "append"]))
        b = data.draw(st.integers(0, 255))
        raw = {"flip": honest[:at] + bytes([honest[at] ^ (b or 1)]) + honest[at + 1:], "cut": honest[:at],
               "insert": honest[:at] + bytes([b]) + honest[at:], "append": honest + bytes([b])}[edit]
    else:  # the honest receipt under a tag, or inside an indefinite-length map
        raw = data.draw(st.sampled_from([b"\xd9\xd9\xf7" + honest, b"\xbf" + honest[1:] + b"\xff"]))
    assert _decoder_outcome(raw) == _strict_outcome(raw)


def _nested(depth: int) -> Any:
    v: Any = 1
    for _ in range(depth):
        v = [v]
    return v


@pytest.mark.parametrize("rng", [
    [[2**64], None], [[-(2**64) - 1], None], [[2**64 - 1], [-(2**64)]], [[cbor2.CBORTag(2, b"\x01")], None],
    [[1.5], None], [[1.0], None], [[{"a": 1, 1: 2}], None], [[{"b": 1, "a": 2}], None], [[True], [1]],
    *[[[_nested(d)], None] for d in range(3, 9)],
], ids=lambda r: repr(r)[:40])
def test_receipt_decoder_edges(rng: Any) -> None:
    """Integers just outside the 64-bit range (written as bignum tags), floats, maps, nesting at the depth limit:
    strict decoding decides, and the decoder's answer is its answer (canonical and plain encodings alike)."""
    _, body = _honest_receipt()
    for canonical in (True, False):
        signed_bytes = cbor2.dumps(dict(body, range=rng), canonical=canonical)
        raw = _raw_receipt(signed_bytes, PEER.sign(domains.SIG_RECEIPT, signed_bytes))
        assert _decoder_outcome(raw) == _strict_outcome(raw)


# -- peer ids: the ring client's PeerRef straight away, anything else as before -------------------------------


def test_peer_id_of_peer_refs_is_the_general_rule() -> None:
    from dataclasses import dataclass

    from note_compute.compute.actions import peer_id_of, peer_key
    from note_compute.ring import PeerRef

    ref = PeerRef(2**255 + 7, "/ip4/127.0.0.1/tcp/4001")
    assert peer_id_of(ref) == (2**255 + 7).to_bytes(32, "big") == ref.id_bytes and peer_key(ref) == ref.id_bytes

    @dataclass(frozen=True)
    class Renamed(PeerRef):  # a subclass that names another id first: the general rule, not the shortcut
        node_id: bytes = bytes(32)

    assert peer_id_of(Renamed(5, "x")) == bytes(32)
