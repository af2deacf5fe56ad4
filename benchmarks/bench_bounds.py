"""Wall-clock bounds that tests no longer assert (a loaded machine stretches them), measured here.

1. Sandbox deadline: an infinite loop with unlimited fuel and a 50 ms
   deadline; how long until the typed ``deadline`` error, as a ratio to the
   deadline (the tests check the reason and the lower bound only).
2. Three such runs at once on three threads: wall time as a ratio to the deadline.
3. Host close: file descriptors open after 10 cycles of opening two libp2p
   hosts, one request, closing them, against the count before the cycles
   (the tests check that connections are closed, not the descriptor count).

Usage: ``python benchmarks/bench_bounds.py``
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import trio  # noqa: E402
import wasmtime  # noqa: E402

from note_compute.errors import SandboxError  # noqa: E402
from note_compute.net import open_host  # noqa: E402
from note_compute.sandbox import Sandbox  # noqa: E402

DEADLINE_MS = 50
LOOP = wasmtime.wat2wasm("""
(module
  (memory (export "memory") 1)
  (func (export "nc_abi_version") (result i32) (i32.const 1))
  (func (export "nc_alloc") (param i32) (result i32) (i32.const 16))
  (func (export "nc_run") (param i32 i32) (result i64) (loop $l (br $l)) (i64.const 0)))
""")
INPUT = (0).to_bytes(4, "little") + (0).to_bytes(4, "little")


def _deadline_run(sb: Sandbox) -> float:
    start = time.monotonic()
    try:
        sb.run(LOOP, INPUT, fuel=10**15, deadline_ms=DEADLINE_MS)
    except SandboxError as exc:
        assert exc.reason == "deadline", exc.reason
    return time.monotonic() - start


def sandbox_bounds() -> None:
    sb = Sandbox()
    _deadline_run(sb)  # compile once
    one = [_deadline_run(sb) for _ in range(10)]
    walls = []
    for _ in range(5):
        start = time.monotonic()
        threads = [threading.Thread(target=_deadline_run, args=(sb,)) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        walls.append(time.monotonic() - start)
    sb.close()
    d = DEADLINE_MS / 1000
    print(f"deadline-bounded loop: median {statistics.median(one) * 1000:.1f} ms, "
          f"max {max(one) * 1000:.1f} ms for a {DEADLINE_MS} ms deadline "
          f"(ratio median {statistics.median(one) / d:.2f}, max {max(one) / d:.2f})")
    print(f"three at once: median wall {statistics.median(walls) * 1000:.1f} ms "
          f"(ratio to the deadline {statistics.median(walls) / d:.2f})")


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def _host_cycles(n: int) -> tuple[int, int]:
    async def echo(sender: object, msg: dict[str, object]) -> dict[str, object]:
        return {"echo": msg.get("x")}

    async def cycle() -> None:
        async with open_host(os.urandom(32), handler=echo) as a, open_host(os.urandom(32), handler=echo) as b:
            await a.request(b.peer_ref, {"op": "echo", "x": 1}, timeout=10)

    await cycle()  # warm up imports and lazily created descriptors
    await trio.sleep(0.2)
    before = _fds()
    for _ in range(n):
        await cycle()
    await trio.sleep(1.0)
    return before, _fds()


def main() -> int:
    sandbox_bounds()
    if os.path.isdir("/proc/self/fd"):
        before, after = trio.run(_host_cycles, 10)
        print(f"host close: {after - before:+d} descriptors after 10 open/request/close cycles "
              f"({before} open before, {after} after)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
