"""Soak: a local network of node processes under mixed load and churn, then every acknowledged write read back.

Run it: ``python -m note_compute.testing.soak --nodes 16 --minutes 10``
(the long version; ``tests/test_soak.py`` runs a short one in the suite).

Theory of operation
-------------------
A :class:`~note_compute.devnet.supervisor.Devnet` of ``nodes`` processes on
127.0.0.1. For ``duration`` seconds, concurrently:

* a writer puts signed records (a few per second) and remembers each one at
  least one replica acknowledged, with its seq (some records are rewritten
  with a higher seq);
* a reader gets random acknowledged records;
* every second a **new client identity** (a fresh libp2p host) opens,
  pings a node, reads one record and goes away: the short-lived inbound
  connections that used to exhaust a node's connection slots;
* every ``kill_every`` seconds one node (never the bootstrap node) is
  killed with SIGKILL and restarted on its data directory;
* with ``queries`` (the default), a signed program (``SUBSTRING_WAT``: the
  records whose bytes hold a word) and a dataset are published first; a
  querier runs verified compute queries every ``query_every`` seconds,
  alternating sort-key range queries (proven complete) and predicate queries
  with audit rate 0.05, each from a fresh ``ComputeClient``; a publisher
  republishes the dataset (some records changed, a higher seq) every
  ``republish_every`` seconds, so queries meet new versions, seq hints and
  shards the nodes load when the manifest lands.

Then the churn stops, the ring is given time to repair, every acknowledged
record is read back (the freshest seq acknowledged must come back, or a
newer one), and every live node must still accept a brand-new peer. Every
query answer that came back is checked: it must say it was verified
(``verified-complete`` or ``audited``) and must be exactly the records of
the dataset version it names (its seq) that the query selects, computed here
from the records that version was built from. A query that fails with a
typed error (a node killed under it) is counted, not an error: a wrong or
unverified answer is.
:class:`SoakReport` holds the counts; ``ok`` is true when nothing was lost,
every node accepted the newcomer and no answer was wrong or unverified.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from .. import encoding, records, urls
from ..compute.dataset import key_of_record
from ..compute.keys import normalize_bound
from ..crypto import SigningKey
from ..errors import NoteError

__all__ = ["SoakReport", "soak", "main"]


@dataclass
class SoakReport:
    """What a soak run did and found."""

    nodes: int
    seconds: float
    puts_acked: int = 0
    puts_failed: int = 0
    gets_ok: int = 0
    gets_failed: int = 0
    clients: int = 0
    clients_failed: int = 0
    kills: int = 0
    records: int = 0
    lost: list[str] = field(default_factory=list)
    refused_newcomer: list[int] = field(default_factory=list)
    queries_ok: int = 0
    """Answers that came back verified and were checked correct."""
    queries_failed: int = 0
    """Queries that ended in a typed error or ``ok=False`` (no answer claimed)."""
    wrong: list[str] = field(default_factory=list)
    """Answers claimed verified that were not, or not the right records: each one a defect."""
    versions: int = 0
    publish_failed: int = 0

    @property
    def ok(self) -> bool:
        return not self.lost and not self.refused_newcomer and not self.wrong

    def lines(self) -> list[str]:
        return [
            f"soak: {self.nodes} nodes, {self.seconds:.0f} s of load, {self.kills} kill+restart",
            f"puts acknowledged {self.puts_acked} (failed {self.puts_failed}); gets {self.gets_ok} "
            f"(failed {self.gets_failed}); short-lived clients {self.clients} (failed {self.clients_failed})",
            f"read back: {self.records - len(self.lost)} of {self.records} acknowledged records; "
            f"lost: {self.lost[:5]}",
            f"nodes refusing a new peer afterwards: {self.refused_newcomer}",
            f"compute queries verified and correct {self.queries_ok}; failed (typed error) {self.queries_failed}; "
            f"wrong or unverified {len(self.wrong)} {self.wrong[:3]}; dataset versions {self.versions} "
            f"(publish failed {self.publish_failed})",
            "OK" if self.ok else "FAILED",
        ]


_TAGS = ("amber", "coral", "olive", "slate", "umber")
_DATASET_RECORDS = 300


def _version(rng: random.Random, n: int) -> list[bytes]:
    """One version of the soak dataset: ``n`` records ``{"id", "tag", "pad"}`` (sort key ``id``)."""
    return [encoding.encode({"id": i, "tag": rng.choice(_TAGS), "pad": "x" * rng.randrange(8, 40)}) for i in range(n)]


def expected_answer(recs: list[bytes], word: str, rng_bounds: list[Any] | None) -> list[bytes]:
    """What a query selects from one version (sorted record bytes): in range, holding ``word``."""
    lo = normalize_bound(None if rng_bounds is None else rng_bounds[0], ["id"], upper=False)
    hi = normalize_bound(None if rng_bounds is None else rng_bounds[1], ["id"], upper=True)
    return sorted(r for r in recs if lo <= key_of_record(r, ["id"]) < hi and word.encode() in r)


async def soak(base_dir: Path, *, nodes: int = 16, duration: float = 600.0, kill_every: float = 60.0,
               settle: float = 30.0, seed: int | None = None, start_timeout: float = 300.0,
               queries: bool = True, query_every: float = 2.0, republish_every: float = 30.0) -> SoakReport:
    """Run one soak (see the module docstring) and return its report."""
    import wasmtime

    from ..client import open_client, peer_ref_from_multiaddr
    from ..compute.client import ComputeClient
    from ..compute.publish import publish_dataset
    from ..devnet.supervisor import Devnet
    from ..net import open_host
    from ..programs import make_program
    from ..ring import messages as ring_msgs
    from ..sandbox import Sandbox
    from .compute import SUBSTRING_WAT

    rng = random.Random(seed)
    key = SigningKey(rng.randbytes(32))
    report = SoakReport(nodes, duration)
    acked: dict[str, int] = {}  # url -> highest seq acknowledged
    net = Devnet(base_dir, nodes, node_args=["--stabilize-interval", "0.5", "--replicate-interval", "2"])
    await net.start(timeout=start_timeout)
    try:
        async with open_client(net.bootstrap, timeout=5.0) as client:
            sandbox = Sandbox()
            versions: dict[int, list[bytes]] = {}  # seq -> the records that version was built from
            answers: list[tuple[int, str, list[Any] | None, list[bytes]]] = []
            program_url = dataset_url = ""

            async def publish_version() -> None:
                recs = _version(rng, _DATASET_RECORDS)
                now_ms = max(int(time.time() * 1000), max(versions, default=0) + 1)
                versions[now_ms] = recs  # seq = now_ms (> the previous seq): known before any node holds it
                try:
                    pub = await publish_dataset(client, key, recs, name="soak", sort_key=["id"], shard_records=30,
                                                now_ms=now_ms, parallel=2)
                    assert pub.record.seq == now_ms
                    report.versions += 1
                except NoteError:
                    report.publish_failed += 1

            if queries:
                wasm = bytes(wasmtime.wat2wasm(SUBSTRING_WAT))
                await client.put_blob(wasm, "application/wasm")
                prog = make_program(key, "soak-substring", wasm, fuel=10**9, seq=1, created=int(time.time()))
                await client.put_record(prog)
                program_url = prog.url
                await publish_version()
                dataset_url = urls.make_url(key.authority, "/datasets/soak")
            stop_at = trio.current_time() + duration

            async def writer() -> None:
                n = 0
                while trio.current_time() < stop_at:
                    n += 1
                    path = f"/soak/{rng.randrange(max(1, n // 2 + 1))}"  # some rewrites at a higher seq
                    url = urls.make_url(key.authority, path)
                    seq = acked.get(url, 0) + 1
                    rec = records.sign_record(key, url, seq=seq, value=os.urandom(64), created=int(time.time()))
                    try:
                        if await client.put_record(rec) >= 1:
                            acked[url] = max(acked.get(url, 0), seq)
                            report.puts_acked += 1
                        else:
                            report.puts_failed += 1
                    except NoteError:
                        report.puts_failed += 1
                    await trio.sleep(0.2)

            async def reader() -> None:
                while trio.current_time() < stop_at:
                    if acked:
                        try:
                            await client.get_record(rng.choice(list(acked)))
                            report.gets_ok += 1
                        except NoteError:
                            report.gets_failed += 1
                    await trio.sleep(0.2)

            async def newcomers() -> None:
                while trio.current_time() < stop_at:
                    try:
                        with trio.fail_after(20):
                            async with open_client(net.bootstrap, timeout=5.0) as fresh:
                                if acked:
                                    await fresh.get_record(rng.choice(list(acked)))
                        report.clients += 1
                    except (NoteError, trio.TooSlowError):
                        report.clients_failed += 1
                    await trio.sleep(1.0)

            async def churn() -> None:
                while trio.current_time() + kill_every < stop_at:
                    await trio.sleep(kill_every)
                    victim = rng.randrange(1, nodes)
                    net.kill(victim, signal.SIGKILL)
                    await net.wait_exit(victim)
                    await net.restart(victim, timeout=start_timeout)
                    report.kills += 1

            async def querier() -> None:
                n = 0
                while trio.current_time() < stop_at:
                    n += 1
                    word = rng.choice(_TAGS)
                    bounds: list[Any] | None = None
                    if n % 2 == 0:
                        lo = rng.randrange(_DATASET_RECORDS)
                        bounds = [[lo], [lo + rng.randrange(1, 80)]]
                    try:
                        with trio.fail_after(60):
                            res = await ComputeClient(client, sandbox, timeout=10.0).query(
                                program_url, dataset_url, word, range=bounds, audit=0.0 if bounds else 0.05)
                    except (NoteError, trio.TooSlowError):
                        report.queries_failed += 1
                    else:
                        v = res.verification
                        if not v.ok:
                            report.queries_failed += 1
                        elif v.verdict not in ("verified-complete", "audited"):
                            report.wrong.append(f"query {n}: answer not verified ({v.verdict}: {v.summary[:80]})")
                        else:
                            answers.append((v.seq, word, bounds, sorted(res.records)))
                    await trio.sleep(query_every)

            async def publisher() -> None:
                while trio.current_time() + republish_every < stop_at:
                    await trio.sleep(republish_every)
                    await publish_version()

            async with trio.open_nursery() as nursery:
                for task in (writer, reader, newcomers, churn) + ((querier, publisher) if queries else ()):
                    nursery.start_soon(task)

            for seq, word, bounds, picked in answers:
                recs = versions.get(seq)
                if recs is None:
                    report.wrong.append(f"answer for seq {seq}, a version never published")
                elif picked != expected_answer(recs, word, bounds):
                    report.wrong.append(f"seq {seq} {word!r} {bounds}: {len(picked)} records, expected "
                                        f"{len(expected_answer(recs, word, bounds))}")
                else:
                    report.queries_ok += 1
            await trio.sleep(settle)  # the ring repairs and re-replicates
            report.records = len(acked)
            for url, seq in acked.items():
                try:
                    got = await client.get_record(url)
                    if got.seq < seq:
                        report.lost.append(f"{url} seq {got.seq} < {seq}")
                except NoteError as exc:
                    report.lost.append(f"{url}: {exc.code}")

        async with open_host(os.urandom(32)) as newcomer:
            for node in net.live():
                try:
                    await newcomer.request(peer_ref_from_multiaddr(node.addr), ring_msgs.ping(None), 10.0)
                except NoteError:
                    report.refused_newcomer.append(node.index)
    finally:
        await net.stop()
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--nodes", type=int, default=16)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--kill-every", type=float, default=60.0)
    ap.add_argument("--settle", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--no-queries", action="store_true", help="no compute queries (storage load only)")
    ap.add_argument("--query-every", type=float, default=2.0)
    ap.add_argument("--republish-every", type=float, default=30.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="note-soak-") as d:
        report = trio.run(lambda: soak(Path(d), nodes=args.nodes, duration=args.minutes * 60,
                                       kill_every=args.kill_every, settle=args.settle, seed=args.seed,
                                       queries=not args.no_queries, query_every=args.query_every,
                                       republish_every=args.republish_every))
    for line in report.lines():
        print(line)
    raise SystemExit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
