"""A lying peer on a real local network: a ring node process whose compute answers lie as its data directory says.

    python -m note_compute.testing.lying_node --data-dir DIR --bootstrap MULTIADDR [--parent-pid PID]
                                              [--lies MODULE:FUNCTION]

Like ``note-compute node`` (libp2p, real sockets, its own store; it joins the
ring at the bootstrap addresses and serves storage as every node does), but
its compute requests (``compute.query``, ``compute.records``,
``compute.batch``) go through a :class:`~note_compute.testing.compute.ComputePeer`
in the mode named in ``DIR/lie`` (:data:`LIE_FILE`; ``honest`` when absent),
read on every request. The modes that need no in-memory network work here:
:data:`NODE_MODES` (``hide_one`` hides a match and signs the smaller output,
``forge``, ``truncate``, ...). ``--lies MODULE:FUNCTION`` names an app's own
``set_lie(peer, name)`` for lies of its own. The node leaves the ring
gracefully on SIGTERM or SIGINT, and when its parent process goes away.

For a demo or a test (in the process that runs the network's client):

- :func:`grind_seed`: a node key whose id the ring's replica rule places among
  the replicas of a given key (an attacker picks its own id; ids are the
  SHA-256 of a key it generates, so a few tries suffice);
- :func:`lying_node`: start such a node joined to a running network, yield a
  :class:`LyingNode` (its PeerRef, ``lie(name)`` to switch what it tells),
  always stop it (SIGTERM, then SIGKILL) on exit, errors and cancellation;
- :class:`AskFirst`: a transport whose replica lists put given peers first,
  so that a :class:`~note_compute.compute.client.ComputeClient` built with
  ``shuffle=False`` asks them first (the order is each client's own choice).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

from ..crypto import SigningKey

__all__ = ["LIE_FILE", "NODE_MODES", "AskFirst", "LyingNode", "grind_seed", "lying_node", "node_id_of_seed"]

LIE_FILE = "lie"
"""In a lying node's data directory: the lie it tells (a mode name; ``honest`` when absent), read on every request."""

NODE_MODES = ("honest", "hide_one", "hide_all", "forge", "wrong_program", "truncate", "false_receipt",
              "bad_signature", "refuse", "timeout", "everything", "extra", "refuse_audit", "no_records", "loose",
              "other_range")
"""The :class:`~note_compute.testing.compute.ComputePeer` modes a real node can tell (the ``stale`` and hint
lies read the in-memory network's record history)."""


def node_id_of_seed(seed: bytes) -> bytes:
    """The ring id of a node whose ``node.key`` is ``seed``: SHA-256 of its public key."""
    return hashlib.sha256(SigningKey(seed).public_key).digest()


def grind_seed(ring_ids: Sequence[bytes], key: bytes, *, r: int = 3, label: bytes = b"", tries: int = 100_000) -> bytes:
    """A node seed whose id, joined to a ring of ``ring_ids``, is one of the ``r`` replicas of ``key``.

    Deterministic for the same ring, key and ``label``. Raises ValueError after ``tries`` seeds (the
    chance of a miss is about (1 - r/n) per try on a ring of n nodes).
    """
    from ..devnet.ring import expected_replicas

    ids = list(ring_ids)
    for i in range(tries):
        seed = hashlib.sha256(b"note-lying-node/" + label + key + i.to_bytes(8, "big")).digest()
        nid = node_id_of_seed(seed)
        if nid in expected_replicas([*ids, nid], key, r):
            return seed
    raise ValueError(f"no seed among {tries} places a node among the replicas of {key.hex()[:12]}")


class AskFirst:
    """A ring client (or in-memory network) whose replica lists put the peers in ``first`` first.

    Everything else is the wrapped transport's. With ``ComputeClient(AskFirst(...), ..., shuffle=False)``
    the client asks those peers before the others (which replica a client asks first is its own choice).
    """

    def __init__(self, transport: Any, first: Collection[bytes]) -> None:
        self.transport = transport
        self.first = set(first)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)

    async def replicas(self, key: bytes, count: int | None = None) -> list[Any]:
        from ..compute.actions import peer_id_of

        found = self.transport.replicas(key) if count is None else self.transport.replicas(key, count=count)
        peers = list(await found)
        return sorted(peers, key=lambda p: peer_id_of(p) not in self.first)


class LyingNode:
    """A running lying node: its PeerRef, and the file through which it is told which lie to tell."""

    def __init__(self, peer: Any, data_dir: Path, proc: subprocess.Popen[bytes]) -> None:
        self.peer = peer
        self.node_id: bytes = peer.id_bytes
        self.data_dir = data_dir
        self.proc = proc

    def lie(self, name: str) -> None:
        """From the next request on, tell ``name`` (a mode, or a name the node's ``--lies`` function knows)."""
        write_lie(self.data_dir, name)


def write_lie(data_dir: Path, name: str) -> None:
    """Name the lie a lying node's data directory tells (atomically: the node reads it on every request)."""
    if not name or "\n" in name:
        raise ValueError(f"not a lie name: {name!r}")
    tmp = data_dir / (LIE_FILE + ".tmp")
    tmp.write_text(name)
    tmp.replace(data_dir / LIE_FILE)


def _write_seed(data_dir: Path, seed: bytes) -> None:
    from ..node.datadir import DataDir

    path = DataDir(data_dir).key_path
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(seed)


