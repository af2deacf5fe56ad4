"""``note-compute node | devnet | put | get | ring status``: run and use the Note ring.

* ``node`` runs one ring node until SIGINT/SIGTERM, then leaves gracefully.
* ``devnet`` runs N nodes as separate processes on 127.0.0.1 and writes
  ``$NOTE_HOME/devnet.json`` so the other commands need no flags.
* ``put`` / ``get`` store and fetch signed records (large files go in a blob).
* ``ring status`` shows every node, its range and its record count.

Sequence numbers (``put``): the new record's ``seq`` is
``max(previous seq + 1, now in milliseconds since the epoch)``, where the
previous seq is that of the freshest record the ring holds for the URL (none:
0). Successive puts therefore always move forward, even when the previous
record cannot be found for a while, and seqs stay readable as times.

Large values: a file over :data:`INLINE_MAX` bytes is stored as a blob
(chunks + manifest, content-addressed) and the record carries no ``value``
and a single ``ref``: the manifest's address. ``get`` follows that ref.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ..errors import NoteError

_F = TypeVar("_F", bound=Callable[..., Any])
_T = TypeVar("_T")

__all__ = ["register", "INLINE_MAX"]

INLINE_MAX = 64 * 1024
"""Largest file stored inline in a record's value; bigger files become blobs."""


def _fail(exc: BaseException) -> click.ClickException:
    return click.ClickException(str(exc))


def _run(fn: Callable[..., Awaitable[_T]], *args: Any) -> _T:
    """``trio.run(fn, *args)``, turning a NoteError (even inside an exception group) into a CLI error."""
    import trio

    try:
        return trio.run(fn, *args)
    except NoteError as exc:
        raise _fail(exc) from exc
    except BaseExceptionGroup as group:
        notes = [e for e in _leaves(group) if isinstance(e, NoteError)]
        if notes:
            raise _fail(notes[0]) from group
        raise


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for e in exc.exceptions for leaf in _leaves(e)]
    return [exc]


def _quiet_libp2p() -> None:
    """py-libp2p logs routine connection churn as warnings with tracebacks; keep the CLI readable."""
    import logging

    import libp2p  # noqa: F401 - importing it resets its logger; set the level afterwards

    logging.getLogger("libp2p").setLevel(logging.CRITICAL)


def _bootstrap_option(f: _F) -> _F:
    return click.option(
        "--bootstrap", "bootstrap", multiple=True, metavar="MULTIADDR",
        help="Bootstrap node multiaddr (repeatable); default: $NOTE_HOME/devnet.json.",
    )(f)


@click.command("node")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Node data directory (key, store, node.json).")
@click.option("--listen", "listen", multiple=True, metavar="MULTIADDR",
              help="Listen multiaddr (repeatable); default /ip4/127.0.0.1/tcp/0.")
@click.option("--bootstrap", "bootstrap", multiple=True, metavar="MULTIADDR",
              help="Multiaddr (with /p2p/) of a ring member to join through (repeatable).")
@click.option("--stabilize-interval", type=float, default=None, help="Seconds between stabilization rounds.")
@click.option("--replicate-interval", type=float, default=None, help="Seconds between anti-entropy rounds.")
@click.option("--request-timeout", type=float, default=None, help="Seconds before a peer's silence counts as failure.")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def node_cmd(data_dir: Path, listen: tuple[str, ...], bootstrap: tuple[str, ...],
             stabilize_interval: float | None, replicate_interval: float | None, request_timeout: float | None,
             verbose: int) -> None:
    """Run one ring node until SIGINT/SIGTERM (then leave gracefully)."""
    import logging

    from ..node.runtime import NodeConfig, serve_until_signal

    logging.basicConfig(level=[logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if verbose < 2:
        # py-libp2p logs every dropped connection with a traceback; churn is normal here.
        _quiet_libp2p()
    cfg = NodeConfig(data_dir=data_dir, listen=list(listen) or ["/ip4/127.0.0.1/tcp/0"],
                     bootstrap=list(bootstrap))
    if stabilize_interval is not None:
        cfg.stabilize_interval = stabilize_interval
    if replicate_interval is not None:
        cfg.replicate_interval = replicate_interval
    if request_timeout is not None:
        cfg.request_timeout = request_timeout
    _run(serve_until_signal, cfg)


@click.command("devnet")
@click.option("--nodes", "n", type=click.IntRange(1, 64), default=8, show_default=True, help="How many nodes.")
@click.option(
    "--dir",
    "base_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep node data directories here, across runs (default: a fresh directory under $NOTE_HOME, deleted on stop).",
)
@click.option("--timeout", type=float, default=90.0, show_default=True, help="Seconds to wait for a stable ring.")
def devnet_cmd(n: int, base_dir: Path | None, timeout: float) -> None:
    """Run N nodes on 127.0.0.1 as separate processes until Ctrl-C / SIGTERM."""
    from ..node.devnet_cli import run_devnet

    _quiet_libp2p()

    _run(run_devnet, n, base_dir, timeout)


@click.command("put")
@click.argument("url")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--key", "key_name", required=True, help="Name of the signing key (see `note-compute key`).")
@click.option("--media-type", default="application/octet-stream", show_default=True,
              help="Media type of a blob (files over 64 KiB).")
@_bootstrap_option
def put_cmd(url: str, file: str, key_name: str, media_type: str, bootstrap: tuple[str, ...]) -> None:
    """Sign FILE's bytes as the record at URL and store it on the ring."""
    from ..node.cli_ops import put_file

    _quiet_libp2p()

    data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    rec, acks = _run(put_file, url, data, key_name, media_type, list(bootstrap) or None)
    click.echo(f"stored {rec.url} seq={rec.seq} ({len(data)} bytes) on {acks} replicas")


@click.command("get")
@click.argument("url")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), default="-",
              help="Write the value here (default: stdout).")
@_bootstrap_option
def get_cmd(url: str, output: str, bootstrap: tuple[str, ...]) -> None:
    """Fetch the record at URL, verify it, and write its value."""
    from ..node.cli_ops import get_file

    _quiet_libp2p()

    rec, data = _run(get_file, url, list(bootstrap) or None)
    if output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        Path(output).write_bytes(data)
        click.echo(f"wrote {len(data)} bytes of {rec.url} seq={rec.seq} to {output}", err=True)


@click.group("ring")
def ring_group() -> None:
    """Inspect the ring."""


@ring_group.command("status")
@_bootstrap_option
def ring_status_cmd(bootstrap: tuple[str, ...]) -> None:
    """Show every node: id, address, range, records held."""
    from rich.console import Console
    from rich.table import Table

    from ..node.cli_ops import ring_status

    _quiet_libp2p()

    rows, stable = _run(ring_status, list(bootstrap) or None)
    table = Table("node id", "address", "range (pred, me]", "share", "records", "bytes", "succ ok",
                  title=f"{len(rows)} nodes, ring {'stable' if stable else 'NOT stable'}")
    for r in rows:
        table.add_row(*r)
    Console(width=160).print(table)


def register(group: click.Group) -> None:
    """Add the node, devnet, put, get and ring commands to ``group``."""
    for cmd in (node_cmd, devnet_cmd, put_cmd, get_cmd, ring_group):
        group.add_command(cmd)
