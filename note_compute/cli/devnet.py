"""``note-compute devnet [-d] [--nodes N] [--fresh] | devnet status | devnet stop``: the local network.

One local network per ``NOTE_HOME`` (a second one is refused), data kept in
``$NOTE_HOME/devnet/`` across runs (``--fresh`` starts empty), a dead one
detected and cleaned up (stale state, orphaned nodes). ``-d`` starts it in
the background and returns once the ring is stable. See
:mod:`note_compute.devnet.run`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

from ._common import (
    EXIT_NOT_FOUND,
    EXIT_USAGE,
    CliError,
    emit_json,
    fail,
    json_option,
    quiet_option,
    run_async,
    status,
)

__all__ = ["register", "devnet_group"]


@click.group("devnet", invoke_without_command=True)
@click.option("--nodes", "n", type=click.IntRange(1, 64), default=None,
              help="How many nodes (default: as many as the kept data has, also with --fresh; else 8).")
@click.option("--dir", "base_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Node data directories (default: $NOTE_HOME/devnet, kept across runs).")
@click.option("--fresh", is_flag=True, help="Delete the kept node data first (start an empty network).")
@click.option("-d", "--detach", is_flag=True,
              help="Run in the background; return once the ring is stable (log: $NOTE_HOME/devnet/devnet.log).")
@click.option("--timeout", type=float, default=90.0, show_default=True, help="Seconds to wait for a stable ring.")
@quiet_option("the bootstrap address (with -d)")
@json_option
@click.pass_context
def devnet_group(ctx: click.Context, n: int | None, base_dir: Path | None, fresh: bool, detach: bool,
                 timeout: float, quiet: bool, as_json: bool) -> None:
    """Run a local network of N nodes on 127.0.0.1 (one per NOTE_HOME) until Ctrl-C or `devnet stop`.

    With -d: start it in the background and return once the ring is stable (--json: its state as JSON).
    """
    if ctx.invoked_subcommand is not None:
        return
    if detach:
        _detach(n, base_dir, fresh, timeout, quiet, as_json)
        return
    if as_json or quiet:
        raise CliError("--json and -q go with -d (in the foreground the network prints its log until "
                       "Ctrl-C); see `note-compute devnet status --json`", EXIT_USAGE)
    from ..devnet.run import run_devnet

    def say(text: str) -> None:
        click.echo(text)

    run_async(_run, run_devnet, n, base_dir, timeout, fresh, say)


async def _run(run_devnet: Any, n: int | None, base_dir: Path | None, timeout: float, fresh: bool,
               say: Any) -> None:
    await run_devnet(n, base_dir, timeout, fresh=fresh, say=say)


def _detach(n: int | None, base_dir: Path | None, fresh: bool, timeout: float, quiet: bool, as_json: bool) -> None:
    from .. import localnet
    from ..devnet.run import DevnetRunning, acquire_lock

    # Refuse early (and with the same words) when one already runs.
    try:
        os.close(acquire_lock())
    except DevnetRunning as exc:
        raise fail(exc, 2) from exc
    log_path = localnet.devnet_dir() / "devnet.log"
    cmd = [sys.executable, "-m", "note_compute.cli", "devnet", "--timeout", str(timeout)]
    if n is not None:
        cmd += ["--nodes", str(n)]
    if base_dir is not None:
        cmd += ["--dir", str(base_dir)]
    if fresh:
        cmd.append("--fresh")
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    deadline = time.monotonic() + timeout + 10
    with status("starting the local network") as update:
        while True:
            state = localnet.read_state()
            if state is not None and state.get("pid") == proc.pid and localnet.is_running():
                break
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
                raise CliError("the local network did not start: " + " / ".join(tail), 4, code="devnet",
                               reason="start")
            if time.monotonic() > deadline:
                proc.terminate()
                raise CliError(f"the local network was not stable after {timeout:.0f} s; see {log_path}", 4,
                               code="devnet", reason="timeout")
            update(f"starting the local network ({time.monotonic() - deadline + timeout + 10:.0f} s)")
            time.sleep(0.1)
    if as_json:
        emit_json({"running": True, "pid": proc.pid, "bootstrap": state["bootstrap"], "nodes": len(state["nodes"]),
                   "dir": state["dir"], "log": str(log_path), "home": str(localnet.note_home())})
    elif quiet:
        click.echo(state["bootstrap"][0])
    else:
        click.echo(f"local network running: {len(state['nodes'])} nodes, supervisor pid {proc.pid}, "
                   f"data in {state['dir']}; log {log_path}; stop it with `note-compute devnet stop`")


@devnet_group.command("status")
@json_option
@quiet_option("a bootstrap address of the running network")
def status_cmd(as_json: bool, quiet: bool) -> None:
    """Say whether the local network runs, and its nodes. Exit 3 when it does not run."""
    from .. import localnet
    from ..devnet.run import clean_stale, pid_alive

    running = localnet.is_running()
    report = None if running else clean_stale()
    state = localnet.read_state() if running else None
    alive = []
    if state is not None:
        for node in state.get("nodes", []):
            pid = node.get("pid")
            alive.append(isinstance(pid, int) and pid_alive(pid))
    if quiet and not as_json:
        if state is not None and state.get("bootstrap"):
            click.echo(state["bootstrap"][0])
        elif running:
            click.echo("the local network is starting (no state file yet)", err=True)
        else:
            click.echo(f"the local network is down (NOTE_HOME={localnet.note_home()})", err=True)
    elif as_json:
        emit_json({"running": running, "home": str(localnet.note_home()), "state": state,
                   "nodes_alive": sum(alive), "stale_cleaned": bool(report),
                   "orphans_stopped": report.orphans if report else []})
    elif running and state is None:
        click.echo("the local network is starting (no state file yet)")
    elif running and state is not None:
        since = time.strftime("%H:%M:%S", time.localtime(state.get("started", 0)))
        size = state.get("size") if isinstance(state.get("size"), int) else len(alive)
        click.echo(f"the local network is running: supervisor pid {state.get('pid')} since {since}; "
                   f"{sum(alive)} of {size} nodes alive; data in {state.get('dir')}")
        for node, ok in zip(state.get("nodes", []), alive, strict=False):
            click.echo(f"  node {node.get('index'):>2}  pid {node.get('pid')}  {'up  ' if ok else 'DOWN'}  "
                       f"{(node.get('addrs') or ['?'])[0]}")
    else:
        click.echo(f"the local network is down (NOTE_HOME={localnet.note_home()})"
                   + (f"; {report.describe()}" if report else ""))
    if not running:
        raise SystemExit(EXIT_NOT_FOUND)


@devnet_group.command("stop")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds to wait before SIGKILL.")
@json_option
def stop_cmd(timeout: float, as_json: bool) -> None:
    """Stop the local network of this NOTE_HOME (its data is kept). Exit 3 when none runs."""
    from .. import localnet
    from ..devnet.run import stop_devnet
    from ..errors import NoteError

    state = localnet.read_state() or {}
    try:
        with status("stopping the local network"):
            pid = stop_devnet(timeout=timeout)
    except NoteError as exc:
        raise fail(exc) from exc
    kept = state.get("dir") or str(localnet.devnet_dir())
    if as_json:
        emit_json({"stopped": True, "pid": pid, "data": kept})
    else:
        click.echo(f"stopped the local network (supervisor pid {pid}); its data is kept in {kept} "
                   "(`note-compute devnet -d --fresh` starts empty)")


def register(group: click.Group) -> None:
    """Add the ``devnet`` command group to the main CLI."""
    group.add_command(devnet_group)
