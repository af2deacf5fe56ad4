"""Publishing and consulting fraud proofs in the ring, under the accused peer's id.

Every proof against a peer goes to one ring-wide entry, kind ``"evidence"``
at ``SHA-256(FRAUD_INDEX || peer id)`` (:mod:`.evidence`, ``specs/compute.md``
section 5): the replicas check each proof cheaply (it accuses that peer with
a receipt the peer signed) and merge it into the set they hold, so any client
finds every reporter's proofs with one lookup, trusting no reporter. Nodes
that run compute also convict each new proof before storing it
(:func:`.node_source.evidence_verifier`); others do not, so a client still verifies a proof
(:func:`.fraud.verify_fraud_proof`) before believing it; pass ``check`` to
have :meth:`RingFraudRegistry.lookup` drop the proofs it refuses.
(:class:`~.client.ComputeClient` verifies what ``lookup`` returns itself.)

Publisher faults (:mod:`.fault_index`) go the same way under their dataset:
:meth:`RingFraudRegistry.publish_fault` / :meth:`RingFraudRegistry.lookup_faults`
(over ``put_publisher_fault`` / ``get_publisher_faults``; a client without
them indexes nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import NoteError
from .fraud import FraudProof

__all__ = ["RingFraudRegistry"]


class RingFraudRegistry:
    """``publish(proof)`` / ``lookup(peer_id)`` over a ring client with ``put_evidence`` / ``get_evidence``."""

    def __init__(self, client: Any, *, check: Callable[[FraudProof], Any] | None = None) -> None:
        self.client = client
        self.check = check

    async def publish(self, proof: FraudProof) -> bytes:
        """Store the proof under its accused peer's id; returns the proof's address (SHA-256)."""
        await self.client.put_evidence(proof.peer, proof.encode())
        return proof.address

    async def lookup(self, peer_id: bytes) -> list[FraudProof]:
        """Fraud proofs the ring holds against ``peer_id`` (those ``check`` refuses are dropped)."""
        found: list[FraudProof] = []
        for data in await self.client.get_evidence(peer_id):
            try:
                proof = FraudProof.decode(data)
                if proof.peer != peer_id:
                    continue
                if self.check is not None:
                    self.check(proof)
            except NoteError:
                continue
            found.append(proof)
        return found

    async def publish_fault(self, fault: bytes) -> None:
        """Index a verified publisher-fault proof under its dataset (a no-op on a client without the index)."""
        put = getattr(self.client, "put_publisher_fault", None)
        if put is not None:
            await put(fault)

    async def lookup_faults(self, dataset_url: str) -> list[bytes]:
        """The publisher-fault proofs indexed against ``dataset_url`` (unchecked: see ``fault_index.faults_for``)."""
        get = getattr(self.client, "get_publisher_faults", None)
        if get is None:
            return []
        found: list[bytes] = await get(dataset_url)
        return found
