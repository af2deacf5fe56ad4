"""The client verifies what peers send: a lying peer cannot make it accept a forged record or blob."""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import replace
from typing import Any

import pytest

from note_compute import blobs, records, urls
from note_compute.client import Client, peer_ref_from_multiaddr
from note_compute.crypto import SigningKey
from note_compute.errors import InvalidRecord, InvalidSignature, InvalidURL, NotFound
from note_compute.net import open_host

pytestmark = pytest.mark.slow


class Liar:
    """A peer that claims every key and answers store.get from a table it controls."""

    def __init__(self) -> None:
        self.table: dict[bytes, tuple[str, bytes]] = {}
        self.me: Any = None

    async def handle(self, sender: Any, msg: dict[str, Any]) -> dict[str, Any]:
        op = msg["op"]
        if op == "ring.ping":
            return {"op": "ring.ping.reply", "id": self.me.id_bytes}
        if op == "ring.find":
            return {"op": "ring.find.reply", "successors": [self.me.to_wire()], "closer": []}
        if op == "store.get":
            if msg["key"] not in self.table:
                raise NotFound("nothing here")
            kind, data = self.table[msg["key"]]
            return {"op": "store.get.reply", "kind": kind, "data": data}
        if op == "store.put":
            return {"op": "store.put.reply", "result": "stored"}
        raise NotFound(op)


async def test_client_refuses_forged_and_mismatched_answers() -> None:
    liar = Liar()
    key = SigningKey.generate()
    url = urls.make_url(key.authority, "/doc")
    good = records.sign_record(key, url, seq=3, value=b"truth", created=int(time.time()))
    async with open_host(os.urandom(32), ["/ip4/127.0.0.1/tcp/0"], handler=liar.handle) as lh, \
            open_host(os.urandom(32), ["/ip4/127.0.0.1/tcp/0"]) as ch:
        liar.me = lh.peer_ref
        client = Client(ch, [lh.peer_ref])

        # A forged signature over the right URL.
        forged = replace(
            good, value=b"lies", signature=SigningKey.generate().sign(b"note-compute/v1/record\x00", good.body())
        )
        liar.table[good.address] = ("record", forged.encode())
        with pytest.raises(InvalidSignature):
            await client.get_record(url)
        # A valid record, but for another URL than the one asked for.
        other = records.sign_record(key, urls.make_url(key.authority, "/other"), seq=1, value=b"x", created=1)
        liar.table[good.address] = ("record", other.encode())
        with pytest.raises(InvalidRecord) as ei:
            await client.get_record(url)
        assert ei.value.reason == "address-mismatch"
        # A value where a record was expected.
        liar.table[good.address] = ("value", b"\x00" * 10)
        with pytest.raises(InvalidRecord):
            await client.get_record(url)
        # The genuine record is accepted.
        liar.table[good.address] = ("record", good.encode())
        assert await client.get_record(url) == good

        # Blobs: a chunk with the wrong bytes, and a manifest that is not the one addressed.
        data = os.urandom(blobs.CHUNK_SIZE + 10)
        manifest, chunks = blobs.split_blob(data)
        liar.table[manifest.address] = ("value", manifest.encode())
        liar.table[manifest.chunks[0]] = ("value", chunks[0])
        liar.table[manifest.chunks[1]] = ("value", b"\x00" * len(chunks[1]))
        with pytest.raises(InvalidRecord):
            await client.get_blob(manifest.address)
        liar.table[manifest.chunks[1]] = ("value", chunks[1])
        assert await client.get_blob(manifest.address) == data
        bogus = hashlib.sha256(b"bogus").digest()
        liar.table[bogus] = ("value", manifest.encode())
        with pytest.raises(InvalidRecord):
            await client.get_blob(bogus)
        with pytest.raises(NotFound):
            await client.get_blob(os.urandom(32))

        # put_record refuses to send a record that does not verify.
        with pytest.raises(InvalidSignature):
            await client.put_record(forged)


def test_peer_ref_from_multiaddr_refuses_bad_addresses() -> None:
    for bad in [
        "/ip4/127.0.0.1/tcp/1",
        "/ip4/127.0.0.1/tcp/1/p2p/notbase58!!",
        "/ip4/1.2.3.4/tcp/1/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N",
    ]:
        with pytest.raises(InvalidURL):
            peer_ref_from_multiaddr(bad)
