"""The peer side of the compute protocol.

:func:`execute` is the core: given a parsed request, the program, the
manifest and the loaded shard, it runs the program in the sandbox and builds
the reply (records, proofs, signed receipt). It does no I/O, so tests call it
directly. :class:`ComputeServer` adds loading (through a :class:`ComputeSource`)
and turns every failure into a typed error reply; ``node.register_handler``
takes its :meth:`ComputeServer.handle`.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..crypto import SigningKey
from ..errors import InvalidRecord, NoteError, NotFound, RemoteProtocolError
from ..merkle import MerkleTree
from ..sandbox.abi import pack_input, unpack_output
from .dataset import Manifest, decode_shard
from .hints import SeqMismatch, seq_mismatch
from .keys import Key, normalize_bound
from .protocol import (
    OP_BATCH,
    OP_QUERY,
    OP_RECORDS,
    QueryRequest,
    RecordsRequest,
    error_reply,
    make_receipt,
    parse_batch,
    result_digest,
)
from .wellformed import MalformedDataset, check_shard

if TYPE_CHECKING:
    from .scheduler import FairScheduler

__all__ = ["ProgramCode", "LoadedShard", "ComputeSource", "ComputeServer", "execute", "serve_records",
           "load_shard", "range_span", "DEFAULT_DEADLINE_MS"]

DEFAULT_DEADLINE_MS = 2000


@dataclass(frozen=True)
class ProgramCode:
    """A verified program: its binary (hash checked) and the fuel budget from its signed record."""

    url: str
    hash: bytes
    wasm: bytes
    fuel: int


@dataclass
class LoadedShard:
    """A shard whose records were checked against the manifest's shard root."""

    index: int
    root: bytes
    records: list[bytes]
    tree: MerkleTree
    keys: list[Key]


def load_shard(manifest: Manifest, index: int, blob: bytes) -> LoadedShard:
    """Decode a shard blob and check it is well formed for ``manifest`` (:func:`.wellformed.check_shard`).

    Raises InvalidRecord (``shard-count``, ``shard-root``: not the shard) or
    :class:`~.wellformed.MalformedDataset` (``malformed-dataset``: the
    publisher's shard is malformed; a peer never serves or signs over it).
    """
    if not 0 <= index < len(manifest.shards):
        raise NotFound(f"dataset has {len(manifest.shards)} shards, no shard {index}", reason="no-shard")
    info = manifest.shards[index]
    records = decode_shard(blob, count=info.count)
    tree = MerkleTree(records)
    keys = check_shard(manifest, index, records, tree)
    return LoadedShard(index, info.root, records, tree, keys)


class ComputeSource(Protocol):
    """Where a peer gets verified programs, manifests and shards (ring, or memory in tests)."""

    async def manifest(self, url: str, seq: int) -> Manifest: ...

    async def program(self, url: str, program_hash: bytes) -> ProgramCode: ...

    async def shard(self, manifest: Manifest, index: int) -> LoadedShard: ...


def range_span(keys: list[Key], lo: Key, hi: Key) -> tuple[int, int]:
    """``[start, end)``: the leaves whose keys fall in ``[lo, hi)`` (keys sorted)."""
    start = bisect.bisect_left(keys, lo)
    end = max(start, bisect.bisect_left(keys, hi))
    return start, end


def execute(key: SigningKey, sandbox: Any, req: QueryRequest, program: ProgramCode, manifest: Manifest,
            shard: LoadedShard, *, deadline_ms: int = DEFAULT_DEADLINE_MS) -> dict[str, Any]:
    """Run ``program`` on the shard (or its key range) and build the signed reply."""
    if req.program_hash != program.hash:
        raise RemoteProtocolError("program hash does not match the program record", reason="program-hash")
    if req.seq != manifest.seq:
        raise seq_mismatch(req.dataset, manifest, req.seq)
    ranged = req.range is not None
    proof = None
    if ranged:
        assert req.range is not None
        try:
            lo = normalize_bound(req.range[0], manifest.sort_key, upper=False)
            hi = normalize_bound(req.range[1], manifest.sort_key, upper=True)
        except InvalidRecord as exc:
            raise RemoteProtocolError(f"bad range: {exc.message}", reason="bad-range") from exc
        if hi < lo:
            raise RemoteProtocolError("bad range: hi < lo", reason="bad-range")
        start, end = range_span(shard.keys, lo, hi)
        proof = shard.tree.key_range_proof(shard.keys, lo, hi)
    else:
        start, end = 0, len(shard.records)
    inputs = shard.records[start:end]
    result = sandbox.run(program.wasm, pack_input(req.args, inputs), fuel=program.fuel, deadline_ms=deadline_ms)
    rel, extra = unpack_output(result.output, len(inputs))
    indices = [start + i for i in rel]
    recs = [shard.records[i] for i in indices]
    receipt = make_receipt(key, req, shard_root=shard.root, count=len(shard.records),
                           sort_key=list(manifest.sort_key),
                           result=result_digest(indices, recs, extra), fuel=result.fuel_used)
    reply: dict[str, Any] = {"receipt": receipt.encode(), "indices": indices, "extra": extra}
    if req.qc:
        from .quorum import endorse

        reply["qc"] = endorse(key, receipt.body).to_value()
    if ranged:
        assert proof is not None
        reply["range_proof"] = proof.encode()
    else:
        reply["records"] = recs
        reply["proof"] = shard.tree.batch_proof(sorted(indices)).encode() if indices else b""
    return reply


