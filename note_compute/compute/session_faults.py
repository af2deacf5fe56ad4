"""The session's handling of malformed datasets: a publisher's provable fault, never a peer's (pure).

A peer that loads a malformed shard refuses it (``malformed-dataset``) and,
in a ``compute.batch`` sub-reply, attaches the :class:`~.wellformed.PublisherFault`
(a single ``compute.query`` error reply reaches the session as a typed
error only). Either way the session checks for itself: it verifies an
attached proof (:meth:`PublisherFaults._publisher_fault`), or loads the
whole shard once (``LoadShard``) and runs :func:`~.wellformed.check_shard`
with its own manifest (:meth:`PublisherFaults._on_wellformed`). A verified
fault is reported (``Verification.publisher_faults`` and an error); nobody is
convicted. A refusal of a shard that turns out well formed is just a
failure to answer.
"""

from __future__ import annotations

from typing import Any

from ..errors import NoteError, RemoteProtocolError
from ..records import Record
from .dataset import Manifest, decode_shard
from .result import Verification
from .wellformed import (
    MalformedDataset,
    check_shard,
    fault_from_reply,
    verify_publisher_fault,
)

__all__ = ["PublisherFaults"]


class PublisherFaults:
    """Mixin for :class:`~.session.QuerySession` (uses its ``manifest`` and ``v``)."""

    manifest: Manifest
    v: Verification

    def _on_wellformed(self, shard: int, data: Any) -> None:
        """The whole shard a peer refused as malformed: check it with the manifest (a fault proof if so)."""
        info = self.manifest.shards[shard]
        if type(data) is not bytes:
            raise RemoteProtocolError("a shard blob is bytes", reason="bad-reply")
        records = decode_shard(data, root=info.root, count=info.count)
        try:
            check_shard(self.manifest, shard, records)
        except MalformedDataset as exc:
            if exc.fault is not None:
                self._publisher_fault({"fault": exc.fault.encode()})
            return
        self.v.failures.append(f"shard {shard}: a peer refused it as malformed, but it is well formed")

    def _publisher_fault(self, reply: Any) -> None:
        """A peer refused a malformed shard and attached the proof (``.wellformed``): check it, keep it."""
        fault = fault_from_reply(reply)
        if fault is None:
            return
        try:
            defect = verify_publisher_fault(fault)
            if Record.decode(fault.manifest).url != self.manifest.url:
                return
        except NoteError as exc:
            self.v.failures.append(f"a peer attached a publisher-fault proof that does not verify: {exc}")
            return
        entry = {"shard": str(fault.shard), "defect": defect, "proof": fault.encode().hex()}
        if all((f["shard"], f["defect"]) != (entry["shard"], defect) for f in self.v.publisher_faults):
            self.v.publisher_faults.append(entry)
            self.v.errors.append(f"shard {fault.shard} of the dataset is malformed by its publisher ({defect}); "
                                 "peers refuse to serve it and nobody is convicted")
