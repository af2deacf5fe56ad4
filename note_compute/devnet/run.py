"""The body of ``note-compute devnet``: one local network per NOTE_HOME, supervised.

* One network per ``NOTE_HOME``: the supervisor holds ``$NOTE_HOME/devnet/lock``
  (``flock``) for its whole life; a second ``devnet`` finds it held and
  refuses (:class:`DevnetRunning`). The kernel drops the lock when the
  supervisor dies, however it dies, so a state file without a lock holder is
  stale: the next ``devnet``, ``devnet status`` or ``devnet stop`` removes it
  and stops the node processes it lists that are still running (orphans).
* Data lives in ``$NOTE_HOME/devnet/node-NN`` and is kept across runs (the
  nodes come back at the same ring positions with what they stored);
  ``fresh=True`` deletes it first.
* The nodes get ``--supervisor-pid``: they leave when the supervisor dies.
* A node process that dies while the supervisor lives is restarted on its
  data directory (same identity, same records) and the state file rewritten
  with its new address; one that keeps dying (:data:`RESTART_LIMIT` times in
  a minute) is left down and said so in the log (``devnet status`` shows it).
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from .. import localnet
from ..errors import NoteError, NotFound
from ..localnet import DevnetRunning, acquire_lock
from ..relay import serve_relay
from .ring import wait_stable
from .supervisor import Devnet

__all__ = ["run_devnet", "DevnetRunning", "DEVNET_NODE_ARGS", "DEFAULT_NODES", "acquire_lock", "clean_stale",
           "StaleReport", "stop_devnet", "existing_nodes", "prepare_data", "pid_alive", "keep_nodes_up",
           "RESTART_LIMIT"]

DEVNET_NODE_ARGS = ["--stabilize-interval", "0.5", "--replicate-interval", "2", "--request-timeout", "1"]
"""Faster stabilization and anti-entropy than a real deployment: a devnet is small and local."""

DEFAULT_NODES = 8

RESTART_LIMIT, RESTART_WINDOW = 3, 60.0
"""A node that died is restarted on its data, unless it already died this many times in this many seconds."""


@dataclass
class StaleReport:
    """What :func:`clean_stale` found of a local network that died without cleaning up."""

    pid: int | None = None
    orphans: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.pid is not None or bool(self.orphans)

    def describe(self) -> str:
        killed = f"; stopped {len(self.orphans)} orphaned node process(es)" if self.orphans else ""
        return f"the previous local network (supervisor pid {self.pid}) had died; removed its stale state{killed}"


def lock_holder(home: Path | None = None) -> int | None:
    """The pid written in the lock file (meaningful only while :func:`localnet.is_running`)."""
    try:
        return int(localnet.lock_path(home).read_text().strip())
    except (OSError, ValueError):
        return None


def _is_our_node(pid: int, data_dir: str) -> bool:
    """True if ``pid`` runs a note-compute node on ``data_dir`` (guards against reused pids)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"note_compute.cli" in cmdline and b"node" in cmdline and data_dir.encode() in cmdline


