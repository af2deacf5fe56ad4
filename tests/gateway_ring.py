"""An in-memory ring for gateway tests: stores what a Client stores, verifies what a Client verifies."""

from __future__ import annotations

import hashlib
import time

from note_compute import blobs, records, urls
from note_compute.errors import InvalidRecord, NotFound, PeerUnreachable


class MemoryRing:
    """put/get of records and content-addressed values, with the Client's checks on the way out."""

    def __init__(self) -> None:
        self.records: dict[bytes, bytes] = {}
        self.values: dict[bytes, bytes] = {}
        self.gets = 0
        self.direct_gets = 0
        self.down = False
        self.tamper: set[bytes] = set()

    async def put_record(self, record: records.Record) -> int:
        records.verify_record(record)
        old = self.records.get(record.address)
        if old is not None:
            records.select(records.Record.decode(old), record)
        self.records[record.address] = record.encode()
        return 3

    async def get_record(self, url: str, *, direct: bool = False) -> records.Record:
        self.gets += 1
        self.direct_gets += direct
        if self.down:
            raise PeerUnreachable("ring down", reason="test")
        data = self.records.get(urls.address(url))
        if data is None:
            raise NotFound(f"no replica holds {url}", reason="missing")
        rec = records.decode_verified(data, now=int(time.time()))
        if rec.url != urls.normalize(url):
            raise InvalidRecord("peer returned a record for another URL", reason="address-mismatch")
        return rec

    async def put_value(self, data: bytes) -> bytes:
        addr = hashlib.sha256(data).digest()
        self.values[addr] = data
        return addr

    async def get_value(self, address: bytes, *, prefer: int = 0, direct: bool = False) -> bytes:
        self.gets += 1
        if self.down:
            raise PeerUnreachable("ring down", reason="test")
        data = self.values.get(address)
        if data is None:
            raise NotFound("no replica holds the value", reason="missing")
        if address in self.tamper:
            data = data[:-1] + bytes([data[-1] ^ 1])
        blobs.verify_chunk(address, data)
        return data

    async def put_blob(self, data: bytes, media_type: str = blobs.DEFAULT_MEDIA_TYPE) -> bytes:
        manifest, chunks = blobs.split_blob(data, media_type)
        for c in chunks:
            await self.put_value(c)
        return await self.put_value(manifest.encode())

    async def get_blob(self, address: bytes) -> bytes:
        manifest = blobs.BlobManifest.decode(await self.get_value(address))
        if manifest.address != address:
            raise InvalidRecord("manifest does not hash to the blob address", reason="hash")
        return blobs.join_blob(manifest, [await self.get_value(c) for c in manifest.chunks])
