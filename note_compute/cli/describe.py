"""Reading and printing program interfaces (``program show``, ``program publish``, ``query`` errors)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..errors import NoteError
from ._common import EXIT_USAGE, CliError, format_amount

__all__ = ["load_interface_file", "default_interface_file", "print_program", "program_json", "explain_rejection",
           "record_kind", "expect_kind", "WrongKind"]

_SHOW = {"dataset": "note-compute dataset show URL", "program": "note-compute program show URL",
         "file": "note-compute get URL"}


class WrongKind(NoteError):
    """A URL that holds another kind of record than the command needs (a usage error: exit 2)."""

    code = "wrong-kind"
    exit_code = 2


def record_kind(record: Any) -> str:
    """What a verified record holds: ``dataset``, ``program``, another ``type`` it names, or ``file``."""
    from .. import encoding

    if record.value is None:
        return "file"
    try:
        value = encoding.decode(record.value, max_size=len(record.value) + 16)
    except NoteError:
        return "file"
    kind = value.get("type") if isinstance(value, dict) else None
    return kind if isinstance(kind, str) and kind.isprintable() and len(kind) <= 40 else "file"


def expect_kind(record: Any, want: str) -> None:
    """Raise WrongKind (naming what the URL holds and the command that reads it) unless ``record`` is ``want``.

    A dataset or a program is read only under its kind's folder (``/datasets/``,
    ``/programs/``): the right kind of record stored anywhere else is refused
    here too, saying where it belongs, rather than failing verification later.
    """
    from .. import urls
    from ..compute.source import DATASETS_PREFIX
    from ..programs import PROGRAMS_PREFIX

    kind = record_kind(record)
    if kind == want:
        folder = {"dataset": DATASETS_PREFIX, "program": PROGRAMS_PREFIX}.get(want)
        url = urls.parse(record.url)
        if folder is None or url.path.startswith(folder):
            return
        held = "a dataset manifest" if want == "dataset" else f"a {want}"
        raise WrongKind(f"{record.url} holds {held} outside {folder}; a {want} is read only at "
                        f"note://{url.authority}{folder}NAME", reason="wrong-place")
    names = {"file": "a plain value (a file)", "program": "a program", "dataset": "a dataset"}
    what = names.get(kind, f"a {kind!r} record")
    hint = f"; see `{_SHOW[kind]}`" if kind in _SHOW else ""
    raise WrongKind(f"{record.url} holds {what}, not a {want}{hint}", reason="wrong-kind")


def default_interface_file(wasm_path: str) -> Path | None:
    """``NAME.json`` beside ``NAME.wasm``, when it exists (the contract's interface)."""
    p = Path(wasm_path).with_suffix(".json")
    return p if p.is_file() else None


def load_interface_file(path: Path) -> Any:
    """Parse an interface JSON file; a CliError (exit 2) names the problem."""
    from ..errors import NoteError
    from ..program_interface import parse_interface

    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CliError(f"{path}: not a readable JSON file: {exc}", EXIT_USAGE) from None
    try:
        return parse_interface(value)
    except NoteError as exc:
        raise CliError(f"{path}: {exc.message}", EXIT_USAGE, code=exc.code, reason=exc.reason) from None


def _bounds(f: Any) -> str:
    parts = []
    if f.values is not None:
        parts.append("one of " + ", ".join(json.dumps(v) for v in f.values))
    if f.min is not None:
        parts.append(f">= {format_amount(f.min, f.unit)}")
    if f.max is not None:
        parts.append(f"<= {format_amount(f.max, f.unit)}")
    if f.max_length is not None:
        parts.append(f"length <= {f.max_length}")
    if f.required:
        parts.append("required")
    return ", ".join(parts)


def _type(f: Any) -> str:
    out: str = f.type + (f" ({f.unit})" if f.unit else "")
    return out


def program_json(program: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"url": program.url, "name": program.name, "seq": program.seq, "sha256": program.wasm.hex(),
                           "size": program.size, "fuel": program.fuel, "abi": program.abi}
    out["interface"] = program.interface.to_value() if program.interface is not None else None
    return out


def print_program(program: Any) -> None:
    """The program record and its interface, as tables."""
    from rich.table import Table

    from ._common import console as _console

    console = _console(width=120)
    console.print(f"[bold]{program.url}[/bold]  seq {program.seq}")
    console.print(f"binary sha256 {program.wasm.hex()} ({program.size:,} bytes, ABI {program.abi}, "
                  f"fuel budget {program.fuel:,})")
    itf = program.interface
    if itf is None:
        console.print("This program does not describe its arguments (no interface in its record).")
        return
    if itf.summary:
        console.print(itf.summary)
    if itf.args:
        t = Table("argument", "type", "allowed", "meaning", title="arguments (--args JSON object; all optional "
                  "unless required)", title_justify="left")
        for f in itf.args:
            t.add_row(f.name, _type(f), _bounds(f), f.doc)
        console.print(t)
    else:
        console.print("arguments: none")
    for lo, hi in itf.ranges:
        console.print(f"range: {lo} <= {hi}; both bounds inclusive")
    if itf.records:
        t = Table("field", "type", "allowed", "meaning", title="every dataset record must have",
                  title_justify="left")
        for f in itf.records:
            t.add_row(f.name, _type(f), _bounds(f), f.doc)
        console.print(t)
    if itf.errors:
        t = Table("code", "meaning", title="error codes", title_justify="left")
        for code, meaning in itf.errors:
            t.add_row(str(code), meaning)
        console.print(t)


def explain_rejection(failures: list[str], interface: Any) -> str | None:
    """One sentence for "the program rejected its input" failures (deduplicated across replicas)."""
    import re

    pattern = re.compile(r"rejected its input \(error code (\d+)\)")
    codes = sorted({int(m.group(1)) for f in failures for m in [pattern.search(f)] if m})
    if not codes:
        return None
    parts = []
    for code in codes:
        meaning = interface.error_meaning(code) if interface is not None else None
        parts.append(f"error {code}: {meaning}" if meaning else f"error {code} (the program does not document it)")
    return "the program rejected its input (" + "; ".join(parts) + ")"


def echo_err(text: str) -> None:
    click.echo(text, err=True)
