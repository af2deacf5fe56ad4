"""Reading and printing program interfaces (``program show``, ``program publish``, ``query`` errors)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ._common import EXIT_USAGE, CliError, format_amount

__all__ = ["load_interface_file", "default_interface_file", "print_program", "program_json", "explain_rejection"]


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
    from rich.console import Console
    from rich.table import Table

    console = Console(width=120)
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
