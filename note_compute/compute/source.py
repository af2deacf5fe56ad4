"""Loading verified programs, manifests and shards through a ring client.

:class:`RingSource` works over anything with the agreed ``Client`` methods
``get_record(url)`` (verified, freshest) and ``get_blob(address)`` (verified
against its hashes): the real libp2p client or the in-memory test ring. It
caches by content (manifest by URL and seq, program by URL and binary hash, shard by root),
so a peer pays the fetch and the Merkle build once per shard.

A node's source also checks shards off the event loop (``offload``: the
well-formedness check is pure-Python CPU, ~60 ms for a 240 KiB shard) and
loads each shard once at a time: a query that asks for a shard a prefetch
(:mod:`.prefetch`) is loading waits for that load instead of starting its own.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from .. import programs, urls
from ..errors import InvalidRecord, NotFound, RemoteProtocolError
from ..records import Record
from .dataset import Manifest, encode_shard, parse_manifest, shard_table_value
from .hints import seq_mismatch
from .server import LoadedShard, ProgramCode, load_shard
from .wellformed import MalformedDataset

__all__ = ["RingSource", "manifest_from_record", "DATASETS_PREFIX"]

DATASETS_PREFIX = "/datasets/"
MAX_PROGRAM_CACHE_BYTES = 64 * 1024 * 1024
"""Wasm bytes of verified programs a source keeps (least recently used dropped first)."""


def manifest_from_record(record: Record, table: bytes | None = None) -> Manifest:
    """Parse the dataset manifest a (signature-checked) record carries; raises InvalidRecord."""
    if not urls.parse(record.url).path.startswith(DATASETS_PREFIX):
        raise InvalidRecord(f"{record.url} is not under {DATASETS_PREFIX}", reason="not-dataset")
    if record.value is None:
        raise InvalidRecord("dataset record has no inline value", reason="not-dataset")
    m = parse_manifest(record.value, table=table, url=record.url, seq=record.seq)
    return dataclasses.replace(m, record=record.encode(), table_data=table)


class RingSource:
    """A :class:`~.server.ComputeSource` (and client-side resolver) over a ring client."""

    def __init__(self, client: Any, *, max_shards: int = 256,
                 offload: Callable[[Callable[[], LoadedShard]], Awaitable[LoadedShard]] | None = None) -> None:
        """``offload(fn)`` runs a shard's decode and well-formedness check (a node passes a worker-thread
        runner so the check never stalls its event loop); None runs it inline."""
        self.client = client
        self.max_shards = max_shards
        self.offload = offload
        self._loading: dict[tuple[bytes, int], trio.Event] = {}
        self._manifests: dict[tuple[str, int], Manifest] = {}
        # Keyed by (program URL, binary hash): fuel and limits come from the record asked for,
        # never from another authority's record for the same binary. Bounded by wasm bytes.
        self._programs: OrderedDict[tuple[str, bytes], ProgramCode] = OrderedDict()
        self._program_bytes = 0
        self.max_program_bytes = MAX_PROGRAM_CACHE_BYTES
        self._shards: OrderedDict[tuple[bytes, int], LoadedShard] = OrderedDict()
        self._malformed: dict[tuple[str, int, int], MalformedDataset] = {}

    async def latest_manifest(self, url: str) -> Manifest:
        """The freshest manifest the ring returns for ``url`` (verified)."""
        url = urls.normalize(url)
        return await self.manifest_of_record(await self.client.get_record(url))

    async def manifest_of_record(self, record: Record) -> Manifest:
        """The manifest of a verified dataset record (the shard table fetched when not inline); cached."""
        key = (urls.normalize(record.url), record.seq)
        if key in self._manifests:
            return self._manifests[key]
        table = None
        if record.value is not None:
            addr = shard_table_value(record.value)
            if addr is not None:
                table = await self.client.get_blob(addr)
        m = manifest_from_record(record, table)
        self._manifests[key] = m
        return m

    async def manifest(self, url: str, seq: int) -> Manifest:
        try:
            url = urls.normalize(url)
        except Exception as exc:
            raise RemoteProtocolError(f"bad dataset URL: {exc}", reason="bad-request") from exc
        if (url, seq) in self._manifests:
            return self._manifests[(url, seq)]
        m = await self.latest_manifest(url)
        if m.seq != seq:  # newer: the refusal carries the signed record (a self-proving hint)
            raise seq_mismatch(url, m, seq)
        return m

    async def program(self, url: str, program_hash: bytes) -> ProgramCode:
        try:
            url = urls.normalize(url)
        except Exception as exc:
            raise RemoteProtocolError(f"bad program URL: {exc}", reason="bad-request") from exc
        hit = self._programs.get((url, program_hash))
        if hit is not None:
            self._programs.move_to_end((url, program_hash))
            return hit
        record = await self.client.get_record(url)
        prog = programs.parse_program(record)
        if prog.wasm != program_hash:
            raise RemoteProtocolError("the program record names another binary than the request pins",
                                      reason="program-hash")
        wasm = await self.client.get_blob(prog.blob)
        programs.check_binary(prog, wasm)
        code = ProgramCode(record.url, prog.wasm, bytes(wasm), prog.fuel)
        self._programs[(url, program_hash)] = code
        self._program_bytes += len(code.wasm)
        while self._program_bytes > self.max_program_bytes and len(self._programs) > 1:
            _, old = self._programs.popitem(last=False)
            self._program_bytes -= len(old.wasm)
        return code

    def has_shard(self, manifest: Manifest, index: int) -> bool:
        """True when shard ``index`` of ``manifest`` is loaded, checked and indexed (no fetch needed)."""
        info = manifest.shards[index]
        return (info.root, info.count) in self._shards

    async def shard(self, manifest: Manifest, index: int, *, max_bytes: int | None = None) -> LoadedShard:
        """The checked, indexed shard ``index`` of ``manifest`` (fetched and checked once, then cached).

        ``max_bytes``: refuse (reason ``too-large``) a blob whose manifest declares more bytes, before any
        chunk is fetched (the prefetch's per-dataset and per-authority caps; needs a ``get_blob`` that takes
        ``max_size``, as :class:`~.node_source.NodeRingAccess` does).
        """
        if not 0 <= index < len(manifest.shards):
            raise NotFound(f"no shard {index}", reason="no-shard")
        info = manifest.shards[index]
        key = (info.root, info.count)
        where = (manifest.url, manifest.seq, index)
        while True:
            bad = self._malformed.get(where)
            if bad is not None:  # a malformed shard stays malformed: refuse without refetching
                raise bad
            if key in self._shards:
                self._shards.move_to_end(key)
                shard = self._shards[key]
                # Order was checked on load; the bounds are this manifest's own (another manifest may reuse it).
                lo, hi = manifest.shard_range_keys(index)
                if shard.keys and not (lo <= shard.keys[0] and shard.keys[-1] <= hi):
                    shard = load_shard(manifest, index, encode_shard(shard.records))  # raises with the fault proof
                if shard.index != index:
                    shard = LoadedShard(index, shard.root, shard.records, shard.tree, shard.keys)
                return shard
            pending = self._loading.get(key)
            if pending is None:
                break
            await pending.wait()  # loaded (cached above), malformed (refused above) or failed: load it ourselves
        done = self._loading[key] = trio.Event()
        try:
            if max_bytes is None:
                blob = await self.client.get_blob(info.blob)
            else:
                blob = await self.client.get_blob(info.blob, max_size=max_bytes)
            try:
                if self.offload is None:
                    shard = load_shard(manifest, index, blob)
                else:
                    shard = await self.offload(lambda: load_shard(manifest, index, blob))
            except MalformedDataset as exc:
                self._malformed[where] = exc
                while len(self._malformed) > self.max_shards:
                    self._malformed.pop(next(iter(self._malformed)))
                raise
            self._shards[key] = shard
            while len(self._shards) > self.max_shards:
                self._shards.popitem(last=False)
            return shard
        finally:
            del self._loading[key]
            done.set()
