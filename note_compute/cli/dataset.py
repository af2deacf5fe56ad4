"""``note-compute dataset publish FILE.jsonl --key NAME --name NAME --sort-key FIELD[,FIELD]``.

Turns JSON Lines into canonical CBOR records, sorts and shards them, uploads
the shards that changed since the previous version (a progress bar on large
datasets) and stores the signed manifest at ``note://AUTHORITY/datasets/NAME``.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import NoteError

__all__ = ["register", "dataset"]

_PROGRESS_MIN_BYTES = 1 << 20


@click.group("dataset")
def dataset() -> None:
    """Publish Merkle-committed datasets (specs/compute.md)."""


@dataset.command("publish")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--key", "key_name", required=True, help="Name of the signing key (see `note-compute key`).")
@click.option("--name", required=True, help="Dataset name: note://AUTHORITY/datasets/NAME.")
@click.option("--sort-key", required=True, metavar="FIELD[,FIELD]", help="Fields the records are sorted by.")
@click.option("--shard-size", type=click.IntRange(64, 16 * 1024 * 1024), default=None,
              help="Target shard size in bytes (default 240 KiB: one blob chunk).")
@click.option("--shard-records", type=click.IntRange(1, 1_000_000), default=None,
              help="Fixed number of records per shard (instead of --shard-size).")
@click.option("--bootstrap", "bootstrap", multiple=True, metavar="MULTIADDR",
              help="Bootstrap node multiaddr (repeatable); default: $NOTE_HOME/devnet.json.")
def publish_cmd(file: str, key_name: str, name: str, sort_key: str, shard_size: int | None,
                shard_records: int | None, bootstrap: tuple[str, ...]) -> None:
    """Publish FILE.jsonl as dataset NAME under key NAME."""
    import sys

    import trio
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from .. import keystore
    from ..client import open_client
    from ..compute.dataset import DEFAULT_SHARD_BYTES, parse_jsonl
    from ..compute.publish import publish_dataset

    fields = [f.strip() for f in sort_key.split(",")]
    if not all(fields) or len(set(fields)) != len(fields):
        raise click.BadParameter("--sort-key is a comma-separated list of distinct field names")
    if shard_size is not None and shard_records is not None:
        raise click.UsageError("--shard-size and --shard-records exclude each other")
    try:
        key = keystore.load_key(key_name)
        data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
        records = parse_jsonl(data)
    except NoteError as exc:
        raise click.ClickException(str(exc)) from exc
    console = Console(stderr=True)
    show = len(data) >= _PROGRESS_MIN_BYTES and console.is_terminal

    async def go():  # type: ignore[no-untyped-def]
        async with open_client(list(bootstrap) or None) as client:
            if not show:
                return await publish_dataset(client, key, records, name=name, sort_key=fields,
                                             shard_bytes=shard_size or DEFAULT_SHARD_BYTES,
                                             shard_records=shard_records)
            with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                          TimeRemainingColumn(), console=console) as bar:
                task = bar.add_task("uploading shards", total=None)
                return await publish_dataset(client, key, records, name=name, sort_key=fields,
                                             shard_bytes=shard_size or DEFAULT_SHARD_BYTES,
                                             shard_records=shard_records,
                                             progress=lambda d, t: bar.update(task, completed=d, total=t))

    try:
        pub = trio.run(go)
    except (NoteError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    m = pub.built.manifest
    click.echo(f"published {pub.record.url} seq={pub.record.seq} records={m.count} shards={len(m.shards)} "
               f"uploaded={pub.uploaded} root={m.root.hex()} on {pub.acks} replicas")


def register(group: click.Group) -> None:
    """Add the ``dataset`` command group to the main CLI."""
    group.add_command(dataset)
