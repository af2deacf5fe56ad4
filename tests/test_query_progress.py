"""The ``progress`` hook of ``ComputeClient.query``: every shard seen settling, the peer waited on named.

In-memory network, trio's virtual clock: a frozen peer costs no wall time.
"""

from __future__ import annotations

import hashlib

import pytest
import trio
import wasmtime

from note_compute import encoding
from note_compute.compute.client import ComputeClient, QueryProgress
from note_compute.compute.progress import peer_label
from note_compute.crypto import SigningKey
from note_compute.ring.ids import PeerRef
from note_compute.testing.compute import SUBSTRING_WAT, ComputeNetwork

SITE = SigningKey(hashlib.sha256(b"progress-site").digest())


@pytest.fixture(scope="module")
def wasm() -> bytes:
    return wasmtime.wat2wasm(SUBSTRING_WAT)


async def world(sandbox, wasm: bytes, n: int = 6) -> tuple[ComputeNetwork, str, str]:
    net = ComputeNetwork(n, sandbox, liars_first=True)
    purl = await net.publish_program(SITE, "sub", wasm, fuel=10**8)
    recs = [encoding.encode({"id": i, "tag": "red" if i % 3 else "blue"}) for i in range(120)]
    built = await net.publish_dataset(SITE, "things", recs, ["id"], shard_records=10)
    assert len(built.shards) == 12
    return net, purl, f"note://{SITE.authority}/datasets/things"


def check_consistent(seen: list[QueryProgress], total: int) -> None:
    settled = [i for p in seen for i in p.newly_settled]
    assert sorted(settled) == list(range(total))  # every shard, each exactly once
    assert all(p.shards_total == total for p in seen)
    done = [p.shards_done for p in seen]
    assert done == sorted(done) and done[-1] == total
    assert all(a != b for a, b in zip(seen, seen[1:], strict=False))  # called on changes only
    assert seen[-1].waiting_shard is None and seen[-1].waiting_peer is None


async def test_the_callback_sees_every_shard_settle(sandbox, wasm: bytes) -> None:
    net, purl, durl = await world(sandbox, wasm)
    seen: list[QueryProgress] = []
    res = await ComputeClient(net, sandbox).query(purl, durl, "red", audit=0.2, progress=seen.append)
    assert res.verification.ok
    check_consistent(seen, 12)
    assert seen[0].shards_done == 0 and seen[0].waiting_shard is not None  # the first call: requests out
    assert seen[-1].shards_verified == 12 and seen[-1].shards_failed == 0
    assert 1 <= seen[-1].peers_asked <= 6
    # The hook changes nothing: the same answer without it.
    again = await ComputeClient(net, sandbox).query(purl, durl, "red", audit=0.2)
    assert again.values() == res.values()


async def test_the_callback_names_the_frozen_peer_and_how_long(sandbox, wasm: bytes, autojump_clock) -> None:
    net, purl, durl = await world(sandbox, wasm)
    frozen = net.peers[0]
    net.set_mode(frozen, "timeout")  # liars_first: asked first for every shard it holds, never answers
    seen: list[QueryProgress] = []
    client = ComputeClient(net, sandbox, timeout=4.0, shuffle=False)
    t0 = trio.current_time()
    with trio.fail_after(60):
        res = await client.query(purl, durl, "red", range=[[0], [119]], progress=seen.append)
    assert res.verification.ok  # the other replicas answered after the timeout
    check_consistent(seen, 12)
    waits = [p for p in seen if p.waiting_peer == peer_label(frozen)]
    assert waits, [p.waiting_peer for p in seen]
    assert waits[0].waiting_since == t0  # sent at the start ...
    last = waits[-1]
    assert last.waited(t0 + 2.5) == 2.5  # ... and the wait grows on the client's clock until it is replaced
    assert any(p.waiting_peer != peer_label(frozen) for p in seen[seen.index(last) + 1:])
    assert trio.current_time() - t0 >= 4.0  # the frozen peer was waited on for its whole timeout


def test_peer_labels() -> None:
    pid = "12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo"
    assert peer_label(PeerRef(7, f"/ip4/10.0.0.1/tcp/4001/p2p/{pid}")) == "12D3Koo...Xo"
    assert peer_label(PeerRef(7, "mem-7")) == (7).to_bytes(32, "big").hex()[:16]
    assert QueryProgress(3, 1, 0, 2).waited(99.0) == 0.0 and QueryProgress(3, 1, 1, 2).shards_verified == 0


async def test_the_publishers_wait_for_replicas_names_the_silent_one(sandbox, autojump_clock) -> None:
    from note_compute.cli.dataset import READY_TIMEOUT, ready_line
    from note_compute.compute.progress import ReadyProgress
    from note_compute.compute.publish import publish_dataset

    net = ComputeNetwork(6, sandbox)
    frozen = net.peers[2]
    net.set_mode(frozen, "timeout")  # never answers compute.prepare
    recs = [encoding.encode({"id": i}) for i in range(120)]
    seen: list[ReadyProgress] = []
    t0 = trio.current_time()
    pub = await publish_dataset(net, SITE, recs, name="slow", sort_key=["id"], shard_records=10, ready_timeout=10.0,
                                ready_progress=seen.append)
    assert trio.current_time() - t0 == pytest.approx(10.0)  # waited the whole ready_timeout for it
    asked = pub.asked
    assert asked >= 3 and all(p.asked == asked for p in seen)
    assert seen[0].answered == 0 and seen[0].waiting == asked and seen[0].since == t0
    assert [p.answered for p in seen] == list(range(asked))  # one call per answer, the frozen one never
    last = seen[-1]
    assert last.waiting == 1 and last.waiting_on == (peer_label(frozen),) and last.ready == pub.ready == 0
    assert last.waited(t0 + 3.0) == 3.0
    assert ready_line(last) == (f"replicas loading the shards: 0 of {asked} ready; waiting on {peer_label(frozen)} "
                                f"(at most {READY_TIMEOUT:g} s)")
    assert ready_line(seen[0]).endswith(f"and {asked - 3} more (at most {READY_TIMEOUT:g} s)")
    assert ready_line(ReadyProgress(4, 4, 4)) == "replicas loading the shards: 4 of 4 ready"
