"""The ring client's evidence methods run on the rules it is handed (no compute inside the Client class)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from note_compute.client import Client
from note_compute.compute.ring_evidence import RING_EVIDENCE
from note_compute.crypto import SigningKey
from note_compute.errors import InvalidProof, InvalidRecord
from note_compute.ring.ids import PeerRef
from note_compute.testing.compute import signed_claim_proof


class NoHost:
    async def request(self, peer: PeerRef, msg: dict[str, Any], timeout: float) -> dict[str, Any]:
        raise AssertionError("nothing may be sent")


class Rules:
    """A stand-in policy: records what the client asked of it."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def evidence_key(self, peer_id: bytes) -> bytes:
        self.calls.append("evidence_key")
        return bytes(32)

    def fault_key(self, fault: bytes) -> bytes:
        return bytes(32)

    def faults_key(self, dataset_url: str) -> bytes:
        return bytes(32)

    def validate_entry(self, key: bytes, data: bytes) -> list[bytes]:
        self.calls.append("validate_entry")
        raise InvalidProof("refused by the rules", reason="not-fraud")

    def encode_set(self, items: Iterable[bytes]) -> bytes:
        self.calls.append("encode_set")
        return b"".join(items)

    def union(self, *sets: Iterable[bytes]) -> list[bytes]:
        return []


async def test_without_rules_the_evidence_methods_refuse() -> None:
    client = Client(NoHost(), [])
    for call in (client.put_evidence(bytes(32), b"p"), client.get_evidence(bytes(32)),
                 client.put_publisher_fault(b"f"), client.get_publisher_faults("note://x/y")):
        with pytest.raises(InvalidRecord) as err:
            await call
        assert err.value.reason == "no-evidence-policy"


async def test_the_handed_rules_check_before_anything_is_sent() -> None:
    rules = Rules()
    client = Client(NoHost(), [], evidence=rules)
    with pytest.raises(InvalidProof):
        await client.put_evidence(bytes(32), b"proof")
    assert rules.calls == ["evidence_key", "encode_set", "validate_entry"]


async def test_the_compute_rules_refuse_a_proof_against_another_peer() -> None:
    client = Client(NoHost(), [], evidence=RING_EVIDENCE)
    proof = signed_claim_proof(SigningKey.generate(), 1)
    with pytest.raises(InvalidProof):
        await client.put_evidence(b"\x01" * 32, proof.encode())  # not the accused: refused before sending
