"""specs/vectors/ed25519_edge.json: the Ed25519 verification rule (libsodium's), edge by edge.

Each vector is checked three ways on every run: note_compute's verifier gives
the ``expected`` answer, libsodium (PyNaCl) still answers what the file
records, and pyca/cryptography (OpenSSL) still answers what the file records,
so a disagreement between common libraries stays visible to implementers.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import nacl.bindings
import nacl.exceptions
import pytest
from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from note_compute import crypto
from note_compute.errors import InvalidSignature
from note_compute.records import Record, decode_verified, verify_record

VECTORS_DIR = Path(__file__).resolve().parents[1] / "specs" / "vectors"
DOC = json.loads((VECTORS_DIR / "ed25519_edge.json").read_text())
SIGS: list[dict[str, Any]] = DOC["signatures"]


def _bytes(v: dict[str, Any]) -> tuple[bytes, bytes, bytes]:
    return bytes.fromhex(v["public_key"]), bytes.fromhex(v["message"]), bytes.fromhex(v["signature"])


def _pynacl(pk: bytes, msg: bytes, sig: bytes) -> bool:
    try:
        nacl.bindings.crypto_sign_open(sig + msg, pk)
        return True
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError):
        return False


def _cryptography(pk: bytes, msg: bytes, sig: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(pk).verify(sig, msg)
        return True
    except (CryptoInvalidSignature, ValueError):
        return False


@pytest.mark.parametrize("vec", SIGS, ids=lambda v: v["name"][:48])
def test_note_verifier_gives_the_expected_answer(vec: dict[str, Any]) -> None:
    pk, msg, sig = _bytes(vec)
    if vec["expected"] == "accept":
        crypto.ed25519_verify(pk, msg, sig)
    else:
        assert vec["expected"] == "refuse"
        with pytest.raises(InvalidSignature):
            crypto.ed25519_verify(pk, msg, sig)


@pytest.mark.parametrize("vec", SIGS, ids=lambda v: v["name"][:48])
def test_recorded_library_answers_still_hold(vec: dict[str, Any]) -> None:
    pk, msg, sig = _bytes(vec)
    assert _pynacl(pk, msg, sig) == vec["pynacl"]
    assert _cryptography(pk, msg, sig) == vec["cryptography"]
    assert vec["expected"] == ("accept" if vec["pynacl"] else "refuse")


def test_every_rule_has_a_vector_and_the_libraries_disagree_somewhere() -> None:
    rules = {v["rule"] for v in SIGS}
    assert rules == {"valid", "small-order-A", "small-order-R", "non-canonical-S", "non-canonical-A",
                     "non-canonical-R", "cofactorless", "mixed-order-A"}
    # The point of the file: a publisher can make signatures OpenSSL accepts and the nodes refuse.
    assert any(v["cryptography"] and not v["pynacl"] for v in SIGS)
    # Eight distinct small-order public keys are covered.
    small = {v["public_key"] for v in SIGS if v["name"].startswith("small-order A: ")}
    assert len(small) == 8
    # Cofactored-only signatures exist in the file and are refused.
    assert any(v["cofactored"] and not v["cofactorless"] and v["expected"] == "refuse" for v in SIGS)


def test_forged_record_for_the_identity_authority_is_refused() -> None:
    vec = DOC["record"]
    data = bytes.fromhex(vec["encoded"])
    record = Record.decode(data)  # the schema is fine: only the signature rule refuses it
    assert record.url == vec["url"] and str(record.seq) == vec["fields"]["s"]
    assert vec["cofactorless"] and vec["cryptography"] and not vec["pynacl"] and vec["expected"] == "refuse"
    with pytest.raises(InvalidSignature):
        verify_record(record)
    with pytest.raises(InvalidSignature):
        decode_verified(data)


def test_generator_reproduces_the_committed_file() -> None:
    spec = importlib.util.spec_from_file_location("gen_ed25519_edge", VECTORS_DIR / "gen_ed25519_edge.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.render() == (VECTORS_DIR / "ed25519_edge.json").read_text()
