"""Program records: a signed pointer from a name to a WebAssembly binary.

A site publishes a program as an ordinary signed :class:`~note_compute.records.Record`
at ``note://AUTHORITY/programs/NAME`` whose value is the canonical CBOR map::

    {"type": "program",
     "name": NAME,             text, equal to the URL's last path segment
     "wasm": bytes(32),        SHA-256 of the wasm binary (what every runner checks)
     "abi":  1,                the ABI version (specs/abi.md)
     "fuel": uint,             fuel budget for one execution, 1 .. 2**63-1
     "size": uint,             byte length of the binary
     "blob": bytes(32),        blob address (manifest) under which the binary is stored
     "interface": map}         optional: arguments, record fields, error codes
                               (:mod:`note_compute.program_interface`)

``blob`` is derived from the binary (``blobs.split_blob(wasm,
"application/wasm")``), so it adds no trust: it only says where to fetch the
bytes, and :func:`check_binary` checks them against ``wasm`` and ``size``.
Pure module: no I/O, no wasmtime.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from . import encoding, urls
from .blobs import split_blob
from .crypto import SigningKey
from .errors import InvalidEncoding, InvalidRecord, InvalidURL
from .program_interface import MAX_INTERFACE_SIZE, Interface, parse_interface
from .records import Record, sign_record

__all__ = [
    "Program",
    "PROGRAM_TYPE",
    "WASM_MEDIA_TYPE",
    "MAX_PROGRAM_SIZE",
    "MAX_FUEL",
    "program_url",
    "program_value",
    "make_program",
    "parse_program",
    "check_binary",
    "validate_name",
]

PROGRAM_TYPE = "program"
WASM_MEDIA_TYPE = "application/wasm"
PROGRAMS_PREFIX = "/programs/"
MAX_PROGRAM_SIZE = 16 * 1024 * 1024
MAX_FUEL = 2**63 - 1
ABI_VERSION = 1  # kept equal to note_compute.sandbox.abi.ABI_VERSION (tested)
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}\Z")
_KEYS = frozenset({"type", "name", "wasm", "abi", "fuel", "size", "blob"})
_OPTIONAL = frozenset({"interface"})


@dataclass(frozen=True)
class Program:
    """A parsed, signature-checked-by-the-caller program record."""

    url: str
    authority: str
    name: str
    wasm: bytes  # SHA-256 of the binary
    abi: int
    fuel: int
    size: int
    blob: bytes  # blob (manifest) address of the binary
    seq: int
    interface: Interface | None = None  # what the program says about its arguments (optional)


def _bad(message: str, reason: str) -> InvalidRecord:
    return InvalidRecord(message, reason=reason)


def validate_name(name: object) -> str:
    """Return ``name`` if it is a valid program name (1-64 of ``a-z 0-9 . _ -``, starting alphanumeric)."""
    if type(name) is not str or _NAME_RE.match(name) is None:
        raise _bad(
            f"bad program name {str(name)[:80]!r}: 1-64 characters of a-z 0-9 . _ -, starting with a letter or digit",
            "name",
        )
    return name


def program_url(authority: str, name: str) -> str:
    """``note://AUTHORITY/programs/NAME`` (normal form)."""
    return urls.make_url(authority, PROGRAMS_PREFIX + validate_name(name))


def program_value(name: str, wasm: bytes, *, fuel: int, interface: Interface | None = None) -> bytes:
    """The canonical CBOR value of a program record for binary ``wasm`` (with its interface, if given)."""
    validate_name(name)
    if type(wasm) not in (bytes, bytearray) or not 0 < len(wasm) <= MAX_PROGRAM_SIZE:
        raise _bad(f"program binary must be 1 .. {MAX_PROGRAM_SIZE} bytes", "size")
    wasm = bytes(wasm)
    _check_fuel(fuel)
    manifest, _ = split_blob(wasm, WASM_MEDIA_TYPE)
    value = {
        "type": PROGRAM_TYPE,
        "name": name,
        "wasm": hashlib.sha256(wasm).digest(),
        "abi": ABI_VERSION,
        "fuel": fuel,
        "size": len(wasm),
        "blob": manifest.address,
    }
    if interface is not None:
        iv = interface.to_value()
        if len(encoding.encode(iv)) > MAX_INTERFACE_SIZE:
            raise _bad(f"program interface over {MAX_INTERFACE_SIZE} bytes", "interface")
        value["interface"] = iv
    return encoding.encode(value)


