#!/usr/bin/env python3
"""PSI benchmarks: DH-PSI 10,000 x 10,000 against openmined-psi, bytes per element, the dating demo.

    python benchmarks/bench_psi.py                 # print the figures
    python benchmarks/bench_psi.py --write         # also write benchmarks/results/psi.md
    python benchmarks/bench_psi.py --population-only --users 200 --nodes 6   # the demo on a local network
    python benchmarks/bench_psi.py --population-only --baseline-parallel 1   # concurrent users vs one at a time

Targets (issue 13): DH-PSI of 10,000 x 10,000 elements, both parties plus the
psi_match contract, <= 0.6 of openmined-psi's time measured in the same run
on the same machine (``pip install 'note-compute[bench]'``); <= 64 bytes per
element each way; the demo population's (200 users) full matching time.

Ours: A blinds (hash-to-group + exponentiation), B blinds, each doubly-blinds
the other's set (B keeps A's order), then psi_match (WebAssembly, in the
sandbox) intersects the two doubly-blinded sets and A maps the hits back to
its elements: A learns the intersection, as openmined-psi's client does. openmined-psi 2.0 (C++, P-256): server setup
(RAW, encrypts its set), client request, server response, client
intersection (reveal_intersection=True). Runs alternate ours / theirs; the
figure is the median of ``--runs`` runs of each.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from note_compute import encoding
from note_compute.psi import Party
from note_compute.sandbox import Sandbox, pack_input

RESULTS = Path(__file__).resolve().parent / "results" / "psi.md"
PSI_WASM = (Path(__file__).resolve().parents[1] / "contracts" / "psi_match.wasm").read_bytes()


def sets(n: int, common: int) -> tuple[list[bytes], list[bytes]]:
    xs = [b"a%d" % i for i in range(n - common)] + [b"c%d" % i for i in range(common)]
    ys = [b"b%d" % i for i in range(n - common)] + [b"c%d" % i for i in range(common)]
    return xs, ys


def ours(xs: list[bytes], ys: list[bytes], sandbox: Sandbox, parallel: bool | None) -> dict[str, float]:
    n = max(len(xs), len(ys))
    c0 = time.process_time()
    t0 = time.perf_counter()
    a, b = Party(1, n), Party(1, n)
    sa = a.blind(xs, parallel=parallel)
    sb = b.blind(ys, parallel=parallel)
    t1 = time.perf_counter()
    da = a.double(sb, parallel=parallel)                   # A doubles B's set (sorted)
    db = b.double(sa, parallel=parallel, keep_order=True)  # B doubles A's set, in A's order
    t2 = time.perf_counter()
    # psi_match over A's doubly-blinded elements (sorted, as records) against B's; A maps the hits back
    order = sorted(range(len(db.points)), key=db.points.__getitem__)
    data = pack_input(encoding.encode({"set": b"".join(da.points)}), [encoding.encode(db.points[i]) for i in order])
    hits = sandbox.run(PSI_WASM, data, fuel=10**10).indices
    found = sorted(e for e in (a.element_at(order[j]) for j in hits) if e is not None)
    t3 = time.perf_counter()
    cpu = time.process_time() - c0
    assert found == a.reveal(db, da) == sorted(set(xs) & set(ys))
    wire_a = len(sa.encode()) + len(da.encode())
    wire_b = len(sb.encode()) + len(db.encode())
    return {"total": t3 - t0, "cpu": cpu, "blind": t1 - t0, "double": t2 - t1, "match": t3 - t2, "hits": len(found),
            "bytes_a": wire_a / len(xs), "bytes_b": wire_b / len(ys)}


def openmined(xs: list[bytes], ys: list[bytes]) -> dict[str, float]:
    import private_set_intersection.python as psi

    client_items = [x.decode() for x in xs]
    server_items = [y.decode() for y in ys]
    c0 = time.process_time()
    t0 = time.perf_counter()
    client = psi.client.CreateWithNewKey(True)
    server = psi.server.CreateWithNewKey(True)
    setup = server.CreateSetupMessage(0.0, len(client_items), server_items, psi.DataStructure.RAW)
    request = client.CreateRequest(client_items)
    response = server.ProcessRequest(request)
    inter = client.GetIntersection(setup, response)
    t1 = time.perf_counter()
    cpu = time.process_time() - c0
    to_client = len(setup.SerializeToString()) + len(response.SerializeToString())
    to_server = len(request.SerializeToString())
    return {"total": t1 - t0, "cpu": cpu, "hits": len(inter), "bytes_server": to_client / len(ys),
            "bytes_client": to_server / len(xs)}


PHASES = {"load_deck": "deck", "start_epoch": "blind", "publish_doubles": "double", "find_matches": "match",
          "share_profile": "share"}


class RequestCount:
    """Counts the ring client's requests by phase (the DatingUser method running) and kind (API call, wire op).

    The phases run one after another (each ends before the next starts), so one current phase is enough."""

    def __init__(self) -> None:
        import collections

        self.phase = "setup"
        self.api: collections.Counter[tuple[str, str]] = collections.Counter()
        self.ops: collections.Counter[tuple[str, str]] = collections.Counter()

    def install(self, client: object) -> None:
        import functools

        from examples.dating.app import DatingUser

        for meth, phase in PHASES.items():
            orig = getattr(DatingUser, meth)
            if getattr(orig, "_counted", False):
                orig = orig.__wrapped__

            def on_user(orig: Any = orig, phase: str = phase) -> Any:
                @functools.wraps(orig)
                async def f(*a: Any, **k: Any) -> Any:
                    self.phase = phase
                    return await orig(*a, **k)
                f._counted = True  # type: ignore[attr-defined]
                return f
            setattr(DatingUser, meth, on_user())
        for name in ("get_record", "put_record", "get_blob", "put_blob", "get_value", "put_value", "replicas",
                     "request"):
            def on_client(orig: Any, name: str) -> Any:
                @functools.wraps(orig)  # keeps the signature (the app asks whether get_record takes ``direct``)
                async def f(*a: Any, **k: Any) -> Any:
                    self.api[(self.phase, name)] += 1
                    return await orig(*a, **k)
                return f
            setattr(client, name, on_client(getattr(client, name), name))
        host = client.host  # type: ignore[attr-defined]
        send = host.request

        async def request(peer: Any, msg: Any, timeout: float) -> Any:
            self.ops[(self.phase, msg.get("op", "?") if isinstance(msg, dict) else "?")] += 1
            return await send(peer, msg, timeout)
        host.request = request

    def lines(self, rounds: int) -> list[str]:
        out = []
        for title, c in (("API calls", self.api), ("wire requests (op)", self.ops)):
            out.append(f"- {title} per round ({rounds} rounds):")
            for ph in ("setup", "deck", "blind", "double", "match", "share"):
                items = sorted((k[1], v) for k, v in c.items() if k[0] == ph)
                if items:
                    out.append(f"  - {ph}: {sum(v for _, v in items) / rounds:.2f} = " +
                               ", ".join(f"{n} {v / rounds:.2f}" for n, v in items))
            matching = sum(v for k, v in c.items() if k[0] in ("blind", "double", "match"))
            out.append(f"  - matching (blind + double + match): **{matching / rounds:.2f}**; whole run "
                       f"{sum(c.values()) / rounds:.2f}")
        return out


async def demo_population(users: int, parallel: int, nodes: int = 0,
                          count: RequestCount | None = None) -> dict[str, float]:
    """The dating demo's population: on the in-memory network (``nodes`` 0) or an embedded local network;
    ``count`` (local network only): count the ring client's requests."""
    from examples.dating.demo import run_population
    from examples.dating.population import make_population
    from note_compute.compute.client import ComputeClient
    from note_compute.testing.compute import ComputeNetwork

    async def on(net: object, sandbox: Sandbox) -> dict[str, float]:
        transport = getattr(net, "client", net)
        if count is not None and transport is not net:
            count.install(transport)
        run = await run_population(transport, ComputeClient(transport, sandbox), make_population(users, seed=1),
                                   parallel=parallel)
        run.check_ground_truth()
        return {**run.seconds, "rounds": run.rounds, "pairs": len(run.pop.mutual()),
                "bytes_per_query": run.proof_bytes / max(1, 2 * run.rounds)}

    with Sandbox() as sandbox:
        if not nodes:
            return await on(ComputeNetwork(8, sandbox), sandbox)
        import tempfile

        from examples.demo import embedded_network

        with tempfile.TemporaryDirectory(prefix="bench-psi-") as tmp:
            async with embedded_network(nodes, Path(tmp), lambda s: None) as net:
                return await on(net, sandbox)


