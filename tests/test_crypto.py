"""crypto: RFC 8032 vectors through the project's API, domain separation, authorities."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from note_compute import crypto, domains
from note_compute.crypto import SigningKey
from note_compute.errors import InvalidSignature

VECTORS = json.loads((Path(__file__).parent.parent / "specs" / "vectors" / "rfc8032_ed25519.json").read_text())


def test_vector_file_has_the_five_rfc_tests() -> None:
    assert [v["name"] for v in VECTORS["vectors"]] == ["TEST 1", "TEST 2", "TEST 3", "TEST 1024", "TEST SHA(abc)"]
    assert "RFC 8032" in VECTORS["_provenance"]["source"]
    assert len(bytes.fromhex(VECTORS["vectors"][3]["message"])) == 1023


@pytest.mark.parametrize("vec", VECTORS["vectors"], ids=lambda v: v["name"])
def test_rfc8032_vector(vec: dict[str, str]) -> None:
    seed, pk, msg, sig = (bytes.fromhex(vec[k]) for k in ("secret_key", "public_key", "message", "signature"))
    assert SigningKey(seed).public_key == pk
    assert crypto.ed25519_sign(seed, msg) == sig
    crypto.ed25519_verify(pk, msg, sig)  # raises if wrong
    bad = bytearray(sig)
    bad[0] ^= 1
    with pytest.raises(InvalidSignature):
        crypto.ed25519_verify(pk, msg, bytes(bad))
    with pytest.raises(InvalidSignature):
        crypto.ed25519_verify(pk, msg + b"x", sig)


def test_domain_signature_is_not_a_raw_signature() -> None:
    key = SigningKey(bytes(range(32)))
    sig = key.sign(domains.SIG_RECORD, b"hello")
    crypto.verify(domains.SIG_RECORD, key.public_key, b"hello", sig)
    with pytest.raises(InvalidSignature):
        crypto.ed25519_verify(key.public_key, b"hello", sig)
    with pytest.raises(InvalidSignature):
        crypto.verify(domains.SIG_RECEIPT, key.public_key, b"hello", sig)
    assert sig == crypto.ed25519_sign(key.seed, domains.SIG_RECORD + b"hello")


def test_unknown_domain_is_a_programming_error() -> None:
    key = SigningKey(bytes(32))
    with pytest.raises(ValueError):
        key.sign(b"made-up\x00", b"x")
    with pytest.raises(ValueError):
        crypto.domain_hash(b"made-up\x00", b"x")


def test_domains_are_prefix_free() -> None:
    prefixes = list(domains.SIGNATURE_DOMAINS) + list(domains.HASH_DOMAINS)
    assert len(set(prefixes)) == len(prefixes)
    for a in prefixes:
        assert a.endswith(b"\x00") and a.count(b"\x00") == 1
        for b in prefixes:
            if a != b:
                assert not b.startswith(a)


def test_domain_hash() -> None:
    assert crypto.domain_hash(domains.HASH_ARGS, b"x") == crypto.sha256(domains.HASH_ARGS + b"x")
    assert crypto.domain_hash(domains.HASH_ARGS, b"x") != crypto.domain_hash(domains.HASH_RESULT, b"x")


@pytest.mark.parametrize(
    "pk,sig",
    [(b"\x00" * 31, b"\x00" * 64), (b"\x00" * 32, b"\x00" * 63), (b"\x01" + b"\x00" * 31, b"\x00" * 64)],
)
def test_verify_bad_lengths_and_small_order_keys(pk: bytes, sig: bytes) -> None:
    with pytest.raises(InvalidSignature):
        crypto.ed25519_verify(pk, b"m", sig)


@settings(max_examples=200)
@given(st.binary(min_size=32, max_size=32))
def test_authority_round_trip(pk: bytes) -> None:
    a = crypto.authority_of(pk)
    assert len(a) == crypto.AUTHORITY_LENGTH and a == a.lower()
    assert crypto.public_key_of_authority(a) == pk


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "a" * 51,
        "a" * 53,
        crypto.authority_of(bytes(32)).upper(),
        "1" * 52,  # not base32
        "a" * 51 + "b",  # last character carries non-zero padding bits
        "é" * 52,
    ],
)
def test_authority_refusals(bad: str) -> None:
    with pytest.raises(ValueError):
        crypto.public_key_of_authority(bad)


def test_signing_key_checks_seed_and_hides_it() -> None:
    with pytest.raises(ValueError):
        SigningKey(b"short")
    k = SigningKey(bytes(32))
    assert k.seed.hex() not in repr(k)
    assert SigningKey.generate().public_key != SigningKey.generate().public_key


def test_verify_accepts_bytes_like_and_refuses_other_types() -> None:
    key = SigningKey(bytes(32))
    sig = crypto.ed25519_sign(key.seed, b"m")
    crypto.ed25519_verify(bytearray(key.public_key), b"m", memoryview(sig))
    crypto.ed25519_verify(key.public_key, bytearray(b"m"), sig)
    with pytest.raises(InvalidSignature) as e:
        crypto.ed25519_verify(key.public_key.hex(), b"m", sig)  # type: ignore[arg-type]
    assert e.value.reason == "type"
