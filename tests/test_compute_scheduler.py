"""Fair compute scheduling: per-peer bounded queues, round robin, an immediate typed busy (virtual clock)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import trio
import wasmtime

from note_compute import encoding
from note_compute.compute.protocol import QueryRequest
from note_compute.compute.scheduler import FairScheduler, RoundRobin
from note_compute.crypto import SigningKey
from note_compute.errors import Busy
from note_compute.ring.ids import PeerRef
from note_compute.sandbox import Sandbox
from note_compute.testing.compute import SUBSTRING_WAT, ComputeNetwork

LONG, SHORT = 10.0, 0.01  # virtual seconds a job takes


def test_round_robin_takes_turns_and_bounds_each_queue() -> None:
    rr: RoundRobin[str] = RoundRobin(per_peer=4, total=6)
    for i in range(4):
        rr.push("a", f"a{i}")
    with pytest.raises(Busy) as e:
        rr.push("a", "a4")
    assert e.value.reason == "peer-queue" and e.value.code == "busy"
    rr.push("b", "b0")
    rr.push("c", "c0")
    with pytest.raises(Busy) as e:
        rr.push("d", "d0")
    assert e.value.reason == "node-queue"
    assert [rr.pop() for _ in range(7)] == ["a0", "b0", "c0", "a1", "a2", "a3", None]
    assert rr.waiting == 0
    rr.push("a", "x")
    assert rr.remove("a", "x") and not rr.remove("a", "x") and rr.pop() is None


async def _fake_run(fn: Any) -> Any:
    await trio.sleep(fn())  # a job "runs" for the virtual seconds it returns
    return "done"


async def test_a_bystanders_short_query_waits_for_one_run_not_sixteen(autojump_clock: Any) -> None:
    sched = FairScheduler(workers=1, per_peer=4, total=64, run_sync=_fake_run)
    finished: dict[str, float] = {}
    busy_at: list[float] = []

    async def submit(peer: str, name: str, seconds: float) -> None:
        try:
            await sched.run(peer, lambda: seconds)
            finished[name] = trio.current_time()
        except Busy:
            busy_at.append(trio.current_time())

    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        for i in range(16):
            nursery.start_soon(submit, "hog", f"hog{i}", LONG)
            await trio.sleep(0)
        await trio.sleep(0.001)
        nursery.start_soon(submit, "bystander", "short", SHORT)
    # One hog job runs, four wait, eleven are refused at once (no waiting out a timeout).
    assert len(busy_at) == 11 and all(t - start < 0.01 for t in busy_at)
    assert sched.refused == 11
    # The bystander is next in rotation after the running job: one long run, not five (FIFO) or sixteen.
    assert finished["short"] - start == pytest.approx(LONG + SHORT, abs=0.01)
    assert sched.started[:3] == ["hog", "bystander", "hog"]
    assert sched.running == 0 and sched.waiting == 0


async def test_workers_run_side_by_side_and_cancelled_waiters_leave_the_queue(autojump_clock: Any) -> None:
    sched = FairScheduler(workers=2, per_peer=8, run_sync=_fake_run)
    done: list[float] = []

    async def one(peer: str) -> None:
        await sched.run(peer, lambda: LONG)
        done.append(trio.current_time())

    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        for p in ("a", "b", "c", "d"):
            nursery.start_soon(one, p)
    assert sorted(t - start for t in done) == pytest.approx([LONG, LONG, 2 * LONG, 2 * LONG], abs=0.01)
    with trio.move_on_after(1):  # both workers busy: this waiter gives up while queued
        async with trio.open_nursery() as nursery:
            nursery.start_soon(one, "a")
            nursery.start_soon(one, "b")
            await trio.sleep(0.1)
            await sched.run("c", lambda: LONG)
    assert sched.waiting == 0 and sched.running == 0
    assert await sched.run("d", lambda: SHORT) == "done"


async def test_the_server_answers_busy_at_once_when_a_peers_queue_is_full() -> None:
    key = SigningKey(hashlib.sha256(b"sched-site").digest())
    with Sandbox() as sandbox:
        net = ComputeNetwork(1, sandbox)
        binary = bytes(wasmtime.wat2wasm(SUBSTRING_WAT))
        purl = await net.publish_program(key, "sub", binary)
        recs = [encoding.encode({"id": i, "t": "ab"}) for i in range(20)]
        await net.publish_dataset(key, "d", recs, ["id"])
        peer = net.peers[0]
        gate = trio.Event()

        async def held_run(fn: Any) -> Any:
            await gate.wait()
            return fn()

        peer.server.scheduler = FairScheduler(workers=1, per_peer=1, run_sync=held_run)
        req = QueryRequest(purl, hashlib.sha256(binary).digest(), f"note://{key.authority}/datasets/d", 1, 0,
                           b"ab").to_msg()
        hog = PeerRef(7, "/p2p/hog")
        replies: list[dict[str, Any]] = []

        async def ask(sender: PeerRef) -> None:
            replies.append(await peer.server.handle(sender, req))

        async with trio.open_nursery() as nursery:
            for _ in range(3):  # one runs (held), one waits, the third is refused
                nursery.start_soon(ask, hog)
            with trio.fail_after(10):
                while not replies:
                    await trio.sleep(0.01)
            assert replies[0]["error"]["code"] == "busy" and replies[0]["error"]["reason"] == "peer-queue"
            nursery.start_soon(ask, PeerRef(8, "/p2p/bystander"))  # another peer still gets a place
            await trio.sleep(0.05)
            gate.set()
        assert sum("receipt" in r for r in replies) == 3
