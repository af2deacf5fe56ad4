"""Self-proving newer-seq hints (specs/compute.md 3.3): in-memory ring, virtual clock, and the pure parts.

Before: one peer's ``seq-mismatch`` claiming a newer seq made the client re-read the ring and, when
nothing newer was there, fail the query (freshness chosen over availability): a single liar denied
service. Now a hint is followed only with the newer version's signed dataset record; a claim without
one that passes (none, forged, another dataset's, an old one replayed) is ignored and counted, and the
shard just moves on. A genuine newer version is still reached, even when the client's own reads of the
ring lag behind, because honest peers attach the record.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random

import pytest
import wasmtime

from note_compute import encoding
from note_compute.compute.actions import Ask, Refresh
from note_compute.compute.client import ComputeClient
from note_compute.compute.dataset import build_dataset
from note_compute.compute.hints import SeqMismatch, check_hint, hint_of, seq_mismatch
from note_compute.compute.server import ProgramCode
from note_compute.compute.session import QuerySession
from note_compute.compute.source import manifest_from_record
from note_compute.crypto import SigningKey
from note_compute.errors import (
    InvalidEncoding,
    InvalidRecord,
    InvalidSignature,
    NoteError,
    RemoteProtocolError,
    StaleRecord,
    Timeout,
)
from note_compute.records import sign_record
from note_compute.sandbox import Sandbox
from note_compute.testing.compute import HINT_LIES, SUBSTRING_WAT, ComputeNetwork
from note_compute.wire.compute import MAX_HINT
from note_compute.wire.envelope import error_reply, raise_if_error

SITE = SigningKey(hashlib.sha256(b"hint-site").digest())
OTHER = SigningKey(hashlib.sha256(b"hint-other").digest())
URL = f"note://{SITE.authority}/datasets/things"
TAGS = ["red", "blue", "green"]


def records(version: int, n: int = 60) -> list[bytes]:
    return [encoding.encode({"id": i, "tag": TAGS[(i + version) % 3], "v": version}) for i in range(n)]


def expected(version: int) -> list[bytes]:
    return [r for r in records(version) if b"red" in r]


@pytest.fixture(scope="module")
def wasm() -> bytes:
    return wasmtime.wat2wasm(SUBSTRING_WAT)


async def _world(sandbox: Sandbox, wasm: bytes) -> tuple[ComputeNetwork, str]:
    net = ComputeNetwork(6, sandbox, liars_first=True, seed=3)
    purl = await net.publish_program(SITE, "sub", wasm, fuel=10**8)
    await net.publish_dataset(SITE, "things", records(1), ["id"], seq=1, shard_records=20)
    await net.publish_dataset(SITE, "things", records(2), ["id"], seq=2, shard_records=20)
    return net, purl


@pytest.mark.parametrize("mode", HINT_LIES)
async def test_a_false_hint_cannot_fail_the_query(sandbox, wasm, autojump_clock, mode: str) -> None:  # type: ignore[no-untyped-def]
    """Liars asked first claim seq 3 (with no record, a forged one, an old one, another dataset's):
    the query still answers from seq 2, correctly, and counts the ignored hints."""
    net, purl = await _world(sandbox, wasm)
    for p in net.peers[:2]:
        net.set_mode(p, mode)
    res = await ComputeClient(net, sandbox, shuffle=False).query(purl, URL, "red", range=[[0], None])
    v = res.verification
    assert v.ok and v.seq == 2 and v.restarts == 0, v.summary
    assert res.records == expected(2) and v.verdict == "verified-complete"
    assert v.hints_ignored >= 1 and any("ignored" in f for f in v.failures)


async def test_a_genuine_newer_version_is_reached_when_the_ring_lags(sandbox, wasm, autojump_clock) -> None:  # type: ignore[no-untyped-def]
    """The client's reads of the manifest are stuck at seq 1 (before: the query failed): honest peers
    refuse with seq 2's signed record, and the client follows it."""
    net, purl = await _world(sandbox, wasm)
    net.stale_reads[URL] = 10**6
    client = ComputeClient(net, sandbox)
    res = await client.query(purl, URL, "red", range=[[0], None])
    v = res.verification
    assert v.ok and v.seq == 2 and v.restarts == 1 and res.records == expected(2), v.summary
    assert v.hints_ignored == 0 and client.freshness.newest(URL) == 2


async def test_a_replayed_old_record_never_moves_the_client_back(sandbox, wasm, autojump_clock) -> None:  # type: ignore[no-untyped-def]
    net, purl = await _world(sandbox, wasm)
    for p in net.peers:
        net.set_mode(p, "replay_hint")  # every peer offers seq 1's genuine record as "newer"
    res = await ComputeClient(net, sandbox, shuffle=False).query(purl, URL, "red", range=[[0], None])
    v = res.verification
    assert not v.ok and v.seq == 2 and v.restarts == 0 and res.records == []
    assert v.hints_ignored >= 1 and any("hint-not-newer" in f for f in v.failures)


# ------------------------------------------------------------------ the pure parts


def _manifest(seq: int = 2):  # type: ignore[no-untyped-def]
    built = build_dataset(records(seq), name="things", sort_key=["id"], shard_records=20)
    rec = sign_record(SITE, URL, seq=seq, value=built.value, created=1_700_000_000)
    return manifest_from_record(rec), rec


def test_check_hint_accepts_only_a_newer_signed_record_of_the_same_dataset() -> None:
    m2, rec2 = _manifest(2)
    _, rec3 = _manifest(3)
    assert check_hint(rec3.encode(), m2).seq == 3
    _, rec1 = _manifest(1)
    own = sign_record(OTHER, f"note://{OTHER.authority}/datasets/things", seq=9, value=rec3.value, created=1)
    not_a_manifest = sign_record(SITE, URL, seq=4, value=encoding.encode({"type": "dataset"}), created=1)
    no_value = sign_record(SITE, URL, seq=5, refs=(bytes(32),), created=1)
    cases: list[tuple[object, type[NoteError], str | None]] = [
        (None, RemoteProtocolError, "bad-hint"),
        ("text", RemoteProtocolError, "bad-hint"),
        (b"", RemoteProtocolError, "bad-hint"),
        (bytes(MAX_HINT + 1), RemoteProtocolError, "bad-hint"),
        (b"\xff\x00", InvalidEncoding, None),
        (dataclasses.replace(rec2, seq=3).encode(), InvalidSignature, None),  # forged seq
        (own.encode(), InvalidRecord, "hint-url"),
        (rec1.encode(), StaleRecord, "hint-not-newer"),  # replayed
        (rec2.encode(), StaleRecord, "hint-not-newer"),  # the same version
        (not_a_manifest.encode(), InvalidRecord, None),
        (no_value.encode(), InvalidRecord, "not-dataset"),
    ]
    for data, exc, reason in cases:
        with pytest.raises(exc) as e:
            check_hint(data, m2)
        if reason is not None:
            assert e.value.reason == reason, (data, e.value)


def test_the_hint_travels_with_the_typed_error() -> None:
    m2, rec2 = _manifest(2)
    exc = seq_mismatch(URL, m2, 1)
    assert isinstance(exc, SeqMismatch) and exc.reason == "seq-mismatch" and hint_of(exc) == rec2.encode()
    assert hint_of(seq_mismatch(URL, m2, 3)) is None  # an older holder proves nothing
    reply = error_reply(exc)
    reply.update(exc.attached)
    with pytest.raises(RemoteProtocolError) as e:
        raise_if_error(encoding.decode(encoding.encode(reply)))
    assert e.value.reason == "seq-mismatch" and hint_of(e.value) == rec2.encode()


def _session(m):  # type: ignore[no-untyped-def]
    prog = ProgramCode("note://x/programs/p", bytes(32), b"", 1)
    return QuerySession(m, prog, encoding.encode("red"), executor=None,  # type: ignore[arg-type]
                        rng=random.Random(1), range=[[0], None], batch=False)


class _Peer:
    def __init__(self, n: int) -> None:
        self.node_id = bytes([n]) * 32


def test_a_proven_version_that_cannot_be_loaded_fails_the_query() -> None:
    """The session asks the driver to follow a proven hint; if that fails, never answer from the old seq."""
    m2, _ = _manifest(2)
    _, rec3 = _manifest(3)
    s = _session(m2)
    acts = s.start({i: [_Peer(1), _Peer(2)] for i in range(len(m2.shards))})
    asks = [a for a in acts if isinstance(a, Ask)]
    refusal = {"error": {"code": "remote-protocol", "message": "this peer holds seq 3, not 2",
                         "reason": "seq-mismatch"}, "manifest": rec3.encode()}
    out = s.on_result(asks[0].tag, refusal)
    (refresh,) = [a for a in out if isinstance(a, Refresh)]
    assert refresh.hinted == 3 and refresh.record == rec3.encode()
    assert not any(isinstance(a, Refresh) for a in s.on_result(asks[1].tag, refusal))  # one refresh at a time
    s.on_error(refresh.tag, Timeout("the shard table could not be fetched"))
    for a in asks[2:]:
        s.on_error(a.tag, Timeout("no answer"))
    while not s.done:
        pending = list(s._asks)
        assert pending
        for tag in pending:
            s.on_error(tag, Timeout("no answer"))
    v = s.result().verification
    assert not v.ok and any("exists but could not be loaded" in e for e in v.errors)
