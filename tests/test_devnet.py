"""End to end on a devnet of 10 real node processes (libp2p on 127.0.0.1).

One devnet serves the whole module (starting processes is the slow part);
the tests run in file order and the churn test, which kills nodes, is last.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from click.testing import CliRunner

from note_compute import records, urls
from note_compute.cli import main as cli_main
from note_compute.client import Client, open_client
from note_compute.crypto import SigningKey
from note_compute.devnet import (
    DEVNET_NODE_ARGS,
    Devnet,
    devnet_peers,
    expected_replicas,
    holders,
    wait_stable,
    wait_until,
)
from note_compute.errors import NotFound

pytestmark = pytest.mark.slow

N = 10
R = 3


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    base = tmp_path_factory.mktemp("devnet")
    net = Devnet(base / "nodes", N, node_args=DEVNET_NODE_ARGS)

    async def start() -> None:
        await net.start(timeout=60)
        async with open_client(net.bootstrap) as client:
            await wait_stable(net, client, timeout=60)

    try:
        trio.run(start)
        yield net
    finally:
        try:
            trio.run(net.stop)
        finally:
            net.stop_now()


def _record(key: SigningKey, path: str, seq: int = 1, value: bytes | None = None) -> records.Record:
    return records.sign_record(key, urls.make_url(key.authority, path), seq=seq,
                               value=value if value is not None else path.encode(), created=int(time.time()))


async def _under_replicated(client: Client, net: Devnet, recs: list[records.Record]) -> list[str]:
    """Records missing from some of their r live replicas, described for an assertion message."""
    peers = devnet_peers(net)
    ids = [p.id_bytes for p in peers]
    out = []
    for rec in recs:
        missing = set(expected_replicas(ids, rec.address, R)) - await holders(client, peers, rec.address)
        if missing:
            out.append(f"{rec.url[-10:]} lacks {sorted(m.hex()[:8] for m in missing)}")
    return out


async def _fully_replicated(client: Client, net: Devnet, recs: list[records.Record]) -> bool:
    return not await _under_replicated(client, net, recs)


async def test_put_get_across_nodes_on_the_right_replicas(devnet: Devnet) -> None:
    key = SigningKey.generate()
    recs = [_record(key, f"/e2e/{i}") for i in range(20)]
    peers = devnet_peers(devnet)
    ids = [p.id_bytes for p in peers]
    # Each record is put through a client bootstrapped from one node and read through another.
    async with open_client([devnet.nodes[0].addr]) as writer, open_client([devnet.nodes[5].addr]) as reader:
        for rec in recs:
            assert await writer.put_record(rec) == R
        for rec in recs:
            got = await reader.get_record(rec.url)
            assert got == rec
            # Exactly the key's successor and the next r - 1 nodes hold it.
            assert await holders(reader, peers, rec.address) == set(expected_replicas(ids, rec.address, R))
            assert [p.id_bytes for p in await reader.replicas(rec.address)] == expected_replicas(ids, rec.address, R)
        # A newer seq replaces the old one everywhere; the old one is then refused as stale.
        newer = _record(key, "/e2e/0", seq=2, value=b"second")
        assert await writer.put_record(newer) == R
        assert (await reader.get_record(newer.url)).value == b"second"
        from note_compute.errors import StaleRecord

        with pytest.raises(StaleRecord):
            await writer.put_record(recs[0])
        with pytest.raises(NotFound):
            await reader.get_record(urls.make_url(key.authority, "/never/stored"))
        # A blob of three chunks: chunks land at their own addresses, come back verified.
        data = os.urandom(256 * 1024 * 2 + 1234)
        addr = await writer.put_blob(data, "application/x-test")
        assert await reader.get_blob(addr) == data
        with pytest.raises(NotFound):
            await reader.get_blob(os.urandom(32))


def test_cli_put_get_ring_status(devnet: Devnet, tmp_path: Path) -> None:
    home = tmp_path / "home"
    devnet.write_manifest(home)
    env = {"NOTE_HOME": str(home)}
    runner = CliRunner()
    res = runner.invoke(cli_main, ["key", "new", "alice"], env=env)
    assert res.exit_code == 0, res.output
    authority = res.output.strip().splitlines()[-1]
    small = tmp_path / "small.txt"
    small.write_bytes(b"hello ring\n")
    big = tmp_path / "big.bin"
    big_data = os.urandom(300_000)
    big.write_bytes(big_data)
    url = f"note://{authority}/docs/hello"

    res = runner.invoke(cli_main, ["put", url, str(small), "--key", "alice"], env=env)
    assert res.exit_code == 0, res.output
    assert "on 3 replicas" in res.output
    res = runner.invoke(cli_main, ["get", url], env=env)
    assert res.exit_code == 0, res.output
    assert res.stdout_bytes == b"hello ring\n"

    # A second put moves seq forward and replaces the value.
    small.write_bytes(b"hello again\n")
    assert runner.invoke(cli_main, ["put", url, str(small), "--key", "alice"], env=env).exit_code == 0
    assert runner.invoke(cli_main, ["get", url], env=env).stdout_bytes == b"hello again\n"

    # Large file: stored as a blob, fetched and verified through the record's ref.
    out = tmp_path / "out.bin"
    assert (
        runner.invoke(cli_main, ["put", f"note://{authority}/big", str(big), "--key", "alice"], env=env).exit_code == 0
    )
    res = runner.invoke(cli_main, ["get", f"note://{authority}/big", "-o", str(out)], env=env)
    assert res.exit_code == 0, res.output
    assert out.read_bytes() == big_data

    # Not found, a bad URL, and a key that does not own the authority: clear messages, non-zero exit.
    res = runner.invoke(cli_main, ["get", f"note://{authority}/missing"], env=env)
    assert res.exit_code != 0 and "no replica holds" in res.output
    res = runner.invoke(cli_main, ["get", "note://not-an-authority/x"], env=env)
    assert res.exit_code != 0 and "Error" in res.output
    assert runner.invoke(cli_main, ["key", "new", "bob"], env=env).exit_code == 0
    res = runner.invoke(cli_main, ["put", url, str(small), "--key", "bob"], env=env)
    assert res.exit_code != 0 and "authority" in res.output

    res = runner.invoke(cli_main, ["put", url, str(small), "--key", "nosuchkey"], env=env)
    assert res.exit_code != 0 and "nosuchkey" in res.output

    res = runner.invoke(cli_main, ["ring", "status"], env=env)
    assert res.exit_code == 0, res.output
    assert f"{N} nodes, ring stable" in res.output

    # No devnet recorded: a clear error, not a traceback.
    res = runner.invoke(cli_main, ["get", url], env={"NOTE_HOME": str(tmp_path / "empty")})
    assert res.exit_code == 4 and "the local network is down" in res.output


async def test_churn_loses_no_record_and_restart_serves(devnet: Devnet) -> None:
    key = SigningKey.generate()
    recs = [_record(key, f"/churn/{i}") for i in range(30)]
    alive = [n for n in devnet.nodes if n.alive]
    async with open_client([n.addr for n in alive[:3]]) as client:
        for rec in recs:
            assert await client.put_record(rec) == R
        ids_before = sorted(n.node_id for n in alive)

        async def settle() -> None:
            await wait_stable(devnet, client, timeout=60)
            await wait_until(lambda: _fully_replicated(client, devnet, recs), 60, 0.5, "full re-replication")

        # r - 1 adjacent nodes at once (SIGKILL): the successor of recs[0]'s key and the next one.
        first = expected_replicas(ids_before, recs[0].address, R)[:2]
        victims = [n.index for n in alive if n.node_id in first]
        victim_id = devnet.nodes[victims[0]].node_id
        held_by_victim = [r for r in recs if victim_id in expected_replicas(ids_before, r.address, R)]
        for i in victims:
            devnet.kill(i, signal.SIGKILL)
        await settle()
        for rec in recs:
            assert await client.get_record(rec.url) == rec

        # Then two more, one at a time, with stabilization in between (4 of 10 nodes gone in all).
        for _ in range(2):
            live = [n for n in devnet.nodes if n.alive]
            devnet.kill(live[len(live) // 2].index, signal.SIGKILL)
            await settle()
        for rec in recs:
            assert await client.get_record(rec.url) == rec

        # A graceful leave (SIGTERM) hands the leaver's records to the nodes that now need them
        # before the process exits: right after the exit, every record is on its r live replicas.
        live = [n for n in devnet.nodes if n.alive]
        leaver = live[0].index
        devnet.kill(leaver, signal.SIGTERM)
        assert await devnet.wait_exit(leaver) == 0
        assert await _under_replicated(client, devnet, recs) == []
        await settle()

        # A killed node restarted on its data directory serves what it stored.
        await devnet.restart(victims[0])
        back = devnet.nodes[victims[0]]
        peer = [p for p in devnet_peers(devnet) if p.id_bytes == back.node_id][0]
        assert held_by_victim
        for rec in held_by_victim:
            assert back.node_id in await holders(client, [peer], rec.address)
        await settle()
        for rec in recs:
            assert await client.get_record(rec.url) == rec