@asynccontextmanager
async def lying_node(bootstrap: Sequence[str], data_dir: Path, *, lie: str = "honest", seed: bytes | None = None,
                     lies: str | None = None, timeout: float = 60.0) -> AsyncIterator[LyingNode]:
    """Start ``python -m note_compute.testing.lying_node`` joined to the ring at ``bootstrap``; stop it on exit.

    ``seed``: its node key (see :func:`grind_seed`; default: a new one); ``lie``: what it tells from the
    start; ``lies``: ``MODULE:FUNCTION`` for an app's own lies. It is stopped (SIGTERM: a graceful leave;
    SIGKILL after 15 s) however the block ends, and it ends itself if this process dies.
    """
    from ..errors import NoteError
    from ..net.addrs import peer_ref_from_multiaddr
    from ..node.datadir import DataDir

    dd = DataDir(data_dir)
    dd.create()
    dd.remove_info()
    if seed is not None:
        _write_seed(data_dir, seed)
    write_lie(data_dir, lie)
    root = Path(__file__).resolve().parents[2]
    path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    cmd = [sys.executable, "-m", "note_compute.testing.lying_node", "--data-dir", str(data_dir),
           "--parent-pid", str(os.getpid()), *(["--lies", lies] if lies else [])]
    for b in bootstrap:
        cmd += ["--bootstrap", b]
    with open(data_dir / "node.log", "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)  # a terminal's Ctrl-C reaches us; we stop it
    try:
        deadline = time.monotonic() + timeout
        while True:
            info = dd.read_info()
            if info and info.get("pid") == proc.pid and info.get("addrs"):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise NoteError(f"the lying node did not start (exit {proc.poll()}); see {data_dir / 'node.log'}")
            await trio.sleep(0.05)
        yield LyingNode(peer_ref_from_multiaddr(str(info["addrs"][0])), data_dir, proc)
    finally:
        with trio.CancelScope(shield=True):
            if proc.poll() is None:
                proc.terminate()  # SIGTERM: it leaves the ring gracefully
                deadline = time.monotonic() + 15
                while proc.poll() is None and time.monotonic() < deadline:
                    await trio.sleep(0.05)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            dd.remove_info()


# -- the node process ---------------------------------------------------------------------------------------


def _mode_setter(spec: str | None) -> Callable[[Any, str], None]:
    if spec:
        module, _, name = spec.partition(":")
        fn: Callable[[Any, str], None] = getattr(importlib.import_module(module), name)
        return fn

    def set_mode(peer: Any, lie: str) -> None:
        if lie not in NODE_MODES:
            raise ValueError(f"unknown lie {lie!r}")
        peer.mode = lie

    return set_mode


async def _serve(args: argparse.Namespace) -> None:
    import wasmtime

    from ..compute.node_source import attach_compute
    from ..node import NodeConfig, open_node
    from .compute import ALL_WAT, ComputePeer

    data_dir = Path(args.data_dir)
    cfg = NodeConfig(data_dir=data_dir, listen=[args.listen], bootstrap=list(args.bootstrap or []),
                     stabilize_interval=0.5, replicate_interval=2.0, request_timeout=1.0)  # as a devnet's nodes
    lie_file = data_dir / LIE_FILE
    set_lie = _mode_setter(args.lies)
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with open_node(cfg) as node, trio.open_nursery() as nursery:
            peer = ComputePeer(node.signing_key, attach_compute(node, prefetch=False),
                               alt_wasm=bytes(wasmtime.wat2wasm(ALL_WAT)))
            told = ["honest"]

            async def handle(sender: Any, msg: dict[str, Any]) -> dict[str, Any]:
                lie = lie_file.read_text().strip() if lie_file.exists() else "honest"
                if lie != told[0]:
                    try:
                        set_lie(peer, lie)
                    except ValueError as exc:
                        print(f"lying node: {exc}; answering honestly", file=sys.stderr, flush=True)
                        set_lie(peer, "honest")
                    told[0] = lie
                reply: dict[str, Any] = await peer.handle(msg)
                return reply

            for op in ("compute.query", "compute.records", "compute.batch"):
                node.register_handler(op, handle)

            async def orphaned() -> None:
                while args.parent_pid is None or os.getppid() == args.parent_pid:
                    await trio.sleep(0.5)
                nursery.cancel_scope.cancel()

            nursery.start_soon(orphaned)
            print(f"lying node {node.node_id.hex()[:16]} listening on {node.host.listen_addrs[0]}", flush=True)
            async for _ in signals:
                break
            nursery.cancel_scope.cancel()
    print("lying node stopped", flush=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--data-dir", required=True)
    p.add_argument("--listen", default="/ip4/127.0.0.1/tcp/0")
    p.add_argument("--bootstrap", action="append")
    p.add_argument("--parent-pid", type=int, default=None)
    p.add_argument("--lies", default=None, help="MODULE:FUNCTION, an app's set_lie(peer, name)")
    args = p.parse_args(argv)
    if args.parent_pid is not None and os.getppid() != args.parent_pid:
        raise SystemExit(f"parent {args.parent_pid} is gone; not starting")
    import logging

    import libp2p  # noqa: F401 - its import resets its logger level

    logging.getLogger("libp2p").setLevel(logging.CRITICAL)
    trio.run(_serve, args)


if __name__ == "__main__":
    main()
