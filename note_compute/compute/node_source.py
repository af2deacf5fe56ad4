"""Serving compute queries from a real node: ring access through the node itself.

:func:`attach_compute` builds a :class:`~.server.ComputeServer` whose source
reads records and blobs through the node: its own store first, then the
replicas found by ``node.lookup`` (``store.get`` requests). Everything read
is verified (records by signature, freshest seq wins; blob chunks by hash;
shards against the manifest root) before the server uses it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import trio

from .. import blobs, records, urls
from ..errors import Equivocation, InvalidRecord, NoteError, NotFound, StaleRecord
from .server import ComputeServer
from .source import RingSource

__all__ = ["NodeRingAccess", "attach_compute"]


class NodeRingAccess:
    """``get_record`` / ``get_blob`` for a node (local store, then its replicas)."""

    def __init__(self, node: Any, *, timeout: float = 3.0) -> None:
        self.node = node
        self.timeout = timeout

    async def _entries(self, key: bytes, want: str, *, first: bool) -> list[bytes]:
        from ..node.storage import get_msg, parse_get_reply

        found: list[bytes] = []
        try:
            e = self.node.store.get(key)
            if e.kind == want:
                found.append(e.data)
                if first:
                    return found
        except NoteError:
            pass
        peers = [p for p in await self.node.lookup(key) if p.id_bytes != self.node.node_id]

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

    async def get_blob(self, address: bytes) -> bytes:
        manifest = blobs.BlobManifest.decode(await self.get_value(address))
        if manifest.address != address:
            raise InvalidRecord("manifest does not hash to the blob address", reason="hash")
        chunks = [await self.get_value(c) for c in manifest.chunks]  # shards are one or two chunks
        return blobs.join_blob(manifest, chunks)


def attach_compute(node: Any, *, sandbox: Any = None, cache_dir: Path | None = None) -> ComputeServer:
    """Serve ``compute.query`` and ``compute.records`` on ``node``; returns the server."""
    if sandbox is None:
        from ..sandbox import Sandbox

        sandbox = Sandbox(cache_dir)
    limiter = trio.CapacityLimiter(1)  # one program at a time per node, off the event loop

    async def offload(run: Any) -> Any:
        return await trio.to_thread.run_sync(run, limiter=limiter)

    server = ComputeServer(node.signing_key, sandbox, RingSource(NodeRingAccess(node)), offload=offload)
    server.register(node)
    return server
