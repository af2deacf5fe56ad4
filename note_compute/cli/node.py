"""``note-compute node | put | get | ring status``: run and use the Note ring.

* ``node`` runs one ring node until SIGINT/SIGTERM, then leaves gracefully.
* ``put`` / ``get`` store and fetch signed records (large files go in a blob).
* ``ring status`` shows every node, its range and its record count.

(``devnet``, the local network of node processes, is in :mod:`.devnet`.)

Sequence numbers (``put``): the new record's ``seq`` is
``max(previous seq + 1, now in milliseconds since the epoch)``, where the
previous seq is that of the freshest record the ring holds for the URL (none:
0). Successive puts therefore always move forward, even when the previous
record cannot be found for a while, and seqs stay readable as times.

Large values: a file over :data:`INLINE_MAX` bytes is stored as a blob
(chunks + manifest, content-addressed) and the record carries no ``value``
and a single ``ref``: the manifest's address. ``get`` follows that ref, and
never writes binary data to a terminal.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ._common import (
    EXIT_USAGE,
    CliError,
    bootstrap_option,
    emit_json,
    is_terminal,
    json_option,
    quiet_option,
    run_async,
    status,
)

__all__ = ["register", "INLINE_MAX", "looks_binary"]

INLINE_MAX = 64 * 1024
"""Largest file stored inline in a record's value; bigger files become blobs."""


def _quiet_libp2p() -> None:
    """py-libp2p logs routine connection churn as warnings with tracebacks; keep the node's log readable."""
    import logging

    import libp2p  # noqa: F401 - importing it resets its logger; set the level afterwards

    logging.getLogger("libp2p").setLevel(logging.CRITICAL)


def exit_with_parent(parent: int) -> None:
    """End this process (SIGTERM to itself: a graceful leave) when process ``parent`` dies.

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGTERM)``, the kernel's own notice.
    Everywhere (and as a fallback): a daemon thread that watches the parent pid.
    """
    import os
    import signal
    import threading
    import time

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before we could ask to be told
        raise SystemExit(f"supervisor {parent} is gone; not starting")

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()


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
@click.option("--supervisor-pid", type=int, default=None, hidden=True,
              help="Leave when this process (the parent, e.g. `note-compute devnet`) dies.")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def node_cmd(data_dir: Path, listen: tuple[str, ...], bootstrap: tuple[str, ...],
             stabilize_interval: float | None, replicate_interval: float | None, request_timeout: float | None,
             supervisor_pid: int | None, verbose: int) -> None:
    """Run one ring node until SIGINT/SIGTERM (then leave gracefully)."""
    import logging

    from ..node.runtime import NodeConfig, serve_until_signal

    if supervisor_pid is not None:
        exit_with_parent(supervisor_pid)
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
    run_async(serve_until_signal, cfg)


@click.command("put")
@click.argument("url")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--key", "key_name", required=True, help="Name of the signing key (see `note-compute key`).")
@click.option("--media-type", default="application/octet-stream", show_default=True,
              help="Media type of a blob (files over 64 KiB).")
@bootstrap_option
@json_option
@quiet_option("the URL")
def put_cmd(url: str, file: str, key_name: str, media_type: str, bootstrap: tuple[str, ...], as_json: bool,
            quiet: bool) -> None:
    """Sign FILE's bytes as the record at URL and store it on the ring."""
    from .ops import put_file

    data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    with status(f"storing {len(data):,} bytes at {url}"):
        rec, acks = run_async(put_file, url, data, key_name, media_type, list(bootstrap) or None)
    if as_json:
        emit_json({"url": rec.url, "seq": rec.seq, "bytes": len(data), "replicas": acks})
    elif quiet:
        click.echo(rec.url)
    else:
        click.echo(f"stored {rec.url} seq={rec.seq} ({len(data):,} bytes) on {acks} replicas")


def looks_binary(data: bytes) -> bool:
    """True unless ``data`` is UTF-8 text without control characters (tab, CR, LF allowed)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return any(ord(c) < 32 and c not in "\t\r\n" or c == "\x7f" for c in text)


def _what_is(data: bytes) -> str:
    """A hint for binary values that are this project's own records (dataset manifest, program)."""
    from .. import encoding
    from ..errors import NoteError

    try:
        value = encoding.decode(data)
    except NoteError:
        return ""
    if isinstance(value, dict) and value.get("type") == "dataset":
        return " (a dataset manifest: see `note-compute dataset show URL`)"
    if isinstance(value, dict) and value.get("type") == "program":
        return " (a program record: see `note-compute program show URL`)"
    return " (CBOR)"


@click.command("get")
@click.argument("url")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), default="-",
              help="Write the value here (default: stdout; binary values only when stdout is not a terminal).")
@bootstrap_option
@json_option
def get_cmd(url: str, output: str, bootstrap: tuple[str, ...], as_json: bool) -> None:
    """Fetch the record at URL, verify it, and write its value."""
    from .ops import get_file

    with status(f"fetching {url}"):
        rec, data = run_async(get_file, url, list(bootstrap) or None)
    if as_json:
        value: object = data.decode("utf-8") if not looks_binary(data) else {"hex": data.hex()}
        emit_json({"url": rec.url, "seq": rec.seq, "authority": rec.authority, "bytes": len(data),
                   "created": rec.created, "value": value})
        return
    if output == "-":
        if is_terminal(sys.stdout) and looks_binary(data):
            raise CliError(f"{rec.url} holds {len(data):,} bytes of binary data{_what_is(data)}; not printing it "
                           "to a terminal: use -o FILE, a pipe, or --json", EXIT_USAGE, reason="binary")
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        Path(output).write_bytes(data)
        click.echo(f"wrote {len(data):,} bytes of {rec.url} seq={rec.seq} to {output}", err=True)


@click.group("ring")
def ring_group() -> None:
    """Inspect the ring."""


@ring_group.command("status")
@bootstrap_option
@json_option
def ring_status_cmd(bootstrap: tuple[str, ...], as_json: bool) -> None:
    """Show every node: id, address, range, records held."""
    from .ops import ring_status

    with status("asking every node for its status"):
        rows, stable = run_async(ring_status, list(bootstrap) or None)
    header = ("node id", "address", "range (pred, me]", "share", "records", "bytes", "succ ok")
    if as_json:
        emit_json({"stable": stable, "nodes": [dict(zip(header, r, strict=True)) for r in rows]})
        return
    from rich.table import Table

    table = Table(*header, title=f"{len(rows)} nodes, ring {'stable' if stable else 'NOT stable'}")
    for r in rows:
        table.add_row(*r)
    from ._common import console

    console(width=160).print(table)


def register(group: click.Group) -> None:
    """Add the node, put, get and ring commands to ``group``."""
    for cmd in (node_cmd, put_cmd, get_cmd, ring_group):
        group.add_command(cmd)
