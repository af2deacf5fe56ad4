"""Transport figures: libp2p request round trips against plain trio TCP, measured in one run.

Measures, on 127.0.0.1:

* plain trio TCP round trip of one small frame (the baseline);
* NetHost request/reply on pooled long-lived streams vs a new stream per
  request, with mplex and with yamux (median of N sequential requests);
* 1 and 16 concurrent requesters (pooled streams, warm): requests per second;
* first request to a new peer (dial + Noise + muxer + stream), median of a few.

Usage: ``python benchmarks/bench_net.py [--n 500]``. Prints one line per
figure, ratios against the TCP baseline.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import time

import trio

from note_compute.net import NetConfig, encode_frame, open_host
from note_compute.net.framing import FrameDecoder


async def echo(sender: object, msg: dict) -> dict:
    return msg


async def tcp_baseline(n: int) -> float:
    async def serve(stream: trio.SocketStream) -> None:
        dec = FrameDecoder()
        while True:
            data = await stream.receive_some(65536)
            if not data:
                return
            for f in dec.feed(data):
                await stream.send_all(encode_frame(f))

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(functools.partial(trio.serve_tcp, serve, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        dec = FrameDecoder()
        times = []
        for i in range(n):
            t = time.perf_counter()
            await stream.send_all(encode_frame({"op": "echo", "i": i}))
            got: list = []
            while not got:
                got = dec.feed(await stream.receive_some(65536))
            times.append(time.perf_counter() - t)
        await stream.aclose()
        nursery.cancel_scope.cancel()
    return statistics.median(times)


async def libp2p_rtt(config: NetConfig, n: int) -> tuple[float, float]:
    async with open_host(os.urandom(32), config=config) as a, open_host(os.urandom(32), config=config, handler=echo) as b:
        ref = b.peer_ref
        for i in range(20):  # warm: connection, pool, identify
            await a.request(ref, {"op": "echo", "i": i}, timeout=5)
        times = []
        for i in range(n):
            t = time.perf_counter()
            await a.request(ref, {"op": "echo", "i": i}, timeout=5)
            times.append(time.perf_counter() - t)
    return statistics.median(times), statistics.mean(times)


async def libp2p_concurrent(config: NetConfig, n: int, width: int = 16) -> float:
    async with open_host(os.urandom(32), config=config) as a, open_host(os.urandom(32), config=config, handler=echo) as b:
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


async def main(n: int) -> None:
    base = await tcp_baseline(n)
    print(f"plain trio TCP round trip (baseline)        {base * 1e3:8.3f} ms  (median of {n})")
    rows = []
    for muxer in ("mplex", "yamux"):
        for mode in ("long-lived", "per-request"):
            cfg = NetConfig(muxer=muxer, stream_mode=mode)  # type: ignore[arg-type]
            rtt, mean = await libp2p_rtt(cfg, n if mode == "long-lived" else max(50, n // 4))
            rows.append((muxer, mode, rtt))
            print(
                f"libp2p {muxer:5} {mode:11} round trip        {rtt * 1e3:8.3f} ms  ({rtt / base:6.1f}x TCP)"
                f"  mean {mean * 1e3:.3f} ms"
            )
    for muxer in ("mplex", "yamux"):
        for width in (1, 16):
            rate = await libp2p_concurrent(NetConfig(muxer=muxer), n, width)  # type: ignore[arg-type]
            print(f"libp2p {muxer:5} {width:2} concurrent requesters     {rate:8.0f} req/s")
    for muxer in ("mplex", "yamux"):
        fc = await first_connect(NetConfig(muxer=muxer), 5)  # type: ignore[arg-type]
        print(f"libp2p {muxer:5} first request to a new peer  {fc * 1e3:8.1f} ms  (max_connections_per_peer=1)")
    best = min(rows, key=lambda r: r[2])
    print(f"fastest: {best[0]} {best[1]}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500, help="sequential requests per configuration")
    trio.run(main, ap.parse_args().n)
