"""``note-compute dataset publish | show | export``: Merkle-committed datasets.

* ``publish FILE.jsonl --key NAME --name NAME --sort-key FIELD[,FIELD] [--program URL|FILE.wasm]``
  checks every record before anything is uploaded: each sort-key field
  present, sortable and of one type across records; with ``--program``, the
  record fields the program's interface requires, then a dry run of the
  program on the records (every record up to 5,000, a spread sample beyond).
  It refuses with the line number and the field (exit 2). Then it sorts,
  shards, uploads the shards that changed since the previous version and
  stores the signed manifest at ``note://AUTHORITY/datasets/NAME``.
* ``show URL``: the manifest's summary (records, shards, sort key, schema,
  seq, size).
* ``export URL``: every record as JSON Lines, in sort-key order, each shard
  checked against its Merkle root in the signed manifest.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import click

from ..errors import NoteError
from ._common import (
    EXIT_USAGE,
    bootstrap_option,
    emit_json,
    fail,
    is_terminal,
    json_option,
    jsonable,
    quiet_option,
    run_async,
    status,
)

READY_TIMEOUT = 30.0
"""Longest ``dataset publish`` waits for the shard replicas to load their shards (``compute.prepare``)."""

__all__ = ["register", "dataset"]


@click.group("dataset")
def dataset() -> None:
    """Publish, show and export Merkle-committed datasets (specs/compute.md)."""


def _local_program(path: str) -> tuple[bytes, int, Any, str]:
    from .describe import default_interface_file, load_interface_file
    from .program import DEFAULT_FUEL

    itf_file = default_interface_file(path)
    return Path(path).read_bytes(), DEFAULT_FUEL, load_interface_file(itf_file) if itf_file else None, Path(path).stem


async def _ring_program(client: Any, url: str) -> tuple[bytes, int, Any, str]:
    from .program import fetch_program

    prog, wasm = await fetch_program(client, url)
    return wasm, prog.fuel, prog.interface, prog.name


def _dry_runner(wasm: bytes, fuel: int) -> tuple[Any, Any]:
    """(run(records) -> error code or None, close)."""
    from .. import encoding
    from ..errors import SandboxError
    from ..sandbox import Sandbox
    from ..sandbox.abi import pack_input

    sandbox = Sandbox()
    args = encoding.encode({})

    def run(records: list[bytes]) -> int | None:
        try:
            sandbox.run(wasm, pack_input(args, records), fuel=fuel, deadline_ms=10_000)
        except SandboxError as exc:
            m = re.search(r"error code (\d+)", exc.message)
            if m is None:
                raise
            return int(m.group(1))
        return None

    return run, sandbox.close


@dataset.command("publish")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--key", "key_name", required=True, help="Name of the signing key (see `note-compute key`).")
@click.option("--name", required=True, help="Dataset name: note://AUTHORITY/datasets/NAME.")
@click.option("--sort-key", required=True, metavar="FIELD[,FIELD]", help="Fields the records are sorted by.")
@click.option("--program", "program", default=None, metavar="URL|FILE.wasm",
              help="Check the records against this program (its interface, then a dry run) before publishing.")
@click.option("--shard-size", type=click.IntRange(64, 16 * 1024 * 1024), default=None,
              help="Target shard size in bytes (default 240 KiB: one blob chunk).")
@click.option("--shard-records", type=click.IntRange(1, 1_000_000), default=None,
              help="Fixed number of records per shard (instead of --shard-size).")
@bootstrap_option
@json_option
@quiet_option("the dataset URL")
def publish_cmd(file: str, key_name: str, name: str, sort_key: str, program: str | None, shard_size: int | None,
                shard_records: int | None, bootstrap: tuple[str, ...], as_json: bool, quiet: bool) -> None:
    """Check FILE.jsonl, then publish it as dataset NAME under key NAME."""
    from .. import keystore
    from ..client import open_client
    from ..compute.dataset import DEFAULT_SHARD_BYTES, parse_jsonl
    from ..compute.publish import check_for_program, check_sort_key, jsonl_objects, publish_dataset

    fields = [f.strip() for f in sort_key.split(",")]
    if not all(fields) or len(set(fields)) != len(fields):
        raise click.BadParameter("--sort-key is a comma-separated list of distinct field names")
    if shard_size is not None and shard_records is not None:
        raise click.UsageError("--shard-size and --shard-records exclude each other")
    where = "stdin" if file == "-" else file
    try:
        key = keystore.load_key(key_name)
    except NoteError as exc:
        raise fail(exc) from exc
    data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    data = data.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark, as spreadsheet exports write: not data
    with status(f"checking the records of {where} ({len(data):,} bytes)"):  # a big file takes seconds
        try:
            records = parse_jsonl(data)
            objects = jsonl_objects(data)
            check_sort_key(objects, fields)
        except NoteError as exc:
            raise fail(exc, EXIT_USAGE, prefix=f"{where}: ") from exc
    local = _local_program(program) if program is not None and not program.startswith("note://") else None
    checked = 0

    async def go() -> Any:
        nonlocal checked
        async with open_client(list(bootstrap) or None) as client:
            if program is not None:
                wasm, fuel, interface, pname = local or await _ring_program(client, program)
                run, close = _dry_runner(wasm, fuel)
                try:
                    update(f"checking {len(records):,} records against {pname}")
                    checked = check_for_program(objects, records, interface, run, name=pname)
                except NoteError as exc:
                    raise fail(exc, EXIT_USAGE, prefix=f"{where}: ") from exc
                finally:
                    close()
            update(f"publishing {len(records):,} records as {name}")
            return await publish_dataset(client, key, records, name=name, sort_key=fields,
                                         shard_bytes=shard_size or DEFAULT_SHARD_BYTES, shard_records=shard_records,
                                         progress=lambda d, t: update(f"uploading shards: {d:,} of {t:,} bytes"),
                                         ready_timeout=READY_TIMEOUT,  # the first query finds the shards loaded
                                         ready_progress=lambda p: update(ready_line(p)))

    with status("connecting") as update:
        pub = run_async(go)
    m = pub.built.manifest
    if as_json:
        emit_json({"url": pub.record.url, "seq": pub.record.seq, "records": m.count, "shards": len(m.shards),
                   "uploaded": pub.uploaded, "root": m.root.hex(), "replicas": pub.acks, "dry_run": checked})
    elif quiet:
        click.echo(pub.record.url)
    else:
        dry = f"; {checked:,} records dry-run through the program" if program else ""
        click.echo(f"published {pub.record.url} seq={pub.record.seq}: {m.count:,} records in {len(m.shards)} "
                   f"shard(s) ({pub.uploaded} uploaded) on {pub.acks} replicas{dry}")


def ready_line(p: Any) -> str:
    """The status line while the shards' replicas load a new version (``compute.progress.ReadyProgress``)."""
    line = f"replicas loading the shards: {p.ready} of {p.asked} ready"
    if p.waiting:
        more = f" and {p.waiting - len(p.waiting_on)} more" if p.waiting > len(p.waiting_on) else ""
        line += f"; waiting on {', '.join(p.waiting_on)}{more} (at most {READY_TIMEOUT:g} s)"
    return line


