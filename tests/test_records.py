"""records: signing, strict decoding, tampering, selection, equivocation proofs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from note_compute import domains, encoding, urls
from note_compute.crypto import SigningKey
from note_compute.errors import (
    Equivocation,
    InvalidEncoding,
    InvalidRecord,
    InvalidSignature,
    NoteError,
    StaleRecord,
    error_from_code,
)
from note_compute.records import (
    MAX_REFS,
    MAX_VALUE_SIZE,
    EquivocationProof,
    Record,
    decode_verified,
    select,
    sign_record,
    verify_record,
)

KEY = SigningKey(bytes(range(32)))
OTHER = SigningKey(bytes(range(1, 33)))
URL = urls.make_url(KEY.authority, "notes/one")


def rec(seq: int = 1, value: bytes | None = b"hello", **kw: object) -> Record:
    return sign_record(KEY, URL, seq=seq, value=value, created=kw.pop("created", 1000), **kw)  # type: ignore[arg-type]


def test_sign_encode_decode_verify() -> None:
    r = rec(expires=2000)
    data = r.encode()
    back = decode_verified(data, now=1500)
    assert back == r and back.encode() == data
    assert r.authority == KEY.authority and r.public_key == KEY.public_key
    assert r.address == urls.address(URL)
    m = encoding.decode(data)
    assert set(m) == {"u", "s", "c", "v", "e", "sig"}
    assert m["u"] == URL and m["s"] == 1 and m["c"] == 1000 and m["v"] == b"hello" and m["e"] == 2000


def test_signature_covers_prefix_and_body() -> None:
    r = rec()
    body = encoding.encode({"u": URL, "s": 1, "c": 1000, "v": b"hello"})
    assert r.body() == body
    assert r.signature == KEY.sign(domains.SIG_RECORD, body)


def test_refs_record() -> None:
    refs = (bytes(32), bytes([1]) * 32)
    r = sign_record(KEY, URL, seq=5, refs=refs, created=7)
    assert r.value is None and r.refs == refs
    assert decode_verified(r.encode()) == r


def test_url_is_normalised_when_signing() -> None:
    r = sign_record(KEY, f"NOTE://{KEY.authority.upper()}/notes/./one/", seq=1, value=b"", created=0)
    assert r.url == URL


def test_only_the_authority_can_sign() -> None:
    with pytest.raises(InvalidRecord) as e:
        sign_record(OTHER, URL, seq=1, value=b"x", created=0)
    assert e.value.reason == "authority"


def test_signature_by_another_key_is_refused() -> None:
    r = rec()
    forged = Record(r.url, r.seq, r.created, r.value, r.refs, r.expires, OTHER.sign(domains.SIG_RECORD, r.body()))
    with pytest.raises(InvalidSignature):
        verify_record(forged)


def test_expiry() -> None:
    r = rec(expires=2000)
    verify_record(r, now=1999)
    verify_record(r)  # no clock, no expiry check
    with pytest.raises(InvalidRecord) as e:
        verify_record(r, now=2000)
    assert e.value.reason == "expired"
    with pytest.raises(InvalidRecord):
        decode_verified(r.encode(), now=3000)


@pytest.mark.parametrize(
    "kwargs,reason",
    [
        ({"seq": -1}, "schema"),
        ({"seq": 2**64}, "schema"),
        ({"seq": True}, "schema"),
        ({"created": -5}, "schema"),
        ({"expires": 10, "created": 11}, "schema"),
        ({"value": None}, "schema"),  # neither value nor refs
        ({"value": b"x", "refs": (bytes(32),)}, "schema"),
        ({"value": None, "refs": (b"short",)}, "schema"),
        ({"value": None, "refs": (bytes(32),) * (MAX_REFS + 1)}, "too-large"),
        ({"value": b"x" * (MAX_VALUE_SIZE + 1)}, "too-large"),
        ({"value": "text"}, "schema"),
    ],
)
def test_schema_limits_when_signing(kwargs: dict[str, object], reason: str) -> None:
    args: dict[str, object] = {"seq": 1, "value": b"v", "created": 1}
    args.update(kwargs)
    with pytest.raises(InvalidRecord) as e:
        sign_record(KEY, URL, **args)  # type: ignore[arg-type]
    assert e.value.reason == reason


def test_max_value_fits() -> None:
    r = rec(value=b"x" * MAX_VALUE_SIZE)
    assert decode_verified(r.encode()) == r


def _wire(record: Record, **changes: object) -> bytes:
    m = encoding.decode(record.encode())
    for k, v in changes.items():
        if v is None:
            m.pop(k, None)
        else:
            m[k] = v
    return encoding.encode(m)


@pytest.mark.parametrize(
    "changes,reason",
    [
        ({"x": 1}, "schema"),  # unknown field
        ({"sig": None}, "schema"),  # missing signature
        ({"u": None}, "schema"),
        ({"s": "1"}, "schema"),
        ({"c": -1}, "schema"),
        ({"v": None}, "schema"),
        ({"r": []}, "schema"),
        ({"r": [bytes(32)]}, "schema"),  # both value and refs
        ({"e": None, "v": None, "r": [bytes(31)]}, "schema"),
        ({"u": "note://x/y"}, "url"),
        ({"u": URL + "/"}, "url"),  # not in normal form
        ({"u": URL.upper()}, "url"),
        ({"sig": bytes(63)}, "schema"),
    ],
)
def test_decode_schema_refusals(changes: dict[str, object], reason: str) -> None:
    with pytest.raises(InvalidRecord) as e:
        Record.decode(_wire(rec(), **changes))
    assert e.value.reason == reason


def test_decode_refuses_non_maps_and_non_canonical() -> None:
    with pytest.raises(InvalidRecord):
        Record.decode(encoding.encode([1, 2]))
    with pytest.raises(InvalidEncoding):
        Record.decode(rec().encode() + b"\x00")
    with pytest.raises(InvalidEncoding) as e:
        Record.decode(b"\x00" * 100_000)
    assert e.value.reason == "too-large"


def test_wrong_url_in_signed_body_fails() -> None:
    # Same authority, other path: decodes, but the signature no longer matches.
    data = _wire(rec(), u=urls.make_url(KEY.authority, "notes/two"))
    with pytest.raises(InvalidSignature):
        decode_verified(data)
    # Another authority's URL: the signature is checked against that key.
    data = _wire(rec(), u=urls.make_url(OTHER.authority, "notes/one"))
    with pytest.raises(InvalidSignature):
        decode_verified(data)


SAMPLE = rec(seq=3, expires=5000).encode()


@settings(max_examples=400)
@given(st.integers(0, len(SAMPLE) * 8 - 1))
def test_any_bit_flip_is_refused(bit: int) -> None:
    data = bytearray(SAMPLE)
    data[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(NoteError):
        decode_verified(bytes(data))


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_record_decoders_on_any_bytes(data: bytes) -> None:
    for fn in (Record.decode, decode_verified, EquivocationProof.decode):
        try:
            fn(data)
        except NoteError:
            pass


@settings(max_examples=200)
@given(st.data())
def test_decoders_on_structured_garbage(data: st.DataObject) -> None:
    fields = st.fixed_dictionaries(
        {},
        optional={
            "u": st.sampled_from([URL, "note://x", 3, b""]),
            "s": st.integers(-3, 2**64) | st.text(max_size=2),
            "c": st.integers(-3, 2**64),
            "v": st.binary(max_size=4) | st.none() | st.integers(),
            "r": st.lists(st.binary(min_size=31, max_size=33), max_size=3) | st.integers(),
            "e": st.integers(-3, 2**64) | st.none(),
            "sig": st.binary(min_size=63, max_size=65),
            "zz": st.integers(),
        },
    )
    m = data.draw(fields)
    try:
        decode_verified(encoding.encode(m))
    except NoteError:
        return
    raise AssertionError("a random signature verified")


# -- selection ---------------------------------------------------------------


def test_select_rules() -> None:
    r1, r2 = rec(seq=1), rec(seq=2)
    assert select(None, r1) is r1
    assert select(r1, r2) is r2
    with pytest.raises(StaleRecord) as e:
        select(r2, r1)
    assert isinstance(e.value, InvalidRecord)
    same = Record.decode(r1.encode())
    assert select(r1, same) is r1


def test_select_equal_seq_different_bytes_is_equivocation() -> None:
    a, b = rec(seq=4, value=b"a"), rec(seq=4, value=b"b")
    with pytest.raises(Equivocation) as e:
        select(a, b)
    assert isinstance(e.value, InvalidRecord)
    proof = e.value.proof
    assert isinstance(proof, EquivocationProof)
    proof.verify()
    assert proof.authority == KEY.authority
    back = EquivocationProof.decode(proof.encode())
    back.verify()
    # one encoding per pair, whichever order it was built in
    assert EquivocationProof(b, a).encode() == proof.encode()


def test_select_refuses_other_urls() -> None:
    other = sign_record(KEY, urls.make_url(KEY.authority, "other"), seq=9, value=b"", created=0)
    with pytest.raises(InvalidRecord) as e:
        select(rec(), other)
    assert e.value.reason == "url"


def test_equivocation_error_round_trips_through_codes() -> None:
    err = error_from_code("equivocation", "two records", "equivocation")
    assert isinstance(err, Equivocation) and err.proof is None
    assert isinstance(error_from_code("stale-record", "old"), StaleRecord)


def test_equivocation_proof_refusals() -> None:
    a = rec(seq=4, value=b"a")
    b = rec(seq=4, value=b"b")
    c = rec(seq=5, value=b"c")
    other_url = sign_record(KEY, urls.make_url(KEY.authority, "x"), seq=4, value=b"a", created=1000)
    for x, y in ((a, a), (a, c), (a, other_url)):
        with pytest.raises(InvalidRecord) as e:
            EquivocationProof(x, y).verify()
        assert e.value.reason == "not-equivocation"
    forged = Record(b.url, b.seq, b.created, b.value, b.refs, b.expires, bytes(64))
    with pytest.raises(InvalidSignature):
        EquivocationProof(a, forged).verify()
    # expired records still prove equivocation
    EquivocationProof(rec(seq=6, value=b"1", expires=1001), rec(seq=6, value=b"2")).verify()


def test_equivocation_proof_decode_refusals() -> None:
    a, b = sorted([rec(seq=4, value=b"a").encode(), rec(seq=4, value=b"b").encode()])
    for bad in ([b, a], [a, a], [a], [a, b, b], {"a": a}, [a, 1]):
        with pytest.raises(NoteError):
            EquivocationProof.decode(encoding.encode(bad))
    EquivocationProof.decode(encoding.encode([a, b])).verify()


@settings(max_examples=200)
@given(st.data())
def test_tampered_equivocation_proof_is_refused(data: st.DataObject) -> None:
    enc = bytearray(EquivocationProof(rec(seq=4, value=b"a"), rec(seq=4, value=b"b")).encode())
    bit = data.draw(st.integers(0, len(enc) * 8 - 1))
    enc[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(NoteError):
        EquivocationProof.decode(bytes(enc)).verify()


def test_replace_does_not_reuse_the_signed_body() -> None:
    import dataclasses

    r = Record.decode(rec(seq=1).encode())
    changed = dataclasses.replace(r, seq=2)
    assert changed.body() != r.body()
    with pytest.raises(InvalidSignature):
        verify_record(changed)


@settings(max_examples=100)
@given(
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**40),
    st.one_of(st.binary(max_size=300), st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=5)),
    st.none() | st.integers(0, 2**20),
)
def test_body_from_wire_matches_fresh_encoding(seq: int, created: int, payload: object, extra: int | None) -> None:
    kw: dict[str, object] = {"value": payload} if isinstance(payload, bytes) else {"value": None, "refs": payload}
    expires = None if extra is None else created + extra
    r = sign_record(KEY, URL, seq=seq, created=created, expires=expires, **kw)  # type: ignore[arg-type]
    back = Record.decode(r.encode())
    fresh = Record(back.url, back.seq, back.created, back.value, back.refs, back.expires, back.signature)
    assert back.body() == fresh.body() == r.body()
    verify_record(back)


def test_sign_accepts_bytes_like_values() -> None:
    r = sign_record(KEY, URL, seq=1, value=bytearray(b"abc"), created=0)
    assert r.value == b"abc" and type(r.value) is bytes
    r = sign_record(KEY, URL, seq=1, refs=[memoryview(bytes(32))], created=0)
    assert r.refs == (bytes(32),)
    verify_record(r)


def test_record_constructor_refuses_non_normal_urls() -> None:
    r = rec()
    with pytest.raises(InvalidRecord) as e:
        Record(URL + "/", r.seq, r.created, r.value, r.refs, r.expires, r.signature)
    assert e.value.reason == "url"
    with pytest.raises(InvalidRecord):
        Record(None, r.seq, r.created, r.value, r.refs, r.expires, r.signature)  # type: ignore[arg-type]
    with pytest.raises(InvalidRecord):
        Record(URL, r.seq, r.created, r.value, [bytes(32)], r.expires, r.signature)  # type: ignore[arg-type]


@settings(max_examples=100)
@given(st.integers(0, 3), st.binary(max_size=2), st.integers(0, 3), st.binary(max_size=2))
def test_select_property(seq_a: int, val_a: bytes, seq_b: int, val_b: bytes) -> None:
    a, b = rec(seq=seq_a, value=val_a), rec(seq=seq_b, value=val_b)
    if seq_b > seq_a:
        assert select(a, b) is b
    elif seq_b < seq_a:
        with pytest.raises(StaleRecord):
            select(a, b)
    elif val_a == val_b:
        assert select(a, b) is a
    else:
        with pytest.raises(Equivocation) as e1:
            select(a, b)
        with pytest.raises(Equivocation) as e2:
            select(b, a)
        assert e1.value.proof.encode() == e2.value.proof.encode()  # type: ignore[union-attr]
