"""The evidence merge rule, as a policy the store is handed (the store knows no fraud proofs).

Evidence entries (kind ``"evidence"``) are sets of encoded items under one
key. What an item must be, and how two sets combine, is the compute layer's
rule (``note_compute.compute.evidence.FRAUD_EVIDENCE``): the node hands it
to its :class:`~note_compute.store.Store`. A store without a policy refuses
every evidence write (reason ``no-evidence-policy``) rather than keep
unchecked bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

__all__ = ["EvidencePolicy"]


class EvidencePolicy(Protocol):
    """How an evidence set is checked, read, combined and written."""

    def validate_entry(self, key: bytes, data: bytes) -> list[bytes]:
        """The items of an incoming set, each checked against ``key``; raises a NoteError if any is bad."""
        ...

    def decode_set(self, data: bytes) -> list[bytes]:
        """The items of a stored set."""
        ...

    def merge(self, held: Iterable[bytes], *incoming: Iterable[bytes], replica: bool = False) -> list[bytes]:
        """The held set with the incoming ones merged in, by the policy's rule and cap.

        ``replica``: the incoming set is another replica's (anti-entropy), not a peer's put; the policy
        may give it more room so that replicas converge on the union of what each admitted."""
        ...

    def encode_set(self, proofs: Iterable[bytes]) -> bytes:
        """The stored form of a set."""
        ...