async def _manifest(url: str, bootstrap: list[str] | None) -> Any:
    from ..client import open_client

    async with open_client(bootstrap) as client:
        return await verified_manifest(client, url)


async def verified_manifest(client: Any, url: str) -> Any:
    """The dataset manifest at ``url`` (verified); a URL holding something else is a usage error (exit 2)."""
    from .. import urls
    from ..compute.source import RingSource
    from .describe import expect_kind

    record = await client.get_record(urls.normalize(url))
    expect_kind(record, "dataset")
    return await RingSource(client).manifest_of_record(record)


def _manifest_json(m: Any) -> dict[str, Any]:
    return {"url": m.url, "name": m.name, "seq": m.seq, "records": m.count, "shards": len(m.shards),
            "sort_key": list(m.sort_key), "schema": m.schema, "bytes": sum(s.size for s in m.shards),
            "root": m.root.hex(), "first_key": m.shards[0].lo, "last_key": m.shards[-1].hi}


@dataset.command("show")
@click.argument("url")
@bootstrap_option
@json_option
def show_cmd(url: str, bootstrap: tuple[str, ...], as_json: bool) -> None:
    """Show dataset URL: records, shards, sort key, schema, seq, size (from its verified manifest)."""
    with status(f"fetching {url}"):
        m = run_async(_manifest, url, list(bootstrap) or None)
    info = _manifest_json(m)
    if as_json:
        emit_json(info)
        return
    click.echo(f"{m.url}  seq {m.seq}")
    click.echo(f"{m.count:,} records in {len(m.shards)} shard(s), {info['bytes']:,} bytes; root {m.root.hex()}")
    first, last = (json.dumps(jsonable(info[k]), ensure_ascii=False) for k in ("first_key", "last_key"))
    click.echo(f"sorted by {', '.join(m.sort_key)}: from {first} to {last}")
    click.echo("fields: " + ", ".join(f"{k} ({'/'.join(t)})" for k, t in m.schema.items()))


@dataset.command("export")
@click.argument("url")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), default="-",
              help="Write the JSON Lines here (default: stdout); written whole or not at all.")
@bootstrap_option
@json_option
def export_cmd(url: str, output: str, bootstrap: tuple[str, ...], as_json: bool) -> None:
    """Write every record of dataset URL as JSON Lines (sort-key order), each shard checked against its root.

    With --json: one JSON document instead, {"url", "seq", "count", "records": [...]} (with -o FILE the
    records go to FILE as JSON Lines and the document names it as "output").
    """
    import os

    from .. import encoding
    from ..client import open_client
    from ..compute.dataset import decode_shard

    to_file = output != "-"
    partial = f"{output}.partial" if to_file else None
    out: Any = open(partial, "w", encoding="utf-8") if partial else sys.stdout  # noqa: SIM115
    collected: list[Any] = []
    info: dict[str, Any] = {"count": 0}

    async def go() -> None:
        async with open_client(list(bootstrap) or None) as client:
            m = await verified_manifest(client, url)
            info.update(url=m.url, seq=m.seq)
            for i, shard in enumerate(m.shards):
                update(f"shard {i + 1} of {len(m.shards)} ({info['count']:,} of {m.count:,} records)")
                blob = await client.get_blob(shard.blob)
                for rec in decode_shard(blob, root=shard.root, count=shard.count):
                    value = jsonable(encoding.decode(rec))
                    if as_json and not to_file:
                        collected.append(value)
                    else:
                        out.write(json.dumps(value, ensure_ascii=False) + "\n")
                    info["count"] += 1

    ok = False
    try:
        with status(f"exporting {url}") as update:
            run_async(go)
        ok = True
    finally:
        if partial is not None:
            out.close()
            if ok:
                os.replace(partial, output)
            else:
                Path(partial).unlink(missing_ok=True)  # a failed export leaves no half-written file
    if as_json:
        emit_json({**info, **({"output": output} if to_file else {"records": collected})})
    elif to_file or not is_terminal(sys.stdout):
        click.echo(f"exported {info['count']:,} verified records" + (f" to {output}" if to_file else ""), err=True)


def register(group: click.Group) -> None:
    """Add the ``dataset`` command group to the main CLI."""
    group.add_command(dataset)
