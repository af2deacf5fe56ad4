"""The local network's state file: where a running ``note-compute devnet`` is, and whether it still runs.

Low layer (standard library and :mod:`.errors` only): the supervisor in
:mod:`note_compute.devnet` writes the state, every client reads it for its
default bootstrap addresses. Layout under ``$NOTE_HOME``::

    devnet.json        the state: {"bootstrap": [multiaddr, ...], "pid": supervisor pid,
                       "dir": data dir, "started": unix seconds, "size": nodes started,
                       "nodes": [{"index", "pid", "data_dir", "addrs", "node_id"}, ...]}
    devnet/lock        held (flock, exclusive) by the supervisor for its whole life
    devnet/relay.sock  the supervisor's relay for short-lived commands (:mod:`note_compute.relay`)
    devnet/node-NN/    one data directory per node (kept across runs)

Liveness is the lock, not the pid: the kernel releases a ``flock`` when its
holder dies, however it dies (SIGKILL included), and a pid can be reused.
So a state file whose lock nobody holds is stale: the network is down.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .errors import NoteError, PeerUnreachable

__all__ = [
    "STATE_FILE", "DEVNET_DIR", "LOCK_FILE", "note_home", "state_path", "devnet_dir", "lock_path",
    "is_running", "read_state", "read_bootstrap", "write_state", "remove_state", "acquire_lock", "DevnetRunning",
    "relay_path", "relay_seeds",
]

STATE_FILE = "devnet.json"
DEVNET_DIR = "devnet"
LOCK_FILE = "lock"


def note_home(home: Path | str | None = None) -> Path:
    """``home`` if given, else ``$NOTE_HOME``, else ``~/.note-compute``."""
    if home is not None:
        return Path(home)
    env = os.environ.get("NOTE_HOME")
    return Path(env) if env else Path.home() / ".note-compute"


def state_path(home: Path | str | None = None) -> Path:
    return note_home(home) / STATE_FILE


def devnet_dir(home: Path | str | None = None) -> Path:
    """Default data directory of the local network: ``$NOTE_HOME/devnet``."""
    return note_home(home) / DEVNET_DIR


def lock_path(home: Path | str | None = None) -> Path:
    return devnet_dir(home) / LOCK_FILE


class DevnetRunning(NoteError):
    """A local network already runs in this NOTE_HOME."""

    code = "devnet-running"
    exit_code = 2  # the command line refuses: usage


def acquire_lock(home: Path | str | None = None) -> int:
    """Take the NOTE_HOME's devnet lock (exclusive, non-blocking) and write our pid in it; return the fd.

    Raises DevnetRunning, naming the running supervisor, when another holder has it.
    """
    import fcntl

    path = lock_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise DevnetRunning(f"a local network already runs in NOTE_HOME={note_home(home)} "
                            f"(supervisor pid {holder}); see `note-compute devnet status`, stop it with "
                            "`note-compute devnet stop`, or use another NOTE_HOME", reason="running") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def is_running(home: Path | str | None = None) -> bool:
    """True while a supervisor holds the local network's lock in this NOTE_HOME."""
    import fcntl

    path = lock_path(home)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def read_state(home: Path | str | None = None) -> dict[str, Any] | None:
    """The state file's content, or None when there is none (or it is unreadable)."""
    try:
        data = json.loads(state_path(home).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_bootstrap(home: Path | str | None = None) -> list[str]:
    """Bootstrap multiaddrs of the running local network.

    Raises PeerUnreachable (reason ``devnet-down``) when no local network runs
    in this NOTE_HOME, saying so in those words.
    """
    where = note_home(home)
    state = read_state(home)
    if not is_running(home):
        how = "start one with `note-compute devnet -d`, or pass --bootstrap MULTIADDR"
        if state is not None:
            raise PeerUnreachable(f"the local network is down (its supervisor, pid {state.get('pid')}, "
                                  f"has stopped; NOTE_HOME={where}); {how}", reason="devnet-down")
        raise PeerUnreachable(f"the local network is down (no `note-compute devnet` runs in NOTE_HOME={where}); "
                              f"{how}", reason="devnet-down")
    if state is None:
        raise PeerUnreachable(f"the local network in NOTE_HOME={where} is still starting; try again in a moment",
                              reason="devnet-starting")
    boot = state.get("bootstrap")
    if not isinstance(boot, list) or not boot or not all(isinstance(b, str) for b in boot):
        raise NoteError(f"{state_path(home)} has no bootstrap addresses", reason="devnet-state")
    return list(boot)


def write_state(state: dict[str, Any], home: Path | str | None = None) -> Path:
    """Write the state file atomically and return its path."""
    path = state_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state, indent=2))
    os.replace(tmp, path)
    return path


def remove_state(home: Path | str | None = None, *, pid: int | None = None) -> None:
    """Delete the state file (only if it was written by ``pid``, when given)."""
    path = state_path(home)
    if pid is not None:
        state = read_state(home)
        if state is not None and state.get("pid") != pid:
            return
    path.unlink(missing_ok=True)


def relay_path(home: Path | str | None = None) -> Path:
    return devnet_dir(home) / "relay.sock"


def relay_seeds(home: Path | str | None = None) -> tuple[Path, list[tuple[int, str]]] | None:
    """(relay socket, [(node id, multiaddr), ...]) when the running local network offers a relay, else None.

    ``NOTE_NO_RELAY=1`` turns the relay off (commands then open their own libp2p host).
    """
    if os.environ.get("NOTE_NO_RELAY"):
        return None
    path = relay_path(home)
    state = read_state(home)
    if state is None or not path.exists() or not state.get("relay"):
        return None
    seeds = []
    for n in state.get("nodes") or []:
        try:
            seeds.append((int(n["node_id"], 16), str(n["addrs"][0])))
        except (KeyError, IndexError, TypeError, ValueError):
            continue
    return (path, seeds[:8]) if seeds else None
