"""The local network as a user manages it: one per NOTE_HOME, dead ones detected, orphans cleaned, data kept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from note_compute import localnet
from note_compute.cli import main
from note_compute.devnet.run import DevnetRunning, acquire_lock, clean_stale, prepare_data, stop_devnet
from note_compute.errors import NotFound, PeerUnreachable


def test_no_state_means_down(tmp_path: Path) -> None:
    assert not localnet.is_running(tmp_path)
    with pytest.raises(PeerUnreachable) as ei:
        localnet.read_bootstrap(tmp_path)
    assert ei.value.reason == "devnet-down"
    assert "the local network is down" in ei.value.message


def test_lock_refuses_a_second_network_and_dies_with_its_holder(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NOTE_HOME", str(tmp_path))
    fd = acquire_lock()
    try:
        assert localnet.is_running()
        with pytest.raises(DevnetRunning) as ei:
            os.close(acquire_lock())
        assert f"supervisor pid {os.getpid()}" in ei.value.message
        # A state file with a live lock: clients get its addresses.
        localnet.write_state({"bootstrap": ["/ip4/127.0.0.1/tcp/1/p2p/x"], "pid": os.getpid(), "nodes": []})
        assert localnet.read_bootstrap() == ["/ip4/127.0.0.1/tcp/1/p2p/x"]
    finally:
        os.close(fd)
    # The lock went with its holder: the same state file is now stale.
    assert not localnet.is_running()
    with pytest.raises(PeerUnreachable) as ei2:
        localnet.read_bootstrap()
    assert f"its supervisor, pid {os.getpid()}, has stopped" in ei2.value.message
    with pytest.raises(NotFound):
        stop_devnet()
    assert localnet.read_state() is None  # stop cleaned the stale state


def test_cli_says_down_with_exit_codes(tmp_path: Path) -> None:
    env = {"NOTE_HOME": str(tmp_path)}
    r = CliRunner().invoke(main, ["devnet", "status"], env=env)
    assert r.exit_code == 3 and "the local network is down" in r.output
    r = CliRunner().invoke(main, ["devnet", "stop"], env=env)
    assert r.exit_code == 3 and "no local network runs" in r.output
    r = CliRunner().invoke(main, ["get", "note://" + "a" * 52 + "/x"], env=env)
    assert r.exit_code == 4 and "the local network is down" in r.output
    assert "Traceback" not in r.output and "[devnet-down]" not in r.output
    r = CliRunner().invoke(main, ["get", "note://" + "a" * 52 + "/x", "--json"], env=env)
    assert r.exit_code == 4
    err = json.loads(r.stdout.splitlines()[0])["error"]
    assert err["reason"] == "devnet-down" and err["exit_code"] == 4


def test_stale_state_orphans_are_stopped_and_strangers_spared(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NOTE_HOME", str(tmp_path))
    dd = str(tmp_path / "devnet" / "node-00")
    sleeper = "import time; time.sleep(60)"
    orphan = subprocess.Popen([sys.executable, "-c", sleeper, "note_compute.cli", "node", "--data-dir", dd])
    stranger = subprocess.Popen([sys.executable, "-c", sleeper])
    try:
        localnet.write_state({"bootstrap": ["x"], "pid": 999999999, "nodes": [
            {"index": 0, "pid": orphan.pid, "data_dir": dd},
            {"index": 1, "pid": stranger.pid, "data_dir": dd},  # pid reused by an unrelated process
        ]})
        report = clean_stale(grace=10)
        assert report.orphans == [orphan.pid]
        assert orphan.wait(timeout=10) == -signal.SIGTERM
        assert stranger.poll() is None
        assert localnet.read_state() is None
    finally:
        for p in (orphan, stranger):
            if p.poll() is None:
                p.kill()
            p.wait()


async def test_nodes_down_under_a_live_supervisor_is_said_so(tmp_path: Path) -> None:
    """The supervisor runs but none of its nodes answers: exit 4 naming the local network, not "bootstrap"."""
    import trio

    from note_compute.cli._common import fail
    from note_compute.client import open_client
    from note_compute.relay import serve_relay

    class DeadNodes:
        async def request(self, peer: object, msg: object, timeout: float) -> dict[str, object]:
            raise PeerUnreachable("connection refused", reason="dial")

    fd = localnet.acquire_lock(tmp_path)
    try:
        sock = localnet.relay_path(tmp_path)
        localnet.write_state({"bootstrap": ["/ip4/127.0.0.1/tcp/1/p2p/x"], "pid": os.getpid(), "relay": str(sock),
                              "nodes": [{"index": 0, "pid": 1, "node_id": "ab" * 32,
                                         "addrs": ["/ip4/127.0.0.1/tcp/1/p2p/x"]}]}, tmp_path)
        async with trio.open_nursery() as nursery:
            await nursery.start(serve_relay, sock, DeadNodes())
            with pytest.raises(PeerUnreachable) as ei:
                async with open_client(home=tmp_path):
                    pass
            nursery.cancel_scope.cancel()
    finally:
        os.close(fd)
    assert ei.value.reason == "devnet-nodes"
    err = fail(ei.value)
    assert err.exit_code == 4
    assert err.message.startswith("none of the local network's nodes answered (1 asked); its supervisor runs: "
                                  "see `note-compute devnet status`")


def test_data_kept_by_default_and_fresh_starts_empty(tmp_path: Path) -> None:
    base = tmp_path / "devnet"
    for i in range(3):
        (base / f"node-{i:02d}").mkdir(parents=True)
        (base / f"node-{i:02d}" / "node.key").write_bytes(b"k")
        (base / f"node-{i:02d}" / "store.sqlite").write_bytes(b"records")
    (base / "devnet.log").write_text("log")
    (base / "lock").write_text("1\n")
    assert prepare_data(base, fresh=False) == 3
    assert (base / "node-02" / "store.sqlite").read_bytes() == b"records"  # kept
    assert prepare_data(base, fresh=True) == 0
    assert not list(base.glob("node-*"))
    assert (base / "devnet.log").exists() and (base / "lock").exists()  # only the nodes' data goes
    assert prepare_data(tmp_path / "none", fresh=True) == 0


def _cli(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NOTE_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "note_compute.cli", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.slow
def test_devnet_lifecycle(tmp_path: Path) -> None:
    """-d, refusal of a second one, data kept across stop/start, SIGKILLed supervisor: nodes leave, 'down'."""
    home = tmp_path / "home"
    r = _cli(home, "devnet", "-d", "--nodes", "3")
    assert r.returncode == 0, r.stderr
    try:
        r2 = _cli(home, "devnet", "--nodes", "3")
        assert r2.returncode == 2 and "already runs" in r2.stderr
        authority = _cli(home, "key", "new", "k", "-q").stdout.strip()
        f = tmp_path / "v.txt"
        f.write_text("kept across runs\n")
        url = f"note://{authority}/v"
        assert _cli(home, "put", url, str(f), "--key", "k").returncode == 0
        r = _cli(home, "devnet", "stop")
        assert r.returncode == 0 and "its data is kept in" in r.stdout, r.stderr
        assert _cli(home, "get", url).returncode == 4
        r = _cli(home, "devnet", "-d")  # same 3 nodes, same data
        assert r.returncode == 0, r.stderr
        r = _cli(home, "get", url)
        assert r.returncode == 0 and r.stdout == "kept across runs\n", r.stderr
        # Through the supervisor's relay: this command never imported libp2p.
        env = {**os.environ, "NOTE_HOME": str(home)}
        r3 = subprocess.run([sys.executable, "-X", "importtime", "-m", "note_compute.cli", "get", url], env=env,
                            capture_output=True, text=True, timeout=120)
        assert r3.returncode == 0 and r3.stdout == "kept across runs\n"
        assert "libp2p" not in r3.stderr
        # With its own libp2p host (no relay): the same answer, and not one log line on stderr.
        r4 = subprocess.run([sys.executable, "-m", "note_compute.cli", "get", url], env={**env, "NOTE_NO_RELAY": "1"},
                            capture_output=True, text=True, timeout=120)
        assert r4.returncode == 0 and r4.stdout == "kept across runs\n" and r4.stderr == "", r4.stderr
        # A node that dies while the supervisor lives comes back on its data, at a new address.
        state = json.loads((home / "devnet.json").read_text())
        victim = state["nodes"][1]
        os.kill(victim["pid"], signal.SIGKILL)
        deadline = time.monotonic() + 90
        while not _restarted(home, victim) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _restarted(home, victim), (home / "devnet" / "devnet.log").read_text()[-2000:]
        r = _cli(home, "devnet", "status")
        assert r.returncode == 0 and "3 of 3 nodes alive" in r.stdout, r.stdout
        r = _cli(home, "get", url)
        assert r.returncode == 0 and r.stdout == "kept across runs\n", r.stderr
        state = json.loads((home / "devnet.json").read_text())
        pids = [n["pid"] for n in state["nodes"]]
        os.kill(state["pid"], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(p) for p in pids), "nodes outlived their supervisor"
        r = _cli(home, "get", url)
        assert r.returncode == 4 and "the local network is down" in r.stderr, r.stderr
        r = _cli(home, "devnet", "status")
        assert r.returncode == 3 and "had died" in r.stdout
        r = _cli(home, "devnet", "-d", "--fresh", "--json")  # as many nodes as before, empty: the record is gone
        assert r.returncode == 0 and json.loads(r.stdout)["nodes"] == 3, r.stderr
        r = _cli(home, "get", url)
        assert r.returncode == 3 and "no replica holds" in r.stderr and "[" not in r.stderr, r.stderr
    finally:
        _cli(home, "devnet", "stop")


def _restarted(home: Path, victim: dict[str, object]) -> bool:
    try:
        state = json.loads((home / "devnet.json").read_text())
    except (OSError, ValueError):
        return False
    again = [n for n in state["nodes"] if n["index"] == victim["index"]]
    return bool(again) and again[0]["pid"] != victim["pid"] and _alive(again[0]["pid"])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_no_libp2p_log_lines_unless_verbose(tmp_path: Path) -> None:
    """libp2p logs "Failed to open TCP stream ..." on a dead address: hidden without -v, shown with it."""
    boot = "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWPZTPtk7EHn2CyHp3cjhAtTQKHLXE1qrNqQwFcPJmEsBk"
    url = "note://" + "a" * 52 + "/x"
    r = _cli(tmp_path, "get", url, "--bootstrap", boot)
    assert r.returncode == 4
    assert r.stderr.startswith("Error: none of the bootstrap nodes answered") and "Failed to open" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = _cli(tmp_path, "-v", "get", url, "--bootstrap", boot)
    assert r.returncode == 4 and "Failed to open TCP stream" in r.stderr


def test_cli_leaves_logging_as_it_found_it() -> None:
    import logging

    before = logging.root.manager.disable
    assert CliRunner().invoke(main, ["key", "--help"]).exit_code == 0
    assert logging.root.manager.disable == before