def clean_stale(home: Path | None = None, grace: float = 5.0) -> StaleReport:
    """With no supervisor alive: remove a stale state file and stop the node processes it lists."""
    report = StaleReport()
    if localnet.is_running(home):
        return report
    state = localnet.read_state(home)
    if state is None:
        return report
    report.pid = state.get("pid") if isinstance(state.get("pid"), int) else None
    nodes = state.get("nodes")
    for n in nodes if isinstance(nodes, list) else []:
        pid, dd = (n.get("pid"), n.get("data_dir")) if isinstance(n, dict) else (None, None)
        if isinstance(pid, int) and isinstance(dd, str) and _is_our_node(pid, dd):
            try:
                os.kill(pid, signal.SIGTERM)
                report.orphans.append(pid)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + grace
    for pid in report.orphans:
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    localnet.remove_state(home)
    return report


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` runs (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def existing_nodes(base_dir: Path) -> int:
    """How many node data directories ``base_dir`` holds from earlier runs."""
    return sum(1 for p in base_dir.glob("node-[0-9][0-9]") if (p / "node.key").exists()) if base_dir.is_dir() else 0


def prepare_data(base_dir: Path, fresh: bool) -> int:
    """Keep the node data under ``base_dir`` (default) or delete it (``fresh``); how many nodes' data is left.

    Only the node directories go: the lock, the log and anything else in ``base_dir`` stay.
    """
    if fresh:
        for d in base_dir.glob("node-[0-9][0-9]"):
            shutil.rmtree(d, ignore_errors=True)
    return existing_nodes(base_dir)


def stop_devnet(home: Path | None = None, timeout: float = 30.0) -> int:
    """Ask the running supervisor to stop (SIGTERM) and wait; return its pid.

    Raises NotFound (after cleaning any stale state) when none runs.
    """
    if not localnet.is_running(home):
        report = clean_stale(home)
        extra = f" ({report.describe()})" if report else ""
        raise NotFound(f"no local network runs in NOTE_HOME={localnet.note_home(home)}{extra}", reason="no-devnet")
    pid = lock_holder(home)
    if pid is None:
        raise NoteError("the local network's lock file names no supervisor pid", reason="devnet-state")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while localnet.is_running(home):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
            clean_stale(home)
            break
        time.sleep(0.1)
    return pid


async def run_devnet(n: int | None, base_dir: Path | None, timeout: float, *, fresh: bool = False,
                     say: Any = print) -> None:
    """Start N nodes, wait for a stable ring, write the state file, run until SIGINT/SIGTERM.

    ``n`` None: as many nodes as ``base_dir`` holds from earlier runs, else
    :data:`DEFAULT_NODES`. ``base_dir`` None: ``$NOTE_HOME/devnet``.
    """
    from ..client import open_client

    lock_fd = acquire_lock()
    try:
        report = clean_stale()
        if report:
            say(f"devnet: {report.describe()}")
        base_dir = localnet.devnet_dir() if base_dir is None else base_dir
        before = existing_nodes(base_dir)
        had = prepare_data(base_dir, fresh)
        if n is None:  # as many nodes as the kept data has (--fresh: as many as it had), else the default
            n = had or before or DEFAULT_NODES
        elif 0 < n < had:
            say(f"devnet: note: {base_dir} holds {had} nodes' data; starting {n}, so records held only by the "
                "others are unavailable (use --fresh to start empty)")
        net = Devnet(base_dir, n, node_args=DEVNET_NODE_ARGS)
        net.hold_lock(lock_fd)  # the network owns the lock now: released when it stops
        lock_fd = -1
        await _supervise(net, n, base_dir, timeout, had, say, open_client)
    finally:
        if lock_fd >= 0:
            os.close(lock_fd)


async def keep_nodes_up(net: Devnet, say: Any, *, interval: float = 0.5) -> None:
    """Restart the node processes of ``net`` that die, on their data, and rewrite the state file (until cancelled)."""
    restarts: dict[int, list[float]] = {}
    given_up: set[int] = set()
    while True:
        await trio.sleep(interval)
        dead = [n for n in net.nodes if n.proc is not None and n.proc.poll() is not None and n.index not in given_up]
        for node in dead:
            code = node.proc.returncode if node.proc is not None else None
            recent = [t for t in restarts.get(node.index, []) if time.monotonic() - t < RESTART_WINDOW]
            if len(recent) >= RESTART_LIMIT:
                given_up.add(node.index)
                say(f"devnet: node {node.index} died {len(recent) + 1} times within {RESTART_WINDOW:.0f} s (exit "
                    f"{code}); not restarting it again, see {node.data_dir / 'node.log'}")
                continue
            say(f"devnet: node {node.index} exited (code {code}); restarting it on its data")
            restarts[node.index] = [*recent, time.monotonic()]
            try:
                await net.restart(node.index)
            except NoteError as exc:
                say(f"devnet: node {node.index} did not come back: {exc.message}")
            net.write_manifest()  # its new address (the nodes still down left out) for every command


async def _hold_client(open_client: Any, bootstrap: list[str], *,
                       task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """Open the supervisor's own client and keep it open for the network's life (the relay uses its host)."""
    async with open_client(bootstrap) as client:
        task_status.started(client)
        await trio.sleep_forever()


async def _supervise(net: Devnet, n: int, base_dir: Path, timeout: float, had: int, say: Any,
                     open_client: Any) -> None:
    t0 = time.monotonic()
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        try:
            async with trio.open_nursery() as nursery:
                async def watch() -> None:
                    async for _ in signals:
                        break
                    say("devnet: stopping...")
                    nursery.cancel_scope.cancel()

                nursery.start_soon(watch)
                await net.start(timeout=timeout)
                client = await nursery.start(_hold_client, open_client, net.bootstrap)
                await wait_stable(net, client, timeout)
                # Short-lived commands send their requests through our host (no libp2p import for them).
                try:
                    await nursery.start(serve_relay, localnet.relay_path(), client.host)
                    net.relay = str(localnet.relay_path())
                except OSError as exc:  # e.g. a socket path over the 108-byte limit: commands dial directly
                    say(f"devnet: no relay for commands ({exc}); they will open their own libp2p host")
                path = net.write_manifest()
                nursery.start_soon(keep_nodes_up, net, say)
                kept = f" (kept from an earlier run: {min(had, n)} nodes' data)" if had else ""
                say(f"devnet: {n} nodes stable in {time.monotonic() - t0:.1f} s; bootstrap {net.bootstrap[0]}; "
                    f"data in {base_dir}{kept}; {path} written; Ctrl-C or `note-compute devnet stop` to stop")
                await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                await net.stop()  # removes the state file it wrote, then releases the lock
    say(f"devnet: stopped; data kept in {base_dir}")
