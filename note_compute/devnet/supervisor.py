"""A local network of real nodes, each its own process, on 127.0.0.1.

:class:`Devnet` starts ``note-compute node`` processes (through
``python -m note_compute.cli node``), one data directory each, reads the
addresses every node writes to its ``node.json``, waits until the ring is
stable (every node's successor and predecessor are the right ones), and
stops them all cleanly (SIGTERM, then SIGKILL after a grace period). It also
kills single nodes (SIGKILL, to test churn) and restarts them on their data
directory.

Every node is started with ``--supervisor-pid`` (this process): it exits
(gracefully) when its supervisor dies, even by SIGKILL (``PR_SET_PDEATHSIG``
on Linux, a parent-pid watch elsewhere), so a dead devnet leaves no orphans.

``$NOTE_HOME/devnet.json`` (written by :meth:`Devnet.write_manifest`, format
in :mod:`note_compute.localnet`) tells other commands (``note-compute
put/get/ring status``, :func:`open_client`) where the devnet is.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from .. import localnet
from ..errors import NoteError, Timeout
from ..node.datadir import DataDir

__all__ = ["Devnet", "NodeProcess", "DEVNET_FILE", "wait_until"]

DEVNET_FILE = localnet.STATE_FILE
LISTEN = "/ip4/127.0.0.1/tcp/0"


@dataclass
class NodeProcess:
    """One node process of a devnet."""

    index: int
    data_dir: Path
    proc: subprocess.Popen[bytes] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def addr(self) -> str:
        """The node's first listen multiaddr (with /p2p/)."""
        return str(self.info["addrs"][0])

    @property
    def node_id(self) -> bytes:
        return bytes.fromhex(self.info["node_id"])


