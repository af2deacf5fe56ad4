"""``note-compute site publish``: put a directory into the ring as a site.

Every file becomes a content-addressed blob (its chunks and its blob
manifest) and a record at ``note://AUTHORITY/path`` referring to the blob;
then one signed site manifest record at ``note://AUTHORITY/.note-site``
lists every file (``note_compute.site``). On republish, the previous
manifest is read first and only files whose bytes or media type changed are
uploaded and re-signed; the manifest itself always gets a new seq.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import trio

from .. import records, site, urls
from ..crypto import SigningKey
from ..errors import InvalidRecord, NotFound, PeerUnreachable, Timeout

__all__ = ["PublishedSite", "fetch_manifest", "manifest_url", "publish_site"]

T = TypeVar("T")
_PARALLEL = 8
_ATTEMPTS = 3


async def _retry(fn: Callable[[], Awaitable[T]]) -> T:
    """``fn()``, tried again (up to :data:`_ATTEMPTS` in all) when a replica was slow or unreachable."""
    for attempt in range(_ATTEMPTS):
        try:
            return await fn()
        except (Timeout, PeerUnreachable):
            if attempt == _ATTEMPTS - 1:
                raise
            await trio.sleep(0.2 * 2**attempt)
    raise AssertionError("unreachable")


def manifest_url(authority: str) -> str:
    return urls.make_url(authority, site.MANIFEST_PATH)


@dataclass
class PublishedSite:
    """What :func:`publish_site` did."""

    authority: str
    url: str
    seq: int
    files: int
    uploaded: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    bytes_uploaded: int = 0


async def fetch_manifest(client: Any, authority: str, *,
                         direct: bool = False) -> tuple[records.Record, site.SiteManifest]:
    """The verified site manifest record of ``authority`` and its decoded manifest; NotFound if none.

    ``direct`` (the gateway): ask the record's replicas computed from the known ring, no lookup first.
    """
    url = manifest_url(authority)
    record = await (client.get_record(url, direct=True) if direct else client.get_record(url))
    if record.url != url:
        raise InvalidRecord("the ring returned a record for another URL", reason="address-mismatch")
    if record.value is not None:
        data = record.value
    elif len(record.refs) == 1:
        data = await client.get_blob(record.refs[0])
    else:
        raise InvalidRecord("a site manifest record has a value or exactly one ref", reason="site-manifest")
    return record, site.SiteManifest.decode(data)


async def publish_site(client: Any, key: SigningKey, root: Path, *,
                       progress: Callable[[str, int, int], None] | None = None,
                       now: Callable[[], float] = time.time) -> PublishedSite:
    """Publish every file under ``root`` as ``key``'s site; returns what was uploaded.

    ``progress(path, done, total)`` is called after each uploaded file.
    """
    found = site.scan_directory(root)
    authority = key.authority
    try:
        prev_record, previous = await fetch_manifest(client, authority)
        prev_seq: int | None = prev_record.seq
    except NotFound:
        previous, prev_seq = None, None

    entries: dict[str, site.SiteFile] = {}
    pending: dict[str, list[bytes]] = {}
    for path, file in found.items():
        entry, chunks = site.SiteFile.of_bytes(file.read_bytes(), site.media_type_for(file.name))
        entries[path] = entry
        if previous is None or previous.files.get(path) != entry:
            pending[path] = chunks
    manifest = site.SiteManifest(entries)
    result = PublishedSite(authority, manifest_url(authority), 0, len(entries))
    result.unchanged = sorted(set(entries) - set(pending))
    created = int(now())

    limiter = trio.CapacityLimiter(_PARALLEL)
    done = 0

    async def upload(path: str) -> None:
        nonlocal done
        entry = entries[path]
        async with limiter:
            for chunk in pending[path]:
                await _retry(partial(client.put_value, chunk))
            await _retry(partial(client.put_value, entry.blob.encode()))
            url = urls.make_url(authority, path)
            try:
                old = (await client.get_record(url)).seq
            except NotFound:
                old = None
            rec = records.sign_record(key, url, seq=records.next_seq(old, int(now() * 1000)),
                                      refs=[entry.blob.address], created=created)
            await _retry(partial(client.put_record, rec))
        result.bytes_uploaded += entry.size
        result.uploaded.append(path)
        done += 1
        if progress is not None:
            progress(path, done, len(pending))

    async with trio.open_nursery() as nursery:
        for path in sorted(pending):
            nursery.start_soon(upload, path)

    body = manifest.encode()
    seq = records.next_seq(prev_seq, int(now() * 1000))
    if len(body) <= records.MAX_VALUE_SIZE:
        rec = records.sign_record(key, result.url, seq=seq, value=body, created=created)
    else:
        rec = records.sign_record(key, result.url, seq=seq, refs=[await client.put_blob(body, "application/cbor")],
                                  created=created)
    await _retry(partial(client.put_record, rec))
    result.seq = seq
    result.uploaded.sort()
    return result
