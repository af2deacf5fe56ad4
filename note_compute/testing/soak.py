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
  killed with SIGKILL and restarted on its data directory.

Then the churn stops, the ring is given time to repair, every acknowledged
record is read back (the freshest seq acknowledged must come back, or a
newer one), and every live node must still accept a brand-new peer.
:class:`SoakReport` holds the counts; ``ok`` is true when nothing was lost
and every node accepted the newcomer.
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

import trio

from .. import records, urls
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

    @property
    def ok(self) -> bool:
        return not self.lost and not self.refused_newcomer

    def lines(self) -> list[str]:
        return [
            f"soak: {self.nodes} nodes, {self.seconds:.0f} s of load, {self.kills} kill+restart",
            f"puts acknowledged {self.puts_acked} (failed {self.puts_failed}); gets {self.gets_ok} "
            f"(failed {self.gets_failed}); short-lived clients {self.clients} (failed {self.clients_failed})",
            f"read back: {self.records - len(self.lost)} of {self.records} acknowledged records; "
            f"lost: {self.lost[:5]}",
            f"nodes refusing a new peer afterwards: {self.refused_newcomer}",
            "OK" if self.ok else "FAILED",
        ]


async def soak(base_dir: Path, *, nodes: int = 16, duration: float = 600.0, kill_every: float = 60.0,
               settle: float = 30.0, seed: int | None = None, start_timeout: float = 300.0) -> SoakReport:
    """Run one soak (see the module docstring) and return its report."""
    from ..client import open_client, peer_ref_from_multiaddr
    from ..devnet.supervisor import Devnet
    from ..net import open_host
    from ..ring import messages as ring_msgs

    rng = random.Random(seed)
    key = SigningKey(rng.randbytes(32))
    report = SoakReport(nodes, duration)
    acked: dict[str, int] = {}  # url -> highest seq acknowledged
    net = Devnet(base_dir, nodes, node_args=["--stabilize-interval", "0.5", "--replicate-interval", "2"])
    await net.start(timeout=start_timeout)
    try:
        async with open_client(net.bootstrap, timeout=5.0) as client:
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

            async with trio.open_nursery() as nursery:
                for task in (writer, reader, newcomers, churn):
                    nursery.start_soon(task)

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
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="note-soak-") as d:
        report = trio.run(lambda: soak(Path(d), nodes=args.nodes, duration=args.minutes * 60,
                                       kill_every=args.kill_every, settle=args.settle, seed=args.seed))
    for line in report.lines():
        print(line)
    raise SystemExit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
