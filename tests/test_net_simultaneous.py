"""Two real libp2p nodes that dial each other at the same moment (no injection).

The last session saw simultaneous dials occasionally end in
``PeerUnreachable`` and could only test its stream-open retry by injecting a
failure. Here both hosts' ``connect`` wait at a barrier and then dial at
once, several requests each way, round after round, with every connection
dropped in between so that each round dials afresh.

What py-libp2p 0.8.1 does (its ``Swarm.add_conn``): both dials succeed and
each side keeps **two** connections to the other; ``max_connections_per_peer
= 1`` would trim one, but trimming runs only when a connection is
registered and spares connections younger than ``grace_period`` (20 s), so
neither is closed under a stream being opened. Requests succeed on either.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import trio

from note_compute.net import NetConfig, NetHost, open_host

ROUNDS = 4
PER_SIDE = 4


async def handler(sender: Any, msg: dict[str, Any]) -> dict[str, Any]:
    return {"echo": msg.get("x"), "from": sender.id_bytes.hex()}


def _barrier_connect(host: NetHost, arrived: list[int], go: trio.Event, dials: list[int]) -> None:
    real = host._host.connect

    async def connect(info: Any, *args: Any, **kw: Any) -> Any:
        if not host._host.get_network().get_connections(info.peer_id):
            arrived.append(1)
            if len(arrived) >= 2:
                go.set()
            with trio.move_on_after(5):  # the other side never came (a test failure below, not a hang)
                await go.wait()
            dials.append(1)
        return await real(info, *args, **kw)

    host._host.connect = connect


@pytest.mark.slow
@pytest.mark.parametrize("muxer", ["mplex", "yamux"])
async def test_two_nodes_dialling_each_other_at_once_both_get_answers(muxer: str) -> None:
    config = NetConfig(muxer=muxer)  # type: ignore[arg-type]
    async with open_host(os.urandom(32), handler=handler, config=config) as a, \
            open_host(os.urandom(32), handler=handler, config=config) as b:
        failures: list[str] = []
        both_dialled = 0
        for rnd in range(ROUNDS):
            arrived: list[int] = []
            go = trio.Event()
            dials: list[int] = []
            _barrier_connect(a, arrived, go, dials)
            _barrier_connect(b, arrived, go, dials)

            async def ask(src: NetHost, dst: NetHost, x: int, rnd: int = rnd) -> None:
                try:
                    rep = await src.request(dst.peer_ref, {"x": x}, timeout=15)
                    if rep != {"echo": x, "from": src.peer_ref.id_bytes.hex()}:
                        failures.append(f"round {rnd}: wrong reply {rep}")
                except Exception as exc:  # every failure is collected and reported
                    failures.append(f"round {rnd}: {type(exc).__name__}: {exc}")

            async with trio.open_nursery() as n:
                for i in range(PER_SIDE):
                    n.start_soon(ask, a, b, i)
                    n.start_soon(ask, b, a, 100 + i)
            both_dialled += len(dials) >= 2
            conns_a = a._host.get_network().get_connections(b._host.get_id())
            conns_b = b._host.get_network().get_connections(a._host.get_id())
            assert 1 <= len(conns_a) <= 2 and 1 <= len(conns_b) <= 2
            # The pooled streams keep working afterwards, both ways at once.
            async with trio.open_nursery() as n:
                n.start_soon(ask, a, b, 1000 + rnd)
                n.start_soon(ask, b, a, 2000 + rnd)
            await a.forget(b.peer_ref)
            await b.forget(a.peer_ref)
            with trio.fail_after(10):
                while a.connected_peers() or b.connected_peers():
                    await trio.sleep(0.02)
        assert failures == []
        assert both_dialled == ROUNDS  # every round really was a simultaneous dial
