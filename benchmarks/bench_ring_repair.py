"""Ring repair after kill and restart steps, before vs after the suspect list (issue 10).

On the in-memory network with the virtual clock (``testing/sim.py``; every
figure is virtual seconds, so machine load does not move it). For each ring
size and seed a ring is grown through the real join protocol, then each step
either kills a random node silently (then a fresh node joins, to keep the
size) or kills one and restarts it on the same id 0.5-3 s later. A step's
repair time is from the failure (kill) or the rejoin (restart) until every
live node's successor, predecessor and first three successors and
predecessors are right (``SimNetwork.ring_errors(3)``), polled every 50 ms,
given up after ``--limit`` s. Both configurations run the same seeds in the
same run: ``suspect_hold=0`` is the core before the fix (a peer that failed
is taken back from a neighbour's list at once), the default is after.

    .venv/bin/python benchmarks/bench_ring_repair.py [--sizes 6 8 16] [--seeds 10] [--steps 20]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from note_compute.testing import SimNetwork, SimNode


def live(net: SimNetwork, but: SimNode | None = None) -> list[SimNode]:
    return [x for x in net.nodes.values() if x.alive and x is not but and x.core.state == "joined"]


def run(size: int, seed: int, steps: int, limit: float, **core: Any) -> list[float | None]:
    net = SimNetwork(seed=seed, **core)
    net.grow(size)
    net.run_for(15.0)
    net.time_to_repair(limit)
    out: list[float | None] = []
    for _ in range(steps):
        victim = net.rng.choice(live(net))
        net.fail(victim)
        if net.rng.random() < 0.5:  # kill: measure, then a fresh node keeps the size
            out.append(net.time_to_repair(limit))
            newcomer = net.new_node()
            net.join(newcomer, [net.rng.choice(live(net))])
            net.time_to_repair(limit)
        else:  # restart on the same id after 0.5-3 s
            net.run_for(net.rng.uniform(0.5, 3.0))
            back = net.new_node(victim.peer)
            net.join(back, [net.rng.choice(live(net, back))])
            out.append(net.time_to_repair(limit))
        net.run_for(net.rng.uniform(1.0, 5.0))
    return out


def summary(times: list[float | None], limit: float) -> dict[str, float]:
    done = sorted(t if t is not None else limit for t in times)
    return {"steps": len(done), "median": statistics.median(done), "p95": done[int(0.95 * (len(done) - 1))],
            "max": done[-1], "over7": sum(1 for t in done if t > 7.0), "never": sum(1 for t in times if t is None)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[6, 8, 16])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--limit", type=float, default=60.0)
    args = ap.parse_args()
    print(f"ring repair, {args.seeds} seeds x {args.steps} kill/restart steps per size; virtual seconds; "
          f"'never' = not repaired within {args.limit:.0f} s (counted as {args.limit:.0f} s)")
    for size in args.sizes:
        res = {}
        for name, kw in (("before (suspect_hold=0)", {"suspect_hold": 0.0}), ("after", {})):
            t0 = time.process_time()
            times = [t for seed in range(args.seeds) for t in run(size, seed, args.steps, args.limit, **kw)]
            res[name] = s = summary(times, args.limit)
            print(f"  N={size:3d} {name:24s} median {s['median']:5.2f}  p95 {s['p95']:5.2f}  max {s['max']:5.2f}  "
                  f">7s {s['over7']:3d}/{s['steps']}  never {s['never']:3d}  ({time.process_time() - t0:.1f} s CPU)")
        b, a = res["before (suspect_hold=0)"], res["after"]
        print(f"  N={size:3d} after/before: median {a['median'] / b['median']:.2f}, p95 {a['p95'] / b['p95']:.2f}, "
              f"max {a['max'] / b['max']:.2f}")


if __name__ == "__main__":
    main()
