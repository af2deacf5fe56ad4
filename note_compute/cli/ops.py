"""The async bodies of ``note-compute put | get | ring status`` (kept out of the click layer)."""

from __future__ import annotations

import time

from .. import records, urls
from ..errors import InvalidRecord, NotFound
from ..ring.ids import RING, Range, id_from_bytes

__all__ = ["put_file", "get_file", "ring_status", "UsageMistake"]

INLINE_MAX = records.MAX_VALUE_SIZE


class UsageMistake(InvalidRecord):
    """A record the user asked for that cannot be made or read this way (exit 2, not 1: nothing was forged)."""

    exit_code = 2


async def put_file(url: str, data: bytes, key_name: str, media_type: str,
                   bootstrap: list[str] | None) -> tuple[records.Record, int]:
    """Sign ``data`` as the record at ``url`` with key ``key_name`` and store it; returns (record, acks)."""
    from .. import keystore
    from ..client import open_client

    key = keystore.load_key(key_name)
    url = urls.normalize(url)
    if urls.parse(url).authority != key.authority:
        raise UsageMistake(f"key {key_name!r} signs for authority {key.authority}, not the one in {url} "
                           f"(a key can only publish under its own authority: note://{key.authority}/...)",
                           reason="authority-mismatch")
    async with open_client(bootstrap) as client:
        try:
            previous: int | None = (await client.get_record(url)).seq
        except NotFound:
            previous = None
        now = time.time()
        seq = records.next_seq(previous, int(now * 1000))
        if len(data) <= INLINE_MAX:
            rec = records.sign_record(key, url, seq=seq, value=data, created=int(now))
        else:
            manifest_addr = await client.put_blob(data, media_type)
            rec = records.sign_record(key, url, seq=seq, refs=(manifest_addr,), created=int(now))
        acks = await client.put_record(rec)
    return rec, acks


async def get_file(url: str, bootstrap: list[str] | None) -> tuple[records.Record, bytes]:
    """Fetch and verify the record at ``url``; follow a blob ref; returns (record, bytes)."""
    from ..client import open_client

    async with open_client(bootstrap) as client:
        rec = await client.get_record(url)
        if rec.value is not None:
            return rec, rec.value
        if len(rec.refs) != 1:
            raise UsageMistake(f"{rec.url} refers to {len(rec.refs)} objects, not one file; `get` follows exactly "
                               "one blob ref", reason="refs")
        return rec, await client.get_blob(rec.refs[0])


def _short(b: bytes | None) -> str:
    return "-" if b is None else b.hex()[:10]


async def ring_status(bootstrap: list[str] | None) -> tuple[list[tuple[str, ...]], bool]:
    """Rows for ``note-compute ring status`` and whether the ring is stable."""
    from ..client import open_client
    from ..devnet.ring import collect_status, discover, ring_is_stable

    async with open_client(bootstrap) as client:
        peers = await discover(client)
        statuses = await collect_status(client, peers)
    ids = sorted(statuses)
    rows: list[tuple[str, ...]] = []
    for i, nid in enumerate(ids):
        st = statuses[nid]
        pred = st.get("predecessor")
        share = "-"
        if isinstance(pred, bytes):
            size = Range(id_from_bytes(pred), id_from_bytes(nid)).size
            share = f"{100 * size / RING:.1f}%"
        expected = ids[(i + 1) % len(ids)]
        addr = (st.get("addrs") or ["?"])[0]
        rows.append((_short(nid), str(addr).split("/p2p/")[0], f"({_short(pred)}, {_short(nid)}]", share,
                     str(st.get("records", 0)), str(st.get("bytes", 0)),
                     "yes" if st.get("successor") == expected else "NO"))
    return rows, ring_is_stable(statuses)
