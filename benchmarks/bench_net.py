"""Transport figures: libp2p request round trips against plain trio TCP, measured in one run.

Measures, on 127.0.0.1:

* plain trio TCP round trip of one small frame (the baseline);
* NetHost request/reply on pooled long-lived streams vs a new stream per
  request, with mplex and with yamux (median of N sequential requests);
* 1 and 16 concurrent requesters (pooled streams, warm): requests per second;
* first request to a new peer (dial + Noise + muxer + stream), median of a few;
* store put/get costs (SQLite, WAL), for the node runtime's budget.

Usage: ``python benchmarks/bench_net.py [--n 500]``. Prints one line per
figure, ratios against the TCP baseline.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import time
from contextlib import AsyncExitStack

import trio

from note_compute.net import NetConfig, encode_frame, open_host
from note_compute.net.framing import FrameDecoder


async def echo(sender: object, msg: dict) -> dict:
    return msg


class _TcpEcho:
    """Plain trio TCP, the same frames, one connection: the baseline."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.dec = FrameDecoder()

    async def request(self, msg: dict) -> None:
        await self.stream.send_all(encode_frame(msg))
        got: list = []
        while not got:
            got = self.dec.feed(await self.stream.receive_some(65536))


async def _tcp_serve(stream: trio.SocketStream) -> None:
    dec = FrameDecoder()
    while True:
        data = await stream.receive_some(65536)
        if not data:
            return
        for f in dec.feed(data):
            await stream.send_all(encode_frame(f))


async def round_trips(n: int, rounds: int = 10) -> dict[str, list[float]]:
    """Sequential round trips for every configuration, interleaved in ``rounds``
    so that load from other processes hits every configuration alike."""
    configs = {
        f"{m} {mode}": NetConfig(muxer=m, stream_mode=mode)  # type: ignore[arg-type]
        for m in ("mplex", "yamux")
        for mode in ("long-lived", "per-request")
    }
    times: dict[str, list[float]] = {"tcp": [], **{k: [] for k in configs}}
    async with trio.open_nursery() as nursery, AsyncExitStack() as stack:
        listeners = await nursery.start(functools.partial(trio.serve_tcp, _tcp_serve, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        tcp = _TcpEcho(await trio.open_tcp_stream("127.0.0.1", port))
        clients = {}
        for name, cfg in configs.items():
            a = await stack.enter_async_context(open_host(os.urandom(32), config=cfg))
            b = await stack.enter_async_context(open_host(os.urandom(32), config=cfg, handler=echo))
            clients[name] = (a, b.peer_ref)
            for i in range(10):  # warm: connection, pool, identify
                await a.request(b.peer_ref, {"op": "echo", "i": i}, timeout=5)
        per_round = max(1, n // rounds)
        for _ in range(rounds):
            for i in range(per_round):
                t = time.perf_counter()
                await tcp.request({"op": "echo", "i": i})
                times["tcp"].append(time.perf_counter() - t)
            for name, (a, ref) in clients.items():
                k = per_round if "long-lived" in name else max(5, per_round // 4)
                for i in range(k):
                    t = time.perf_counter()
                    await a.request(ref, {"op": "echo", "i": i}, timeout=5)
                    times[name].append(time.perf_counter() - t)
        await tcp.stream.aclose()
        nursery.cancel_scope.cancel()
    return times


async def libp2p_concurrent(config: NetConfig, n: int, width: int = 16) -> float:
    async with (
        open_host(os.urandom(32), config=config) as a,
        open_host(os.urandom(32), config=config, handler=echo) as b,
    ):
        ref = b.peer_ref

        async def worker(count: int) -> None:
            for i in range(count):
                await a.request(ref, {"op": "echo", "i": i}, timeout=10)

        async with trio.open_nursery() as nursery:  # warm: open every pooled stream
            for _ in range(width):
                nursery.start_soon(worker, 3)
        t = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(width):
                nursery.start_soon(worker, n // width)
        elapsed = time.perf_counter() - t
    return (n // width) * width / elapsed


async def first_connect(config: NetConfig, tries: int) -> float:
    times = []
    async with open_host(os.urandom(32), config=config, handler=echo) as b:
        for _ in range(tries):
            async with open_host(os.urandom(32), config=config) as a:
                t = time.perf_counter()
                await a.request(b.peer_ref, {"op": "echo"}, timeout=5)
                times.append(time.perf_counter() - t)
    return statistics.median(times)


def store_figures(n: int = 2000) -> None:
    """Store put/get costs (records include Ed25519 verification), for the node's budget."""
    import tempfile

    from note_compute import records, urls
    from note_compute.crypto import SigningKey
    from note_compute.store import Store

    key = SigningKey(bytes(32))
    encs = [
        records.sign_record(key, urls.make_url(key.authority, f"/r{i}"), seq=1, value=os.urandom(1000), created=1)
        for i in range(n)
    ]
    addrs = [records.Record.decode(e.encode()).address for e in encs]
    blobs = [os.urandom(1000) for _ in range(n)]
    with tempfile.TemporaryDirectory() as d:
        store = Store.in_dir(d)
        for label, fn in [
            ("put_record (1 KB value, verified)", lambda i: store.put_record(encs[i].encode(), peer=b"p" * 32, now=2)),
            ("put_value (1 KB)", lambda i: store.put_value(blobs[i], peer=b"p" * 32)),
            ("get", lambda i: store.get(addrs[i])),
        ]:
            t = time.perf_counter()
            for i in range(n):
                fn(i)
            print(f"store {label:35} {(time.perf_counter() - t) / n * 1e6:8.0f} us each (n={n})")
        t = time.perf_counter()
        got = store.digests(bytes(32), bytes(32))
        print(f"store digests of the whole ring ({len(got)} entries) {(time.perf_counter() - t) * 1e3:8.1f} ms")
        store.close()


async def main(n: int) -> None:
    times = await round_trips(n)
    base = statistics.median(times.pop("tcp"))
    print(f"plain trio TCP round trip (baseline)        {base * 1e3:8.3f} ms  (median)")
    rows = []
    for name, ts in times.items():
        med = statistics.median(ts)
        rows.append((name, med))
        print(
            f"libp2p {name:23} round trip {med * 1e3:8.3f} ms  ({med / base:6.1f}x TCP)"
            f"  mean {statistics.mean(ts) * 1e3:.3f} ms, n={len(ts)}"
        )
    for muxer in ("mplex", "yamux"):
        for width in (1, 16):
            rate = await libp2p_concurrent(NetConfig(muxer=muxer), n, width)  # type: ignore[arg-type]
            print(f"libp2p {muxer:5} {width:2} concurrent requesters     {rate:8.0f} req/s")
    for muxer in ("mplex", "yamux"):
        fc = await first_connect(NetConfig(muxer=muxer), 5)  # type: ignore[arg-type]
        print(f"libp2p {muxer:5} first request to a new peer  {fc * 1e3:8.1f} ms  (max_connections_per_peer=1)")
    best = min(rows, key=lambda r: r[1])
    print(f"fastest round trip: {best[0]}")
    store_figures()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500, help="sequential requests per configuration")
    trio.run(main, ap.parse_args().n)
