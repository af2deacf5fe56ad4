"""``note-compute program publish | run | check | exec``: signed WebAssembly programs.

* ``publish FILE.wasm --key NAME --name NAME [--fuel N]`` checks the module
  against ABI v1 locally, stores the binary as a content-addressed blob
  (media type ``application/wasm``) and the signed program record at
  ``note://AUTHORITY/programs/NAME``.
* ``run note://AUTHORITY/programs/NAME --input FILE`` (or ``--args JSON
  --records FILE.jsonl``) fetches the record, verifies its signature, fetches
  the binary, checks its SHA-256 against the record, runs it locally with the
  record's fuel budget and prints the answer as JSON.
* ``show note://AUTHORITY/programs/NAME`` prints the program record and its
  interface: arguments (types, bounds, meaning), the record fields it reads
  and what each error code means.
* ``check FILE.wasm`` and ``exec FILE.wasm ...`` do the same locally without
  the ring (handy while writing a program).

``publish`` takes the interface from ``--interface FILE.json``, or from
``NAME.json`` beside ``NAME.wasm`` (``contracts/shop_search.json``), and
signs it into the record (``specs/abi.md`` section 10).

Sequence numbers follow ``note-compute put``: ``max(previous seq + 1, now in
milliseconds)``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ..errors import NoteError
from ._common import bootstrap_option as _bootstrap_option
from ._common import emit_json, fail, json_option, quiet_option, run_async, status

_F = TypeVar("_F", bound=Callable[..., Any])

__all__ = ["register", "program", "publish_program", "fetch_program", "build_input", "DEFAULT_FUEL"]

DEFAULT_FUEL = 1_000_000_000


def _fail(exc: NoteError) -> click.ClickException:
    return fail(exc)


def build_input(input_file: str | None, args_json: str | None, records_file: str | None) -> bytes:
    """ABI v1 input bytes from ``--input`` (raw) or ``--args`` JSON + ``--records`` JSON Lines."""
    from .. import encoding
    from ..compute.dataset import no_repeated_keys  # a repeated key is refused, as by `query` and `dataset publish`
    from ..sandbox.abi import pack_input

    if input_file is not None:
        if args_json is not None or records_file is not None:
            raise click.UsageError("--input excludes --args and --records")
        return sys.stdin.buffer.read() if input_file == "-" else Path(input_file).read_bytes()
    try:
        args = json.loads(args_json, object_pairs_hook=no_repeated_keys) if args_json is not None else {}
    except ValueError as exc:
        raise click.BadParameter(f"--args is not JSON: {exc}") from None
    records: list[bytes] = []
    if records_file is not None:
        text = sys.stdin.read() if records_file == "-" else Path(records_file).read_text()
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(encoding.encode(json.loads(line, object_pairs_hook=no_repeated_keys)))
            except ValueError as exc:
                raise click.BadParameter(f"--records line {lineno} is not JSON: {exc}") from None
    return pack_input(encoding.encode(args), records)


def _print_result(result: Any) -> None:
    extra = result.extra
    try:
        extra_text: Any = extra.decode("utf-8") if extra else ""
    except UnicodeDecodeError:
        extra_text = None
    out = {"indices": list(result.indices), "extra_hex": extra.hex(), "fuel_used": result.fuel_used}
    if extra_text is not None:
        out["extra"] = extra_text
    click.echo(json.dumps(out))


async def publish_program(client: Any, key: Any, name: str, wasm: bytes, *, fuel: int, now_ms: int,
                          interface: Any = None) -> tuple[Any, int]:
    """Store ``wasm`` as a blob and the signed program record (with ``interface``); return (record, acks)."""
    from .. import programs
    from ..errors import NotFound

    url = programs.program_url(key.authority, name)
    try:
        prev = (await client.get_record(url)).seq
    except NotFound:
        prev = 0
    record = programs.make_program(key, name, wasm, fuel=fuel, seq=max(prev + 1, now_ms), created=now_ms // 1000,
                                   interface=interface)
    program = programs.parse_program(record)
    address = await client.put_blob(wasm, programs.WASM_MEDIA_TYPE)
    if address != program.blob:
        raise NoteError(f"the ring stored the binary at {address.hex()}, expected {program.blob.hex()}")
    acks = await client.put_record(record)
    return record, acks


async def fetch_program(client: Any, url: str) -> tuple[Any, bytes]:
    """Fetch and verify the program at ``url`` and its binary: (Program, wasm bytes)."""
    from .. import programs
    from ..records import verify_record
    from .describe import expect_kind

    record = await client.get_record(url)
    verify_record(record, now=int(time.time()))
    expect_kind(record, "program")
    program = programs.parse_program(record)
    wasm = await client.get_blob(program.blob)
    programs.check_binary(program, wasm)
    return program, wasm


@click.group("program")
def program() -> None:
    """Publish and run signed WebAssembly programs (ABI v1, see specs/abi.md)."""


def _input_options(f: _F) -> _F:
    f = click.option("--records", "records_file", type=click.Path(exists=True, dir_okay=False, allow_dash=True),
                     default=None, help="JSON Lines file: one record per line (encoded as canonical CBOR).")(f)
    f = click.option("--args", "args_json", default=None, metavar="JSON", help="Program arguments as JSON.")(f)
    f = click.option("--input", "input_file", type=click.Path(exists=True, dir_okay=False, allow_dash=True),
                     default=None, help="Raw ABI v1 input bytes.")(f)
    return click.option("--deadline-ms", type=click.IntRange(1, 600_000), default=1000, show_default=True,
                        help="Wall-clock bound for the run.")(f)


@program.command("check")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@json_option
@quiet_option("the SHA-256 (the binary's content address)")
def check_cmd(file: str, as_json: bool, quiet: bool) -> None:
    """Check FILE.wasm against ABI v1 and print its SHA-256."""
    from ..sandbox import Sandbox

    wasm = Path(file).read_bytes()
    sandbox = Sandbox()
    try:
        digest = sandbox.validate(wasm)
    except NoteError as exc:
        raise fail(exc, 2) from exc
    finally:
        sandbox.close()
    if as_json:
        emit_json({"ok": True, "abi": 1, "sha256": digest.hex(), "bytes": len(wasm)})
    elif quiet:
        click.echo(digest.hex())
    else:
        click.echo(f"ok: ABI v1 program, sha256 {digest.hex()}")


@program.command("exec")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--fuel", type=click.IntRange(1, 2**63 - 1), default=DEFAULT_FUEL, show_default=True)
@_input_options
@json_option
def exec_cmd(file: str, fuel: int, deadline_ms: int, input_file: str | None, args_json: str | None,
             records_file: str | None, as_json: bool) -> None:
    """Run a local FILE.wasm on an input (no ring) and print the answer as JSON (--json: errors too)."""
    from ..sandbox import Sandbox

    data = build_input(input_file, args_json, records_file)
    sandbox = Sandbox()
    try:
        result = sandbox.run(Path(file).read_bytes(), data, fuel=fuel, deadline_ms=deadline_ms)
    except NoteError as exc:
        raise fail(exc, 2) from exc
    finally:
        sandbox.close()
    _print_result(result)


@program.command("publish")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--key", "key_name", required=True, help="Name of the signing key (see `note-compute key`).")
@click.option("--name", "name", required=True, help="Program name: note://AUTHORITY/programs/NAME.")
@click.option("--fuel", type=click.IntRange(1, 2**63 - 1), default=DEFAULT_FUEL, show_default=True,
              help="Fuel budget per execution, written into the signed record.")
@click.option("--interface", "interface_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="JSON interface (arguments, record fields, error codes); default: FILE's .json "
              "sibling if there is one.")
@click.option("--no-interface", is_flag=True, help="Publish without an interface.")
@_bootstrap_option
@json_option
@quiet_option("the program URL")
def publish_cmd(file: str, key_name: str, name: str, fuel: int, interface_file: Path | None, no_interface: bool,
                bootstrap: tuple[str, ...], as_json: bool, quiet: bool) -> None:
    """Check FILE.wasm locally, then publish it as program NAME under key NAME."""
    from .. import keystore, programs
    from ..client import open_client
    from ..sandbox import Sandbox
    from .describe import default_interface_file, load_interface_file

    if no_interface and interface_file is not None:
        raise click.UsageError("--interface and --no-interface exclude each other")
    if interface_file is None and not no_interface:
        interface_file = default_interface_file(file)
    interface = load_interface_file(interface_file) if interface_file is not None else None
    wasm = Path(file).read_bytes()
    sandbox = Sandbox()
    try:
        programs.validate_name(name)
        sandbox.validate(wasm)
        key = keystore.load_key(key_name)
    except NoteError as exc:
        raise fail(exc, None if exc.code == "keystore" else 2) from exc
    finally:
        sandbox.close()

    async def go() -> tuple[Any, int]:
        async with open_client(list(bootstrap) or None) as client:
            return await publish_program(client, key, name, wasm, fuel=fuel, now_ms=int(time.time() * 1000),
                                         interface=interface)

    with status(f"publishing program {name}"):
        record, acks = run_async(go)
    program_ = programs.parse_program(record)
    if as_json:
        emit_json({"url": record.url, "seq": record.seq, "sha256": program_.wasm.hex(), "bytes": len(wasm),
                   "fuel": fuel, "replicas": acks, "interface": str(interface_file) if interface_file else None})
    elif quiet:
        click.echo(record.url)
    else:
        described = f"; interface from {interface_file}" if interface_file else "; no interface"
        click.echo(f"published {record.url} seq={record.seq} sha256={program_.wasm.hex()} "
                   f"({len(wasm):,} bytes, fuel {fuel:,}) on {acks} replicas{described}")


@program.command("show")
@click.argument("url")
@_bootstrap_option
@json_option
def show_cmd(url: str, bootstrap: tuple[str, ...], as_json: bool) -> None:
    """Show program URL: its record and interface (arguments, record fields, error codes)."""
    from .describe import print_program, program_json

    with status(f"fetching {url}"):
        prog = run_async(fetch_program_record, url, list(bootstrap) or None)
    if as_json:
        emit_json(program_json(prog))
    else:
        print_program(prog)


async def fetch_program_record(url: str, bootstrap: list[str] | None) -> Any:
    """The verified, parsed program record at ``url`` (not its binary)."""
    from .. import programs, urls
    from ..client import open_client
    from ..records import verify_record

    url = urls.normalize(url)
    from .describe import expect_kind

    async with open_client(bootstrap) as client:
        record = await client.get_record(url)
    verify_record(record, now=int(time.time()))
    expect_kind(record, "program")
    return programs.parse_program(record)


@program.command("run")
@click.argument("url")
@_input_options
@_bootstrap_option
@json_option
def run_cmd(url: str, deadline_ms: int, input_file: str | None, args_json: str | None, records_file: str | None,
            bootstrap: tuple[str, ...], as_json: bool) -> None:
    """Fetch program URL, verify signature and hash, run it locally, print the answer as JSON (--json: errors too)."""

    from .. import urls
    from ..client import open_client
    from ..sandbox import Sandbox

    try:
        url = urls.normalize(url)
    except NoteError as exc:
        raise fail(exc, 2) from exc
    data = build_input(input_file, args_json, records_file)

    async def go() -> tuple[Any, bytes]:
        async with open_client(list(bootstrap) or None) as client:
            return await fetch_program(client, url)

    with status(f"fetching {url} and its binary"):
        prog, wasm = run_async(go)
    sandbox = Sandbox()
    try:
        result = sandbox.run(wasm, data, fuel=prog.fuel, deadline_ms=deadline_ms)
    except NoteError as exc:
        raise fail(exc, 2) from exc
    finally:
        sandbox.close()
    _print_result(result)


def register(group: click.Group) -> None:
    """Add the ``program`` command group to the main CLI."""
    group.add_command(program)
