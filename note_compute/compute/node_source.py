"""Serving compute queries from a real node: ring access through the node itself.

:func:`attach_compute` builds a :class:`~.server.ComputeServer` whose source
reads records and blobs through the node: its own store first, then the
replicas found by ``node.lookup`` (``store.get`` requests). Everything read
is verified (records by signature, freshest seq wins; blob chunks by hash;
shards against the manifest root, sort order and declared bounds:
:mod:`.wellformed`) before the server uses it.

It also makes the node *convict* fraud evidence before storing it
(:func:`evidence_verifier`, installed as the storage service's
``evidence_verifier``): each new proof's program binary is fetched by its
hash, the shard a ``range`` or ``shard`` proof names by its blob address,
and the proof is re-run with :func:`~.fraud.verify_fraud_proof`, so only
proofs that convict enter the evidence index (``specs/compute.md`` 5.1).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio

from .. import blobs, records, urls
from ..errors import Equivocation, InvalidRecord, NoteError, NotFound, StaleRecord
from .dataset import decode_shard
from .fault_index import is_fault
from .fraud import FraudProof, shard_needed, verify_fraud_proof
from .prefetch import OP_PREPARE, Prefetcher
from .protocol import Receipt
from .scheduler import FairScheduler
from .server import ComputeServer, LoadedShard
from .source import RingSource

__all__ = ["NodeRingAccess", "attach_compute", "evidence_verifier"]


class NodeRingAccess:
    """``get_record`` / ``get_blob`` for a node (local store, then its replicas)."""

    def __init__(self, node: Any, *, timeout: float = 3.0) -> None:
        self.node = node
        self.timeout = timeout

    async def _entries(self, key: bytes, want: str, *, first: bool) -> list[bytes]:
        from ..wire.storage import get_msg, parse_get_reply

        found: list[bytes] = []
        try:
            e = self.node.store.get(key)
            if e.kind == want:
                found.append(e.data)
                if first:
                    return found
        except NoteError:
            pass
        known = self.node.core.replica_set(key)  # our neighbourhood shows it: no lookup round trips
        peers = [p for p in (known or await self.node.lookup(key)) if p.id_bytes != self.node.node_id]

        async def one(peer: Any) -> None:
            try:
                kind, data = parse_get_reply(await self.node.request(peer, get_msg(key), self.timeout), key)
                if kind == want:
                    found.append(data)
            except NoteError:
                pass

        if first:  # content-addressed: any one replica will do; ask them in turn
            for p in peers:
                await one(p)
                if found:
                    break
            return found
        async with trio.open_nursery() as nursery:  # records: the freshest among all replicas
            for p in peers:
                nursery.start_soon(one, p)
        return found

    async def get_record(self, url: str) -> records.Record:
        url = urls.normalize(url)
        best = None
        for data in await self._entries(urls.address(url), "record", first=False):
            try:
                rec = records.decode_verified(data, now=int(time.time()))
            except NoteError:
                continue
            if rec.url != url:
                continue
            try:
                best = records.select(best, rec)
            except (StaleRecord, Equivocation):
                pass
        if best is None:
            raise NotFound(f"no replica holds {url}", reason="no-entry")
        return best

    async def get_value(self, address: bytes) -> bytes:
        for data in await self._entries(address, "value", first=True):
            try:
                blobs.verify_chunk(address, data)
                return data
            except NoteError:
                continue
        raise NotFound(f"no replica holds value {address.hex()[:16]}", reason="no-entry")

    async def get_blob(self, address: bytes, *, max_size: int | None = None) -> bytes:
        """The blob at ``address`` (every chunk hash-checked); ``max_size``: refuse a larger one, reason
        ``too-large``, before fetching any chunk (its manifest, at the address, declares the size)."""
        manifest = blobs.BlobManifest.decode(await self.get_value(address))
        if manifest.address != address:
            raise InvalidRecord("manifest does not hash to the blob address", reason="hash")
        if max_size is not None and manifest.size > max_size:
            raise InvalidRecord(f"blob is {manifest.size} bytes, over the {max_size}-byte cap", reason="too-large")
        chunks = [await self.get_value(c) for c in manifest.chunks]  # shards are one or two chunks
        return blobs.join_blob(manifest, chunks)


def evidence_verifier(access: NodeRingAccess, sandbox: Any,
                      offload: Callable[[Any], Awaitable[Any]]) -> Callable[[bytes, list[bytes]], Awaitable[None]]:
    """``await verify(key, proofs)``: convict every encoded proof (already past the cheap check) or raise.

    The program binary is the content-addressed chunk at the receipt's
    ``program`` hash (binaries up to one blob chunk, 256 KiB); if no replica
    holds it, raises NotFound (reason ``program-binary``): an unconvicted
    proof is never stored. A proof that does not convict raises
    InvalidProof (reason ``not-fraud``). Programs run in ``offload`` (a
    worker thread).
    """

    async def verify(key: bytes, proofs: list[bytes]) -> None:
        binaries: dict[bytes, bytes] = {}
        for data in proofs:
            if is_fault(data):  # an indexed publisher fault: checked in full by the cheap check, nobody to convict
                continue
            proof = FraudProof.decode(data)
            program = Receipt.decode(proof.receipt)["program"]
            if program not in binaries:
                try:
                    binaries[program] = await access.get_value(program)
                except NotFound as exc:
                    raise NotFound(f"cannot convict: no replica holds the program binary {program.hex()[:16]} "
                                   "as one chunk (binaries over 256 KiB are not checked by nodes)",
                                   reason="program-binary") from exc
            shard = None
            blob = shard_needed(proof)
            if blob is not None:  # re-run on the whole shard the proof names (hash-checked by verify)
                try:
                    shard = decode_shard(await access.get_blob(blob))
                except NotFound as exc:
                    raise NotFound(f"cannot convict: no replica holds the shard blob {blob.hex()[:16]} the "
                                   "proof re-runs on", reason="shard-blob") from exc
            await offload(functools.partial(verify_fraud_proof, proof, sandbox, binaries[program], shard=shard))

    return verify


def attach_compute(node: Any, *, sandbox: Any = None, cache_dir: Path | None = None,
                   prefetch: bool = True) -> ComputeServer:
    """Serve ``compute.query`` and ``compute.records`` on ``node``; returns the server.

    Also installs :func:`evidence_verifier` on the node's storage service and, with ``prefetch``, the shard
    prefetch (:mod:`.prefetch`: shards loaded when a dataset manifest lands; ``compute.prepare`` served;
    ``server.prefetcher``). The node must have started (its nursery runs the prefetch).
    """
    if sandbox is None:
        from ..sandbox import Sandbox

        sandbox = Sandbox(cache_dir)
    # Programs run in worker threads (one per core), fairly across requesting peers.
    scheduler = FairScheduler()
    access = NodeRingAccess(node)
    checks = trio.CapacityLimiter(1)  # shard checks: one worker thread, apart from the programs' workers

    async def check_off_loop(fn: Callable[[], LoadedShard]) -> LoadedShard:
        # abandon_on_cancel: a cancelled prefetch does not wait for the check (mypy misreads the Unpack signature)
        return await trio.to_thread.run_sync(fn, limiter=checks, abandon_on_cancel=True)  # type: ignore[call-arg]

    source = RingSource(access, offload=check_off_loop)
    server = ComputeServer(node.signing_key, sandbox, source, scheduler=scheduler)
    server.register(node)
    node.storage.evidence_verifier = evidence_verifier(access, sandbox, scheduler.offload)
    if prefetch:
        server.prefetcher = Prefetcher(node, source)
        node.register_handler(OP_PREPARE, server.prefetcher.handle)
        node.storage.on_stored = server.prefetcher.record_stored
        node.spawn(server.prefetcher.run)
    return server
