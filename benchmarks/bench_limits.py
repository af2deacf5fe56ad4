"""A node under a connection flood and malformed frames; compute fairness. All on 127.0.0.1.

Part 1 (network): one node runs in its own process (``--serve``). A
bystander measures ``ring.ping`` and ``store.get`` latency (median, p99),
first on the idle node, then while an attacker process opens 1,000
short-lived connections (a new identity each, 8 at a time) and 8 other
identities send malformed frames in a loop; the node's RSS is read from
``/proc`` before, during and after. After the flood a new peer must still
be served.

Part 2 (compute): real wasm in the sandbox, in worker threads. A bystander
submits a ~10 ms query while a hog submits 16 long ones; its latency with
the fair scheduler (``compute.scheduler.FairScheduler``) against the old
one-at-a-time FIFO (``trio.CapacityLimiter(1)``) in the same run, and with
no hog at all.

Usage: ``python benchmarks/bench_limits.py [--conns 1000] [--n 200]``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

from note_compute.net import _p2p, open_host
from note_compute.ring.ids import PeerRef


def _pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(p * len(s)))]


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# -- the node (child process) ---------------------------------------------------------


async def serve(data_dir: str) -> None:
    from note_compute.node.runtime import NodeConfig, open_node

    async with open_node(NodeConfig(data_dir=Path(data_dir))) as node:
        node.store.put_value(b"v" * 1024)
        key = hashlib.sha256(b"v" * 1024).digest()
        print(node.me.addr, key.hex(), flush=True)
        await trio.sleep_forever()


# -- the attacker (child process) -------------------------------------------------------


async def attack(addr: str, node_id: int, conns: int) -> None:
    info = _p2p.peer_info(addr, node_id)
    done = 0
    failed = 0

    async def short_lived() -> None:
        nonlocal done, failed
        while done + failed < conns:
            host, _ = _p2p.build_host(os.urandom(32), muxer="mplex", connect_timeout=10)
            try:
                with trio.fail_after(20):
                    async with host.run(listen_addrs=[]):
                        await host.connect(info)
                        for c in list(host.get_network().get_connections(info.peer_id)):
                            await c.close()
                        await host.close()
                done += 1
            except BaseException:  # refused or timed out: the flood goes on
                failed += 1

    async def garbage(stop: trio.Event) -> None:
        async with open_host(os.urandom(32)) as me:
            peer = PeerRef(node_id, addr)
            while not stop.is_set():
                try:
                    stream = await me._open_stream(peer)
                    await stream.write(b"\x00\x00\x00\x09not cbor!" + b"\xff" * 64)
                    with trio.move_on_after(2):
                        await stream.read(4096)
                    await _p2p.quiet_reset(stream)
                except Exception:
                    await trio.sleep(0.01)

    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        for _ in range(8):
            nursery.start_soon(garbage, stop)
        async with trio.open_nursery() as flood:
            for _ in range(8):
                flood.start_soon(short_lived)
        stop.set()
    print(f"attacker: {done} short-lived connections made, {failed} refused or failed", flush=True)


# -- the bystander ---------------------------------------------------------------------


async def measure(me: Any, peer: PeerRef, key: bytes, n: int) -> tuple[list[float], list[float]]:
    pings, gets = [], []
    for _ in range(n):
        t = time.perf_counter()
        await me.request(peer, {"op": "ring.ping"}, timeout=30)
        pings.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        await me.request(peer, {"op": "store.get", "key": key}, timeout=30)
        gets.append((time.perf_counter() - t) * 1000)
    return pings, gets


async def network_part(conns: int, n: int) -> list[str]:
    out = []
    with tempfile.TemporaryDirectory() as d:
        node = subprocess.Popen([sys.executable, __file__, "--serve", d], stdout=subprocess.PIPE, text=True)
        try:
            assert node.stdout is not None
            addr, key_hex = node.stdout.readline().split()
            from note_compute.client import peer_ref_from_multiaddr

            peer = peer_ref_from_multiaddr(addr)
            key = bytes.fromhex(key_hex)
            async with open_host(os.urandom(32)) as me:
                await measure(me, peer, key, 20)  # warm
                rss_before = _rss_mib(node.pid)
                idle_p, idle_g = await measure(me, peer, key, n)
                attacker = subprocess.Popen([sys.executable, __file__, "--attack", addr, str(peer.id), str(conns)],
                                            stdout=subprocess.PIPE, text=True)
                t0 = time.time()
                flood_p: list[float] = []
                flood_g: list[float] = []
                rss_during = 0.0
                while attacker.poll() is None:
                    p, g = await measure(me, peer, key, 10)
                    flood_p += p
                    flood_g += g
                    rss_during = max(rss_during, _rss_mib(node.pid))
                flood_s = time.time() - t0
                assert attacker.stdout is not None
                out.append(attacker.stdout.read().strip())
                await trio.sleep(2)
                rss_after = _rss_mib(node.pid)
                async with open_host(os.urandom(32)) as newcomer:  # the node still takes new peers
                    await newcomer.request(peer, {"op": "ring.ping"}, timeout=10)
                out.append(f"flood lasted {flood_s:.1f} s; {len(flood_p)} bystander pings and gets during it; "
                           "a new peer was served after it")
                out.append("| figure | idle node | under flood | ratio |")
                out.append("| --- | --- | --- | --- |")
                for name, a, b in (("ping median", idle_p, flood_p), ("ping p99", idle_p, flood_p),
                                   ("get median", idle_g, flood_g), ("get p99", idle_g, flood_g)):
                    q = 0.5 if "median" in name else 0.99
                    ia, fb = _pct(a, q), _pct(b, q)
                    out.append(f"| {name} (ms) | {ia:.2f} | {fb:.2f} | {fb / ia:.1f}x |")
                out.append(f"| node RSS (MiB) | before {rss_before:.0f} | peak during {rss_during:.0f} | "
                           f"after {rss_after:.0f} |")
        finally:
            node.terminate()
            node.wait(10)
    return out


# -- compute fairness --------------------------------------------------------------------

_LOOP_WAT = """
(module
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 1024))
  (func (export "nc_abi_version") (result i32) (i32.const 1))
  (func (export "nc_alloc") (param $n i32) (result i32)
    (local $p i32) (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n))) (local.get $p))
  (func (export "nc_run") (param $p i32) (param $n i32) (result i64)
    (local $i i32) (local $k i32)
    (local.set $k (i32.load (i32.add (local.get $p) (i32.const 4))))
    (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
             (br_if $l (i32.lt_u (local.get $i) (local.get $k))))
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 8))))
"""


def compute_part() -> list[str]:
    import struct

    import wasmtime

    from note_compute.compute.scheduler import FairScheduler
    from note_compute.sandbox import Sandbox, pack_input

    sb = Sandbox()
    wasm = bytes(wasmtime.wat2wasm(_LOOP_WAT))

    def job(iters: int) -> Any:
        return lambda: sb.run(wasm, pack_input(struct.pack("<I", iters), []), fuel=10**12, deadline_ms=600_000)

    # Calibrate: iterations for ~10 ms and ~300 ms on this machine, now.
    t = time.perf_counter()
    job(20_000_000)()
    per = (time.perf_counter() - t) / 20_000_000
    short, long = int(0.010 / per), int(0.300 / per)

    async def scenario(kind: str, hog: bool) -> float:
        limiter = trio.CapacityLimiter(1)
        sched = FairScheduler(per_peer=16, total=64)

        async def submit(peer: str, iters: int) -> None:
            if kind == "fifo":
                await trio.to_thread.run_sync(job(iters), limiter=limiter)
            else:
                await sched.run(peer, job(iters))

        latency = 0.0
        async with trio.open_nursery() as nursery:
            if hog:
                for _ in range(16):
                    nursery.start_soon(submit, "hog", long)
                await trio.sleep(0.05)
            t0 = time.perf_counter()
            await submit("bystander", short)
            latency = (time.perf_counter() - t0) * 1000
        return latency

    alone = min(trio.run(scenario, "fair", False) for _ in range(3))
    fifo = trio.run(scenario, "fifo", True)
    fair = trio.run(scenario, "fair", True)
    return [
        f"calibrated: short query {short:,} iterations (~10 ms), long {long:,} (~300 ms); "
        f"workers = {FairScheduler().workers}",
        "| bystander's short query | latency (ms) | ratio to alone |",
        "| --- | --- | --- |",
        f"| alone (no hog) | {alone:.1f} | 1.0x |",
        f"| 16 long queries from a hog, old FIFO one-at-a-time | {fifo:.1f} | {fifo / alone:.1f}x |",
        f"| 16 long queries from a hog, fair scheduler | {fair:.1f} | {fair / alone:.1f}x |",
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--serve")
    ap.add_argument("--attack", nargs=3)
    ap.add_argument("--conns", type=int, default=1000)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--skip-network", action="store_true")
    args = ap.parse_args()
    if args.serve:
        trio.run(serve, args.serve)
        return
    if args.attack:
        addr, nid, conns = args.attack
        trio.run(attack, addr, int(nid), int(conns))
        return
    print(f"bench_limits {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()[0]:.1f}")
    if not args.skip_network:
        for line in trio.run(network_part, args.conns, args.n):
            print(line)
    for line in compute_part():
        print(line)


if __name__ == "__main__":
    main()
