"""The compute layer's evidence rules, as the policy the ring client is handed (pure).

The ring client (:mod:`note_compute.client`) stores and reads evidence sets
without knowing what a fraud proof or a publisher fault is, as the store
does (:class:`~note_compute.store.EvidencePolicy`): it is handed
:data:`RING_EVIDENCE` (``open_client`` passes it by default), which keys,
checks and unites sets with :mod:`.evidence` and :mod:`.fault_index`.
"""

from __future__ import annotations

from collections.abc import Iterable

from . import evidence, fault_index
from .wellformed import PublisherFault

__all__ = ["RingEvidence", "RING_EVIDENCE"]


class RingEvidence:
    """Implements :class:`note_compute.client.EvidenceIndex` with the compute layer's rules."""

    def evidence_key(self, peer_id: bytes) -> bytes:
        return evidence.evidence_key(peer_id)

    def fault_key(self, fault: bytes) -> bytes:
        return fault_index.fault_key(PublisherFault.decode(fault).url)

    def faults_key(self, dataset_url: str) -> bytes:
        return fault_index.fault_key(dataset_url)

    def validate_entry(self, key: bytes, data: bytes) -> list[bytes]:
        return evidence.validate_entry(key, data)

    def encode_set(self, items: Iterable[bytes]) -> bytes:
        return evidence.encode_set(items)

    def union(self, *sets: Iterable[bytes]) -> list[bytes]:
        return evidence.union(*sets)


RING_EVIDENCE = RingEvidence()
"""What ``open_client`` hands the ring client when it is given no evidence rules."""