class Devnet:
    """N node processes on 127.0.0.1 with data directories under ``base_dir``.

    ``node_args`` are extra command-line options passed to every node (for
    example ``["--stabilize-interval", "0.5"]``).
    """

    def __init__(self, base_dir: Path, n: int, *, node_args: list[str] | None = None,
                 env: dict[str, str] | None = None) -> None:
        if n < 1:
            raise ValueError("a devnet needs at least one node")
        self.base_dir = Path(base_dir)
        self.node_args = list(node_args or [])
        self.env = dict(os.environ if env is None else env)
        self.nodes = [NodeProcess(i, self.base_dir / f"node-{i:02d}") for i in range(n)]
        self.relay: str | None = None  # the relay socket a supervisor serves (recorded in the state file)
        self._locks: dict[Path, int] = {}  # NOTE_HOME -> its lock, held while our state file is published there
        self.started = int(time.time())  # when this network was created (kept across state rewrites)

    def hold_lock(self, fd: int, home: Path | None = None) -> None:
        """Take ownership of an already acquired NOTE_HOME lock (released by :meth:`stop`)."""
        self._locks[localnet.note_home(home)] = fd

    # -- processes ------------------------------------------------------

    def _spawn(self, node: NodeProcess, bootstrap: list[str]) -> None:
        dd = DataDir(node.data_dir)
        dd.create()
        dd.remove_info()
        node.info = {}
        cmd = [sys.executable, "-m", "note_compute.cli", "node", "--data-dir", str(node.data_dir),
               "--listen", LISTEN, "--supervisor-pid", str(os.getpid()), *self.node_args]
        for b in bootstrap:
            cmd += ["--bootstrap", b]
        log = open(node.data_dir / "node.log", "ab")
        try:
            node.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=self.env,
                                         start_new_session=True)
        finally:
            log.close()

    async def _wait_info(self, node: NodeProcess, deadline: float) -> None:
        dd = DataDir(node.data_dir)
        while True:
            info = dd.read_info()
            if info and node.proc is not None and info.get("pid") == node.proc.pid and info.get("addrs"):
                node.info = info
                return
            if node.proc is None or node.proc.poll() is not None:
                code = None if node.proc is None else node.proc.returncode
                raise NoteError(f"node {node.index} exited during start-up (code {code}); "
                                f"see {node.data_dir / 'node.log'}")
            if time.monotonic() > deadline:
                raise Timeout(f"node {node.index} did not start in time; see {node.data_dir / 'node.log'}")
            await trio.sleep(0.05)

    async def start(self, timeout: float = 60.0) -> None:
        """Start every node: the first alone, then the others bootstrapping from it."""
        deadline = time.monotonic() + timeout
        first = self.nodes[0]
        self._spawn(first, [])
        await self._wait_info(first, deadline)
        for node in self.nodes[1:]:
            self._spawn(node, [first.addr])
        async with trio.open_nursery() as nursery:
            for node in self.nodes[1:]:
                nursery.start_soon(self._wait_info, node, deadline)

    def live(self) -> list[NodeProcess]:
        return [n for n in self.nodes if n.alive]

    @property
    def bootstrap(self) -> list[str]:
        """Multiaddrs of (up to four) live nodes."""
        return [n.addr for n in self.live() if n.info][:4]

    def kill(self, index: int, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to one node (SIGKILL: a crash; SIGTERM: a graceful leave)."""
        node = self.nodes[index]
        if node.alive and node.proc is not None:
            node.proc.send_signal(sig)
            if sig == signal.SIGKILL:
                node.proc.wait()

    async def wait_exit(self, index: int, timeout: float = 15.0) -> int | None:
        node = self.nodes[index]
        deadline = time.monotonic() + timeout
        while node.proc is not None and node.proc.poll() is None:
            if time.monotonic() > deadline:
                return None
            await trio.sleep(0.05)
        return None if node.proc is None else node.proc.returncode

    async def restart(self, index: int, timeout: float = 30.0) -> None:
        """Start a stopped node again on its data directory."""
        node = self.nodes[index]
        if node.alive:
            raise NoteError(f"node {index} is still running")
        self._spawn(node, [n.addr for n in self.live() if n.info][:3])
        await self._wait_info(node, time.monotonic() + timeout)

    async def stop(self, grace: float = 10.0) -> None:
        """SIGTERM every live node (graceful leave), SIGKILL what is left after ``grace``."""
        for node in self.live():
            assert node.proc is not None
            node.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while self.live() and time.monotonic() < deadline:
            await trio.sleep(0.05)
        for node in self.live():
            assert node.proc is not None
            node.proc.kill()
            node.proc.wait()
        for node in self.nodes:
            DataDir(node.data_dir).remove_info()
        self._release()

    def stop_now(self) -> None:
        """Synchronous last resort (atexit, finally blocks): SIGKILL every live node."""
        for node in self.live():
            assert node.proc is not None
            node.proc.kill()
            node.proc.wait()
        self._release()

    def _release(self) -> None:
        """Withdraw the state file we published and release the NOTE_HOME lock."""
        for home, fd in self._locks.items():
            localnet.remove_state(home, pid=os.getpid())
            os.close(fd)
        self._locks.clear()

    # -- manifest -------------------------------------------------------

    def manifest(self) -> dict[str, Any]:
        return {
            "bootstrap": self.bootstrap,
            "pid": os.getpid(),
            "dir": str(self.base_dir),
            "started": self.started,
            "size": len(self.nodes),
            **({"relay": self.relay} if self.relay else {}),
            "nodes": [
                {"index": n.index, "pid": n.info.get("pid"), "data_dir": str(n.data_dir),
                 "addrs": n.info.get("addrs", []), "node_id": n.info.get("node_id")}
                for n in self.nodes if n.alive and n.info
            ],
        }

    def write_manifest(self, home: Path | None = None) -> Path:
        """Publish this network as the NOTE_HOME's local network: take its lock (unless held), write
        ``$NOTE_HOME/devnet.json``; both are withdrawn by :meth:`stop`. Raises DevnetRunning when
        another local network holds that NOTE_HOME."""
        where = localnet.note_home(home)
        if where not in self._locks:
            self._locks[where] = localnet.acquire_lock(where)
        return localnet.write_state(self.manifest(), where)


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout: float, interval: float = 0.25,
                     what: str = "condition") -> None:
    """Poll an async predicate until it is true; raise Timeout after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if await predicate():
            return
        if time.monotonic() > deadline:
            raise Timeout(f"{what} not reached within {timeout:.0f} s")
        await trio.sleep(interval)
