"""Publishing a dataset through a ring client (async; used by the CLI and the benchmarks)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import trio

from ..crypto import SigningKey
from ..errors import NotFound
from ..records import Record, sign_record
from .dataset import DEFAULT_SHARD_BYTES, BuiltDataset, Manifest, build_dataset, shard_table_value
from .source import DATASETS_PREFIX, manifest_from_record

__all__ = ["Published", "publish_dataset", "dataset_url"]


def dataset_url(authority: str, name: str) -> str:
    """``note://AUTHORITY/datasets/NAME``."""
    return f"note://{authority}{DATASETS_PREFIX}{name}"


@dataclass
class Published:
    record: Record
    built: BuiltDataset
    uploaded: int
    acks: int
    previous: Manifest | None


async def _previous(client: Any, url: str) -> Manifest | None:
    try:
        record = await client.get_record(url)
    except NotFound:
        return None
    table = None
    if record.value is not None:
        addr = shard_table_value(record.value)
        if addr is not None:
            table = await client.get_blob(addr)
    return manifest_from_record(record, table)


async def publish_dataset(client: Any, key: SigningKey, records: Sequence[bytes], *, name: str,
                          sort_key: Sequence[str], shard_bytes: int | None = DEFAULT_SHARD_BYTES,
                          shard_records: int | None = None, now_ms: int | None = None, parallel: int = 8,
                          progress: Callable[[int, int], None] | None = None) -> Published:
    """Build, upload the shards that changed since the previous version, then sign and store the manifest.

    ``seq`` follows ``note-compute put``: ``max(previous seq + 1, now in ms)``.
    ``progress(done_bytes, total_bytes)`` is called as shards upload.
    """
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    url = dataset_url(key.authority, name)
    prev = await _previous(client, url)
    built = build_dataset(records, name=name, sort_key=sort_key, shard_bytes=shard_bytes,
                          shard_records=shard_records, previous=prev)
    todo = [built.shards[i] for i in built.changed]
    total = sum(len(s.blob) for s in todo)
    done = 0
    limiter = trio.CapacityLimiter(parallel)

    async def up(blob: bytes, want: bytes) -> None:
        nonlocal done
        async with limiter:
            addr = await client.put_blob(blob)
        if addr != want:
            raise NotFound("the ring stored a shard at an unexpected address", reason="address")
        done += len(blob)
        if progress is not None:
            progress(done, total)

    async with trio.open_nursery() as nursery:
        for s in todo:
            nursery.start_soon(up, s.blob, s.info.blob)
    if built.table_blob is not None:
        await client.put_blob(built.table_blob)
    seq = max((prev.seq + 1) if prev else 1, now_ms)
    record = sign_record(key, url, seq=seq, value=built.value, created=now_ms // 1000)
    acks = await client.put_record(record)
    return Published(record, built, len(todo), acks, prev)
