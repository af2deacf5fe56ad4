"""Ring simulation figures (issue 3): N = 10,000 on the in-memory network.

Prints, for a converged ring of N nodes (oracle-filled tables, real lookup
protocol): mean / p95 / max lookup hops against Chord's 0.5 * log2(N) + 1;
the share of lookups that find the right live successor with 20 % of nodes
failed silently and no repair; the same after stabilization; and, for a
smaller ring grown through the real join protocol, how long (virtual time)
it takes to become a correct ring.

    .venv/bin/python benchmarks/bench_ring_sim.py [--nodes 10000] [--lookups 2000] [--seed 1]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

from note_compute.testing import SimNetwork


def lookups(net: SimNetwork, count: int) -> tuple[list[int], int, float]:
    results, right = net.random_lookups(count)
    return [r.hops for r in results], right, sum(r.queries for r in results) / count


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=10_000)
    ap.add_argument("--lookups", type=int, default=2000)
    ap.add_argument("--grow", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    n, q = args.nodes, args.lookups
    bound = 0.5 * math.log2(n) + 1

    t0 = time.perf_counter()
    net = SimNetwork(seed=args.seed, maintenance=False)
    nodes = net.build_converged(n)
    t_build = time.perf_counter() - t0
    print(f"N = {n}: converged ring built in {t_build:.2f} s (oracle tables, k = 8, 8 successors, r = 3)")

    t0 = time.process_time()
    hops, right, qpl = lookups(net, q)
    t_look = time.process_time() - t0
    hops.sort()
    mean = statistics.mean(hops)
    print(
        f"lookups, no failures: {right}/{q} right; hops mean {mean:.2f} (Chord bound 0.5*log2(N)+1 = {bound:.2f}), "
        f"median {hops[len(hops) // 2]}, p95 {hops[int(0.95 * len(hops))]}, max {hops[-1]}; {qpl:.1f} queries per lookup (alpha = 3); "
        f"{t_look / q * 1e3:.2f} ms CPU per simulated lookup"
    )

    for node in net.rng.sample(nodes, n // 5):
        net.fail(node)
    hops_f, right_f, qpl_f = lookups(net, q)
    print(
        f"20% failed silently, no repair: {right_f}/{q} right ({100 * right_f / q:.2f} %); hops mean {statistics.mean(hops_f):.2f}; "
        f"{qpl_f:.1f} queries per lookup"
    )

    t0 = time.perf_counter()
    start = net.now
    net.start_maintenance()
    while net.ring_errors() and net.now - start < 60:
        net.run_for(1.0)
    errs = len(net.ring_errors())
    print(f"stabilization: ring correct after {net.now - start:.0f} virtual s ({errs} wrong pointers left; "
          f"{time.perf_counter() - t0:.1f} s wall)")
    hops_s, right_s, _ = lookups(net, q)
    print(
        f"after stabilization: {right_s}/{q} right ({100 * right_s / q:.2f} %); hops mean {statistics.mean(hops_s):.2f}"
    )

    t0 = time.perf_counter()
    g = SimNetwork(seed=args.seed + 1)
    first = g.new_node()
    g.create(first)
    grown = [first]
    for _ in range(args.grow - 1):
        node = g.new_node()
        g.join(node, [g.rng.choice(grown)])
        grown.append(node)
        g.run_for(0.1)
    joined_at = g.now
    while g.ring_errors() and g.now - joined_at < 120:
        g.run_for(0.5)
    ok = not g.ring_errors()
    hops_g, right_g, _ = lookups(g, min(q, 500))
    print(f"grown by joins, N = {args.grow} (one join every 0.1 virtual s): ring {'correct' if ok else 'NOT correct'} "
          f"{g.now - joined_at:.1f} virtual s after the last join; lookups {right_g}/{min(q, 500)} right, "
          f"hops mean {statistics.mean(hops_g):.2f} (bound {0.5 * math.log2(args.grow) + 1:.2f}); "
          f"{g.messages} messages; {time.perf_counter() - t0:.1f} s wall")


if __name__ == "__main__":
    main()