def make_program(
    key: SigningKey,
    name: str,
    wasm: bytes,
    *,
    fuel: int,
    seq: int,
    created: int,
    expires: int | None = None,
    interface: Interface | None = None,
) -> Record:
    """Sign a program record for ``wasm`` at ``note://<key's authority>/programs/NAME``.

    ``created``/``expires`` are Unix seconds. Raises InvalidRecord on a bad
    name, size or fuel.
    """
    value = program_value(name, wasm, fuel=fuel, interface=interface)
    return sign_record(key, program_url(key.authority, name), seq=seq, value=value, created=created, expires=expires)


def parse_program(record: Record) -> Program:
    """Parse a program record's value and check it against its URL.

    Does not verify the signature (use ``records.verify_record`` first, or
    ``records.decode_verified``). Raises InvalidRecord with a reason:
    ``not-program``, ``schema``, ``name``, ``url``, ``abi``, ``fuel``, ``size``,
    ``interface``.
    """
    if type(record) is not Record:
        raise _bad("not a Record", "schema")
    if record.value is None:
        raise _bad("program record has no inline value", "not-program")
    try:
        m = encoding.decode(record.value, max_size=4096 + MAX_INTERFACE_SIZE, max_depth=6)
    except InvalidEncoding as exc:
        raise _bad(f"program value is not canonical CBOR: {exc}", "schema") from exc
    if type(m) is not dict or m.get("type") != PROGRAM_TYPE:
        raise _bad("record value is not a program (type != 'program')", "not-program")
    if not _KEYS <= set(m) <= _KEYS | _OPTIONAL:
        missing, extra = sorted(_KEYS - set(m)), sorted(str(k) for k in set(m) - _KEYS - _OPTIONAL)
        raise _bad(f"program value keys wrong (missing {missing}, unknown {extra})", "schema")
    name = validate_name(m["name"])
    try:
        expected_url = program_url(record.authority, name)
    except InvalidURL as exc:  # pragma: no cover - authority comes from a valid record
        raise _bad(str(exc), "url") from exc
    if record.url != expected_url:
        raise _bad(f"program {name!r} must live at {expected_url}, found at {record.url}", "url")
    for field in ("wasm", "blob"):
        if type(m[field]) is not bytes or len(m[field]) != 32:
            raise _bad(f"program {field!r} must be a 32-byte hash", "schema")
    if type(m["abi"]) is not int or m["abi"] != ABI_VERSION:
        raise _bad(f"program needs ABI {m['abi']!r}; this host speaks {ABI_VERSION}", "abi")
    _check_fuel(m["fuel"])
    if type(m["size"]) is not int or not 0 < m["size"] <= MAX_PROGRAM_SIZE:
        raise _bad(f"program size {m['size']!r} outside 1 .. {MAX_PROGRAM_SIZE}", "size")
    return Program(
        url=record.url,
        authority=record.authority,
        name=name,
        wasm=m["wasm"],
        abi=m["abi"],
        fuel=m["fuel"],
        size=m["size"],
        blob=m["blob"],
        seq=record.seq,
        interface=parse_interface(m["interface"]) if "interface" in m else None,
    )


def check_binary(program: Program, wasm: bytes) -> None:
    """Raise InvalidRecord(reason="hash") unless ``wasm`` is the program's binary (size and SHA-256)."""
    if type(wasm) not in (bytes, bytearray, memoryview):
        raise _bad("program binary must be bytes", "hash")
    wasm = bytes(wasm)
    if len(wasm) != program.size:
        raise _bad(f"binary is {len(wasm)} bytes, the program record says {program.size}", "hash")
    if hashlib.sha256(wasm).digest() != program.wasm:
        raise _bad("binary does not match the program record's SHA-256", "hash")


def _check_fuel(fuel: object) -> None:
    if type(fuel) is not int or not 0 < fuel <= MAX_FUEL:
        raise _bad(f"fuel must be an int in 1 .. {MAX_FUEL}, got {fuel!r}", "fuel")
