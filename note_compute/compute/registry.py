"""Publishing and consulting fraud proofs in the ring with the existing store rules.

A reporter stores each fraud proof as a content-addressed blob and keeps an
index record, signed with its own key, at
``note://REPORTER/fraud/<accused node id, hex>`` whose value is
``encode({"type": "fraud-index", "peer": bytes32, "proofs": [blob address, ...]})``.
A client consults the indexes of the reporters it trusts (its own key
first) before choosing peers, and, with ``verify=True``, re-checks each
proof before believing it. (A global index keyed by the accused peer's id
alone needs a new store rule; see ``specs/compute.md`` section 5.)
"""

from __future__ import annotations

import time
from typing import Any, Callable

from .. import encoding
from ..crypto import SigningKey
from ..errors import InvalidEncoding, NoteError, NotFound
from ..records import sign_record
from .fraud import FraudProof

__all__ = ["RingFraudRegistry", "fraud_index_url"]


def fraud_index_url(reporter: str, peer_id: bytes) -> str:
    """Where ``reporter`` indexes its fraud proofs against ``peer_id``."""
    return f"note://{reporter}/fraud/{peer_id.hex()}"


def _proofs_of(value: bytes | None) -> list[bytes]:
    try:
        v = encoding.decode(value or b"")
    except InvalidEncoding:
        return []
    if not isinstance(v, dict) or v.get("type") != "fraud-index" or not isinstance(v.get("proofs"), list):
        return []
    return [a for a in v["proofs"] if type(a) is bytes and len(a) == 32]


class RingFraudRegistry:
    """``publish(proof)`` / ``lookup(peer_id)`` over a ring client (see the module docstring)."""

    def __init__(self, client: Any, key: SigningKey, *, trusted: list[str] | None = None,
                 check: Callable[[FraudProof], Any] | None = None) -> None:
        self.client = client
        self.key = key
        self.trusted = [key.authority] + [a for a in (trusted or []) if a != key.authority]
        self.check = check

    async def publish(self, proof: FraudProof) -> bytes:
        """Store the proof and add it to this reporter's index; returns the proof's blob address."""
        addr = await self.client.put_blob(proof.encode())
        url = fraud_index_url(self.key.authority, proof.peer)
        try:
            prev = await self.client.get_record(url)
            seq, proofs = prev.seq, _proofs_of(prev.value)
        except NotFound:
            seq, proofs = 0, []
        if addr not in proofs:
            proofs.append(addr)
            now_ms = int(time.time() * 1000)
            value = encoding.encode({"type": "fraud-index", "peer": proof.peer, "proofs": proofs[-64:]})
            await self.client.put_record(sign_record(self.key, url, seq=max(seq + 1, now_ms), value=value,
                                                     created=now_ms // 1000))
        return addr

    async def lookup(self, peer_id: bytes) -> list[FraudProof]:
        """Fraud proofs against ``peer_id`` from trusted reporters (checked with ``check`` if given)."""
        found: list[FraudProof] = []
        for reporter in self.trusted:
            try:
                record = await self.client.get_record(fraud_index_url(reporter, peer_id))
            except NotFound:
                continue
            for addr in _proofs_of(record.value):
                try:
                    proof = FraudProof.decode(await self.client.get_blob(addr))
                    if proof.peer != peer_id:
                        continue
                    if self.check is not None:
                        self.check(proof)
                    found.append(proof)
                except NoteError:
                    continue
        return found