def serve_records(req: RecordsRequest, manifest: Manifest, shard: LoadedShard) -> dict[str, Any]:
    """Answer a ``compute.records`` request: the records at ``indices`` and one batch proof."""
    if req.seq != manifest.seq:
        raise seq_mismatch(req.dataset, manifest, req.seq)
    n = len(shard.records)
    if any(i >= n for i in req.indices):
        raise RemoteProtocolError(f"shard has {n} records", reason="index-range")
    return {"records": [shard.records[i] for i in req.indices],
            "proof": shard.tree.batch_proof(sorted(req.indices)).encode()}


class ComputeServer:
    """Serves ``compute.query``, ``compute.batch`` and ``compute.records`` for one node.

    ``handle(sender, msg)`` never raises: every failure becomes an error
    reply ``{"error": {"code", "message", "reason"}}``.
    """

    def __init__(self, key: SigningKey, sandbox: Any, source: ComputeSource, *,
                 deadline_ms: int = DEFAULT_DEADLINE_MS,
                 offload: Callable[[Callable[[], dict[str, Any]]], Awaitable[dict[str, Any]]] | None = None,
                 scheduler: FairScheduler | None = None) -> None:
        """``offload(fn)`` runs the program off the event loop (a node passes a worker-thread runner,
        so a slow or hostile program never stalls its ring and storage RPCs); None runs inline.
        ``scheduler``, if given, runs programs instead, fairly across requesting peers (bounded queue
        per peer, round robin, an immediate ``busy`` error when a queue is full)."""
        self.offload = offload
        self.scheduler = scheduler
        self.key = key
        self.sandbox = sandbox
        self.source = source
        self.deadline_ms = deadline_ms
        self.node_id = hashlib.sha256(key.public_key).digest()
        self.served = 0
        self.prefetcher: Any = None
        """The node's :class:`~.prefetch.Prefetcher` when ``attach_compute`` installed one."""

    def register(self, node: Any) -> None:
        """Register both ops on a node runtime (``node.register_handler``)."""
        node.register_handler(OP_QUERY, self.handle)
        node.register_handler(OP_RECORDS, self.handle)
        node.register_handler(OP_BATCH, self.handle)

    async def handle(self, sender: Any, msg: Any) -> dict[str, Any]:
        try:
            op = msg.get("op") if isinstance(msg, dict) else None
            if op == OP_QUERY:
                return await self._query(QueryRequest.from_msg(msg), getattr(sender, "id", None))
            if op == OP_BATCH:
                return {"replies": [await self.handle(sender, q) for q in parse_batch(msg)]}
            if op == OP_RECORDS:
                req = RecordsRequest.from_msg(msg)
                manifest = await self.source.manifest(req.dataset, req.seq)
                if req.shard >= len(manifest.shards):
                    raise NotFound(f"no shard {req.shard}", reason="no-shard")
                shard = await self.source.shard(manifest, req.shard)
                return serve_records(req, manifest, shard)
            raise RemoteProtocolError(f"unknown op {op!r}", reason="unknown-op")
        except SeqMismatch as exc:  # holding a newer version: the signed record goes with the refusal
            reply = error_reply(exc)
            reply.update(exc.attached)
            return reply
        except MalformedDataset as exc:
            reply = error_reply(exc)
            if exc.fault is not None:  # the publisher's fault, provable by anyone: hand it to the client
                reply["fault"] = exc.fault.encode()
            return reply
        except NoteError as exc:
            return error_reply(exc)

    async def _query(self, req: QueryRequest, peer: Any = None) -> dict[str, Any]:
        manifest = await self.source.manifest(req.dataset, req.seq)
        if req.shard >= len(manifest.shards):
            raise NotFound(f"dataset has {len(manifest.shards)} shards, no shard {req.shard}", reason="no-shard")
        program = await self.source.program(req.program, req.program_hash)
        shard = await self.source.shard(manifest, req.shard)
        run = functools.partial(execute, self.key, self.sandbox, req, program, manifest, shard,
                                deadline_ms=self.deadline_ms)
        reply: dict[str, Any]
        if self.scheduler is not None:
            reply = await self.scheduler.run(peer, run)
        elif self.offload is not None:
            reply = await self.offload(run)
        else:
            reply = run()
        self.served += 1
        return reply
