"""Publishing a dataset through a ring client (async; used by the CLI and the benchmarks)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import trio

from ..crypto import SigningKey
from ..errors import NoteError, NotFound
from ..records import Record, sign_record
from ..wire.compute import parse_prepare_reply, prepare_msg
from .dataset import DEFAULT_SHARD_BYTES, BuiltDataset, Manifest, build_dataset, shard_table_value
from .progress import ReadyProgress, peer_label
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
    ready: int = 0
    """Shard replicas that answered ``compute.prepare`` ready (with ``ready_timeout``)."""
    asked: int = 0
    """Shard replicas asked (with ``ready_timeout``)."""


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
                          progress: Callable[[int, int], None] | None = None,
                          ready_timeout: float = 0.0,
                          ready_progress: Callable[[ReadyProgress], None] | None = None,
                          previous: Manifest | None | Literal["read"] = "read") -> Published:
    """Build, upload the shards that changed since the previous version, then sign and store the manifest.

    ``seq`` follows ``note-compute put``: ``max(previous seq + 1, now in ms)``.
    ``progress(done_bytes, total_bytes)`` is called as shards upload.
    ``ready_timeout`` > 0: then send every shard replica ``compute.prepare`` with ``wait`` and return once
    they have loaded and checked their shards (or after that many seconds): the first query finds them ready.
    Nodes start the same loading on their own when the manifest lands; this only waits for it;
    ``ready_progress`` is told who it waits on (:func:`await_ready`).
    ``previous``: by default the current version is read from the ring; a caller that knows it (the
    manifest it published last, or None under a key it has just made) passes it and saves that read.
    """
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    url = dataset_url(key.authority, name)
    prev = await _previous(client, url) if isinstance(previous, str) else previous
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
    pub = Published(record, built, len(todo), acks, prev)
    if ready_timeout > 0:
        pub.ready, pub.asked = await await_ready(client, record, built.manifest, ready_timeout, parallel=parallel,
                                                   progress=ready_progress)
    return pub


async def await_ready(client: Any, record: Record, manifest: Manifest, timeout: float, *,
                      parallel: int = 8, max_shards: int = 256,
                      progress: Callable[[ReadyProgress], None] | None = None) -> tuple[int, int]:
    """Ask the replicas of (at most ``max_shards``) shards to load them now and wait for their answers, at most
    ``timeout`` seconds in all; returns ``(ready, asked)``. A client without ``replicas``/``request`` (or a
    node that does not know ``compute.prepare``) makes this a no-op for those peers, never an error.
    ``progress`` is called once all are asked, then after each answer (or failure), with a ReadyProgress."""
    if not (hasattr(client, "replicas") and hasattr(client, "request")):
        return 0, 0
    limiter = trio.CapacityLimiter(parallel)
    peers: dict[Any, Any] = {}
    ready = 0
    msg = prepare_msg(record.encode(), wait=True)

    async def find(blob: bytes) -> None:
        async with limiter:
            try:
                for p in await client.replicas(blob):
                    peers[getattr(p, "id_bytes", p)] = p
            except NoteError:
                pass

    out: dict[Any, str] = {}  # replicas not answered yet -> label (kept only with a progress hook)
    since = 0.0

    def report() -> None:
        if progress is not None:
            names = tuple(out.values())
            progress(ReadyProgress(len(peers), len(peers) - len(names), ready, names[:3], len(names), since))

    async def ask(key: Any, peer: Any) -> None:
        nonlocal ready
        try:
            ready += parse_prepare_reply(await client.request(peer, msg, timeout=timeout))[1]
        except NoteError:
            pass
        if progress is not None:
            out.pop(key, None)
            report()

    with trio.move_on_after(timeout):
        async with trio.open_nursery() as nursery:
            for s in manifest.shards[:max_shards]:
                nursery.start_soon(find, s.blob)
        if progress is not None:
            out.update((k, peer_label(p)) for k, p in peers.items())
            since = trio.current_time()
            report()
        async with trio.open_nursery() as nursery:
            for k, p in peers.items():
                nursery.start_soon(ask, k, p)
    return ready, len(peers)


# -- checks before publishing ------------------------------------------------------------------------------------

_SORTABLE = {bool: "true/false", int: "an integer", str: "text", bytes: "bytes"}


def _kind(v: Any) -> str:
    return {bool: "a boolean", int: "an integer", str: "text", bytes: "bytes", list: "a list", dict: "a map",
            type(None): "null"}.get(type(v), type(v).__name__)


def jsonl_objects(data: bytes | str) -> list[tuple[int, Any]]:
    """(1-based line number, JSON object) of every non-blank line; ``parse_jsonl`` has already vetted them."""
    import json

    text = data.decode("utf-8") if isinstance(data, bytes) else data
    return [(n, json.loads(line)) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]


def check_sort_key(objects: Sequence[tuple[int, Any]], sort_key: Sequence[str]) -> None:
    """Refuse (InvalidRecord, naming the line and field) records the sort key cannot order as intended.

    Every record must hold every sort-key field (not null), as a sortable
    scalar (integer, text, true/false), and all records the same type per
    field (``"price": "1999"`` among integer prices would sort after every
    number). A field no record has is named as such (a typo in ``--sort-key``).
    """
    from ..errors import InvalidRecord

    if not objects:
        raise InvalidRecord("the file holds no records", reason="empty")
    for f in sort_key:
        holders = [(n, o[f]) for n, o in objects if f in o]
        if not holders:
            fields = sorted({k for _, o in objects[:100] for k in o})
            raise InvalidRecord(f"no record has the sort-key field {f!r} (--sort-key typo?); fields present: "
                                f"{', '.join(fields)}", reason="sort-key-field")
        counts: dict[type, int] = {}
        for _, v in holders:
            counts[type(v)] = counts.get(type(v), 0) + 1
        usual = max(counts, key=lambda t: counts[t])
        for n, o in objects:
            if f not in o or o[f] is None:
                raise InvalidRecord(f"line {n}: sort-key field {f!r} is {'missing' if f not in o else 'null'}",
                                    reason="sort-key-missing")
            v = o[f]
            if type(v) not in _SORTABLE:
                raise InvalidRecord(f"line {n}: sort-key field {f!r} is {_kind(v)}; it must be an integer, text "
                                    "or true/false", reason="sort-key-type")
            if type(v) is not usual:
                raise InvalidRecord(f"line {n}: sort-key field {f!r} is {_kind(v)} ({v!r}), but "
                                    f"{counts[usual]} other records hold {_SORTABLE[usual]}", reason="sort-key-type")


def check_for_program(objects: Sequence[tuple[int, Any]], records: Sequence[bytes], interface: Any,
                      run: Callable[[list[bytes]], int | None], *, sample: int = 5000,
                      name: str = "the program") -> int:
    """Check records against a program: its interface's record fields, then a dry run.

    ``run(records)`` runs the program over ``records`` (with its default
    arguments) and returns None, or the program's error code. The dry run
    covers every record up to ``sample`` (evenly spaced beyond); a failing
    batch is bisected to the first record the program refuses. Returns how
    many records were dry-run. Raises InvalidRecord naming the line.
    """
    from ..errors import InvalidRecord
    from ..program_interface import check_record

    if interface is not None:
        for n, o in objects:
            check_record(interface, o, where=f"line {n}")
    idx = list(range(len(records)))
    if len(idx) > sample:
        step = len(idx) / sample
        idx = sorted({int(i * step) for i in range(sample)})
    batch = 512
    for start in range(0, len(idx), batch):
        part = idx[start:start + batch]
        code = run([records[i] for i in part])
        if code is None:
            continue
        lo, hi = 0, len(part)  # find the first single record the program refuses
        bad = None
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if run([records[i] for i in part[lo:mid]]) is not None:
                hi = mid
            else:
                lo = mid
        if run([records[part[lo]]]) is not None:
            bad = part[lo]
        meaning = interface.error_meaning(code) if interface is not None else None
        why = f"error {code}" + (f": {meaning}" if meaning else "")
        if bad is None:
            raise InvalidRecord(f"{name} rejects records {objects[part[0]][0]}..{objects[part[-1]][0]} together "
                                f"({why})", reason="dry-run")
        raise InvalidRecord(f"line {objects[bad][0]}: {name} rejects this record ({why})", reason="dry-run")
    return len(idx)
