"""Command-line startup (issue 11): `note-compute --help` and `get` on a warm local network.

Each command runs as a fresh process, ``--runs`` times, alternating with the
baseline ``python -c pass`` so load swings hit all of them alike; the table
gives wall-clock medians, CPU time (user + sys, less sensitive to a shared
machine's load) and the ratio to the baseline. Also measured: ``python -c
"import libp2p"`` (the floor of any command that talks to the ring) and, in
one process, the phases of a ``get`` with its own libp2p host (imports,
connect, fetch, close), and a verified range query over the README's sample
catalog (300 products, 3 shards: the program and the dataset are fetched and
verified, the program re-run on every record in range). A ``get`` on the local network goes through the
supervisor's relay (``note_compute/relay.py``) unless ``NOTE_NO_RELAY=1``.

Every command runs once unmeasured first, with bytecode caching on (as for an
installed package; ``PYTHONDONTWRITEBYTECODE`` is dropped for the children).

Usage: ``python benchmarks/bench_cli.py [--runs 9] [--out benchmarks/results/cli.md]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PHASES = r'''
import time, sys
t0 = time.perf_counter()
import trio
from note_compute.client import open_client
import libp2p
t1 = time.perf_counter()
out = {}
async def go():
    t = time.perf_counter()
    async with open_client(None) as c:
        t2 = time.perf_counter(); out["connect"] = t2 - t
        await c.get_record(sys.argv[1])
        t3 = time.perf_counter(); out["fetch"] = t3 - t2
    out["close"] = time.perf_counter() - t3
trio.run(go)
out["imports"] = t1 - t0
print(" ".join(f"{k}={v:.4f}" for k, v in out.items()))
'''


def timed(cmd: list[str], env: dict[str, str], extra: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) for one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(cmd, env={**env, **(extra or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed: {proc.stderr.decode()[-500:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "NOTE_HOME": str(Path(tmp) / "home"), "PYTHONPATH": str(ROOT)}
        # Measure what a user runs: an installed package has its bytecode cached. Without the cache every
        # command compiles its ~300 modules again (about 0.4 s of CPU here), so let it be written and used.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        nc = [py, "-m", "note_compute.cli"]
        subprocess.run([*nc, "devnet", "-d", "--nodes", "3"], env=env, check=True, stdout=subprocess.DEVNULL)
        try:
            authority = subprocess.run([*nc, "key", "new", "b", "-q"], env=env, check=True, capture_output=True,
                                       text=True).stdout.strip()
            f = Path(tmp) / "v.txt"
            f.write_text("hello\n")
            url = f"note://{authority}/bench"
            subprocess.run([*nc, "put", url, str(f), "--key", "b"], env=env, check=True, stdout=subprocess.DEVNULL)
            program = subprocess.run([*nc, "program", "publish", str(ROOT / "contracts" / "shop_search.wasm"), "--key",
                                      "b", "--name", "shop_search", "-q"], env=env, check=True, capture_output=True,
                                     text=True).stdout.strip()
            dataset = subprocess.run([*nc, "dataset", "publish", str(ROOT / "examples" / "data" / "products.jsonl"),
                                      "--key", "b", "--name", "products", "--sort-key", "price,id", "--shard-records",
                                      "100", "-q"], env=env, check=True, capture_output=True, text=True).stdout.strip()
            cmds = {
                "python -c pass": [py, "-c", "pass"],
                "note-compute --help": [*nc, "--help"],
                'python -c "import libp2p"': [py, "-c", "import libp2p"],
                "note-compute get URL (warm local network, through its relay)": [*nc, "get", url],
                "note-compute get URL (same, NOTE_NO_RELAY=1: own libp2p host)": [*nc, "get", url],
                "note-compute query (sample catalog, --range, 3 shards; relay)": [
                    *nc, "query", program, dataset, "--args", '{"category": "Lighting"}', "--range",
                    "[[1000], [2500]]"],
            }
            extra = {"note-compute get URL (same, NOTE_NO_RELAY=1: own libp2p host)": {"NOTE_NO_RELAY": "1"}}
            results: dict[str, list[tuple[float, float]]] = {k: [] for k in cmds}
            for name, cmd in cmds.items():  # one unmeasured run each: bytecode caches written, files warm
                timed(cmd, env, extra.get(name))
            for _ in range(a.runs):
                for name, cmd in cmds.items():
                    results[name].append(timed(cmd, env, extra.get(name)))
            phases: list[dict[str, float]] = []
            for _ in range(max(3, a.runs // 3)):
                out = subprocess.run([py, "-c", PHASES, url], env={**env, "NOTE_NO_RELAY": "1"}, check=True,
                                     capture_output=True,
                                     text=True).stdout
                phases.append({k: float(v) for k, v in (p.split("=") for p in out.split())})
        finally:
            subprocess.run([*nc, "devnet", "stop"], env=env, stdout=subprocess.DEVNULL)
    load = os.getloadavg()[0]
    base_wall = statistics.median(w for w, _ in results["python -c pass"])
    base_cpu = statistics.median(c for _, c in results["python -c pass"])
    lines = [f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, Python "
             f"{sys.version.split()[0]}, {a.runs} runs each, load average {load:.1f} at the end.", "",
             "| command | wall median | CPU median (user+sys) | wall / `python -c pass` | CPU / `python -c pass` |",
             "| --- | --- | --- | --- | --- |"]
    for name, xs in results.items():
        w = statistics.median(x for x, _ in xs)
        c = statistics.median(y for _, y in xs)
        lines.append(f"| `{name}` | {w * 1000:.0f} ms | {c * 1000:.0f} ms | {w / base_wall:.1f}x | "
                     f"{c / base_cpu:.1f}x |")
    med = {k: statistics.median(p[k] for p in phases) for k in phases[0]}
    lines += ["", "Phases of one `get` in one process (medians): " + ", ".join(
        f"{k} {v * 1000:.0f} ms" for k, v in med.items()) + "."]
    text = "\n".join(lines)
    print(text)
    if a.out is not None:
        a.out.write_text("# CLI startup (benchmarks/bench_cli.py)\n\n" + text + "\n")


if __name__ == "__main__":
    main()