def _population_line(users: int, demo: dict[str, float], where: str) -> str:
    return (f"Dating demo population, {users} users, {where}: {demo['rounds']:.0f} rounds, "
            f"{demo['pairs']:.0f} mutual pairs (all found by both, checked against the ground truth); full matching "
            f"{demo['matching']:.1f} s = blind {demo['blind']:.1f} s + double (dataset publish) {demo['double']:.1f} s + "
            f"match on peers with proofs {demo['match']:.1f} s; decks {demo['decks']:.1f} s; "
            f"{demo['bytes_per_query']:.0f} bytes of answer + proof per match query.")


def population_only(args: argparse.Namespace) -> int:
    """The demo population alone (``--population-only``), optionally against a baseline concurrency."""
    import trio

    where = (f"embedded local network of {args.nodes} node processes" if args.nodes
             else "8 in-memory compute peers")
    load0 = os.getloadavg()[0]
    runs: dict[int, list[dict[str, float]]] = {args.parallel: []}
    if args.baseline_parallel:
        runs[args.baseline_parallel] = []
    counts: list[str] = []
    for _ in range(args.runs):
        for par in runs:
            count = RequestCount() if args.count_requests and args.nodes else None
            runs[par].append(trio.run(demo_population, args.users, par, args.nodes, count))
            if count is not None:
                counts += [f"Requests, {par} user(s) at once, run {len(runs[par])}:", *count.lines(
                    int(runs[par][-1]["rounds"]))]
    load1 = os.getloadavg()[0]
    lines = [f"# PSI: the dating population ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
             f"load {load0:.1f} -> {load1:.1f})", "",
             f"`python benchmarks/bench_psi.py --population-only --users {args.users} --nodes {args.nodes} "
             f"--parallel {args.parallel} --baseline-parallel {args.baseline_parallel} --runs {args.runs}`", ""]
    med: dict[int, float] = {}
    for par, rs in runs.items():
        med[par] = statistics.median(r["matching"] for r in rs)
        best = min(rs, key=lambda r: r["matching"])
        lines += [f"- {par} user(s) at once: full matching median {med[par]:.1f} s "
                  f"(runs {[round(r['matching'], 1) for r in rs]}). " + _population_line(args.users, best, where)]
    if args.baseline_parallel:
        lines += ["", f"Ratio, {args.parallel} at once / {args.baseline_parallel} at once (full matching, median): "
                  f"**{med[args.parallel] / med[args.baseline_parallel]:.2f}**"]
    if counts:
        lines += ["", *counts]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        RESULTS.with_name("psi_population.md").write_text(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--common", type=int, default=1_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--users", type=int, default=200, help="demo population (0: skip it)")
    ap.add_argument("--parallel", type=int, default=0,
                    help="users acting at once in the demo population (default: 16 on a local network, "
                         "1 in memory, where running them concurrently in one process gains nothing)")
    ap.add_argument("--nodes", type=int, default=0,
                    help="run the demo population on an embedded local network of this many node processes "
                         "(0: the in-memory network of 8 compute peers)")
    ap.add_argument("--population-only", action="store_true", help="skip the 10,000 x 10,000 comparison")
    ap.add_argument("--baseline-parallel", type=int, default=0,
                    help="with --population-only: also run the population with this many users at once "
                         "(1: one after another, as before the users ran concurrently), alternating, and "
                         "give the ratio")
    ap.add_argument("--count-requests", action="store_true",
                    help="with --population-only and --nodes: count the ring client's requests per round, by "
                         "phase and kind (API calls: record/blob gets and puts, lookups, compute queries; wire ops)")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args(argv)
    if not args.parallel:
        args.parallel = 16 if args.nodes else 1
    if args.population_only:
        return population_only(args)
    xs, ys = sets(args.n, args.common)
    load0 = os.getloadavg()[0]
    rows: dict[str, list[dict[str, float]]] = {"ours": [], "ours_1core": [], "openmined": []}
    try:
        import private_set_intersection.python  # noqa: F401
    except ImportError:
        print("openmined-psi is not installed (pip install 'note-compute[bench]'): "
              "nothing to compare with, skipping the PSI benchmark")
        return 0
    with Sandbox() as sandbox:
        ours(xs[:200], ys[:200], sandbox, None)  # warm: compile psi_match, start the threads
        for _ in range(args.runs):
            rows["openmined"].append(openmined(xs, ys))
            rows["ours"].append(ours(xs, ys, sandbox, None))
            rows["ours_1core"].append(ours(xs, ys, sandbox, False))
    for r in rows.values():
        assert all(x["hits"] == args.common for x in r), "wrong intersection size"

    def med(name: str, key: str = "total") -> float:
        return statistics.median(r[key] for r in rows[name])

    import trio

    demo = trio.run(demo_population, args.users, args.parallel, args.nodes) if args.users else None
    load1 = os.getloadavg()[0]
    lines = [
        (f"# PSI ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, load {load0:.1f} -> {load1:.1f})"),
        "",
        (f"`python benchmarks/bench_psi.py --n {args.n} --runs {args.runs} --users {args.users}`; "
        f"{args.n:,} x {args.n:,} elements, {args.common:,} in common; median of {args.runs} runs each, interleaved."),
        "",
        "| | total | blind (both) | double (both) | psi_match | ratio to openmined-psi |",
        "| --- | --- | --- | --- | --- | --- |",
        (f"| ours, ristretto255, threads on {os.cpu_count()} cores | {med('ours'):.2f} s | {med('ours', 'blind'):.2f} s"
        f" | {med('ours', 'double'):.2f} s | {med('ours', 'match') * 1000:.0f} ms | **{med('ours') / med('openmined'):.2f}** |"),
        (f"| ours, one core | {med('ours_1core'):.2f} s | {med('ours_1core', 'blind'):.2f} s"
        f" | {med('ours_1core', 'double'):.2f} s | {med('ours_1core', 'match') * 1000:.0f} ms"
        f" | {med('ours_1core') / med('openmined'):.2f} |"),
        f"| openmined-psi 2.0.6 (P-256, one core) | {med('openmined'):.2f} s | | | | 1.00 |",
        "",
        (f"Runs (s): ours {[round(r['total'], 2) for r in rows['ours']]}, one core "
        f"{[round(r['total'], 2) for r in rows['ours_1core']]}, openmined {[round(r['total'], 2) for r in rows['openmined']]}."),
        "",
        (f"CPU time (all threads), median: ours {med('ours', 'cpu'):.2f} s, one core {med('ours_1core', 'cpu'):.2f} s, "
         f"openmined-psi {med('openmined', 'cpu'):.2f} s: ratio {med('ours_1core', 'cpu') / med('openmined', 'cpu'):.2f} "
         "(the work each does, whatever the load)."),
        "",
        (f"Bytes per element each way (blinded set + doubly-blinded set, canonical CBOR): ours A -> "
        f"{rows['ours'][0]['bytes_a']:.2f}, B -> {rows['ours'][0]['bytes_b']:.2f}; openmined-psi server -> client "
        f"{rows['openmined'][0]['bytes_server']:.2f}, client -> server {rows['openmined'][0]['bytes_client']:.2f}."),
    ]
    if demo is not None:
        where = (f"embedded local network of {args.nodes} node processes" if args.nodes
                 else "8 in-memory compute peers")
        lines += ["", _population_line(args.users, demo, where) + f" ({args.parallel} users at once)"]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        RESULTS.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
