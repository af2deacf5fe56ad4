"""ABI v1 framing: how input goes into a program and how output comes back.

Pure module (no wasmtime import): the compute layer uses it to build inputs
and to read outputs, and the sandbox uses it to validate what a program wrote.
The full contract a module implements is in ``specs/abi.md``.

Input bytes (what the host copies into the buffer ``nc_alloc`` returned)::

    u32le args_len, args (canonical CBOR, args_len bytes),
    u32le n_records, then n_records x (u32le len, record bytes)

Output bytes (what ``nc_run`` points at)::

    u32le n, n x u32le index, u32le extra_len, extra bytes

Each index is into the input records (0-based, < n_records, no repeats); the
order is the program's answer order (for example sorted and limited). The
extra bytes are program-defined (may be empty). Nothing may follow them.

Every failure raises :class:`~note_compute.errors.SandboxError` with one of
the ``REASON_*`` codes below (the sandbox uses the same codes).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

from ..errors import SandboxError

__all__ = [
    "ABI_VERSION",
    "MAX_INPUT",
    "MAX_OUTPUT",
    "REASON_OUT_OF_FUEL",
    "REASON_DEADLINE",
    "REASON_MEMORY_LIMIT",
    "REASON_TRAP",
    "REASON_INVALID_MODULE",
    "REASON_FORBIDDEN_IMPORT",
    "REASON_MISSING_EXPORT",
    "REASON_ABI_VERSION",
    "REASON_OUTPUT_BOUNDS",
    "REASON_OUTPUT_TOO_LARGE",
    "REASON_MALFORMED_OUTPUT",
    "REASON_INPUT_TOO_LARGE",
    "REASON_MALFORMED_INPUT",
    "REASON_PROGRAM_ERROR",
    "REASONS",
    "pack_input",
    "unpack_input",
    "pack_output",
    "unpack_output",
]

ABI_VERSION = 1

# Hard caps on the byte sizes crossing the boundary (a single wasm32 memory
# is at most 4 GiB; these keep a node's memory use predictable).
MAX_INPUT = 64 * 1024 * 1024
MAX_OUTPUT = 16 * 1024 * 1024

# Reason codes carried by SandboxError.reason (stable: they travel on the wire).
REASON_OUT_OF_FUEL = "out-of-fuel"
REASON_DEADLINE = "deadline"
REASON_MEMORY_LIMIT = "memory-limit"
REASON_TRAP = "trap"
REASON_INVALID_MODULE = "invalid-module"
REASON_FORBIDDEN_IMPORT = "forbidden-import"
REASON_MISSING_EXPORT = "missing-export"
REASON_ABI_VERSION = "abi-version"
REASON_OUTPUT_BOUNDS = "output-bounds"
REASON_OUTPUT_TOO_LARGE = "output-too-large"
REASON_MALFORMED_OUTPUT = "malformed-output"
REASON_INPUT_TOO_LARGE = "input-too-large"
REASON_MALFORMED_INPUT = "malformed-input"
REASON_PROGRAM_ERROR = "program-error"

REASONS = frozenset(
    {
        REASON_OUT_OF_FUEL,
        REASON_DEADLINE,
        REASON_MEMORY_LIMIT,
        REASON_TRAP,
        REASON_INVALID_MODULE,
        REASON_FORBIDDEN_IMPORT,
        REASON_MISSING_EXPORT,
        REASON_ABI_VERSION,
        REASON_OUTPUT_BOUNDS,
        REASON_OUTPUT_TOO_LARGE,
        REASON_MALFORMED_OUTPUT,
        REASON_INPUT_TOO_LARGE,
        REASON_MALFORMED_INPUT,
        REASON_PROGRAM_ERROR,
    }
)

_U32 = struct.Struct("<I")
_U32_MAX = 0xFFFFFFFF


def pack_input(args: bytes, records: Iterable[bytes]) -> bytes:
    """Frame ``args`` (canonical CBOR bytes) and ``records`` (in dataset order) as ABI v1 input.

    Raises SandboxError(reason="input-too-large") past ``MAX_INPUT`` bytes.
    """
    args = bytes(args)
    parts: list[bytes] = [_U32.pack(len(args)), args, b""]
    n = 0
    total = 8 + len(args)
    for rec in records:
        rec = bytes(rec)
        total += 4 + len(rec)
        if total > MAX_INPUT:
            raise SandboxError(
                f"ABI input would exceed {MAX_INPUT} bytes", reason=REASON_INPUT_TOO_LARGE
            )
        parts.append(_U32.pack(len(rec)))
        parts.append(rec)
        n += 1
    if total > MAX_INPUT:
        raise SandboxError(f"ABI input would exceed {MAX_INPUT} bytes", reason=REASON_INPUT_TOO_LARGE)
    parts[2] = _U32.pack(n)
    return b"".join(parts)


def unpack_input(data: bytes) -> tuple[bytes, list[bytes]]:
    """Inverse of :func:`pack_input`: ``(args, records)``. Raises SandboxError(reason="malformed-input")."""
    data = bytes(data)
    pos = 0

    def take(n: int, what: str) -> bytes:
        nonlocal pos
        if n > len(data) - pos:
            raise SandboxError(f"ABI input truncated in {what}", reason=REASON_MALFORMED_INPUT)
        chunk = data[pos : pos + n]
        pos += n
        return chunk

    args_len = _U32.unpack(take(4, "args length"))[0]
    args = take(args_len, "args")
    n = _U32.unpack(take(4, "record count"))[0]
    if n > (len(data) - pos) // 4:
        raise SandboxError(f"ABI input claims {n} records, too many for its size", reason=REASON_MALFORMED_INPUT)
    records = []
    for i in range(n):
        ln = _U32.unpack(take(4, f"record {i} length"))[0]
        records.append(take(ln, f"record {i}"))
    if pos != len(data):
        raise SandboxError(f"{len(data) - pos} trailing bytes after the records", reason=REASON_MALFORMED_INPUT)
    return args, records


def pack_output(indices: Sequence[int], extra: bytes = b"") -> bytes:
    """Frame a program answer as ABI v1 output (reference for programs and tests)."""
    for i in indices:
        if not 0 <= i <= _U32_MAX:
            raise SandboxError(f"index {i} does not fit in u32", reason=REASON_MALFORMED_OUTPUT)
    return b"".join(
        [_U32.pack(len(indices)), struct.pack(f"<{len(indices)}I", *indices), _U32.pack(len(extra)), bytes(extra)]
    )


def unpack_output(data: bytes, n_records: int) -> tuple[list[int], bytes]:
    """Parse and validate ABI v1 output: ``(indices, extra)``.

    Checks that the framing is exact (no truncation, no trailing bytes), that
    every index is ``< n_records`` and that no index repeats. Raises
    SandboxError(reason="malformed-output") otherwise.
    """
    data = bytes(data)
    size = len(data)
    if size < 8:
        raise SandboxError(f"output is {size} bytes, shorter than the 8-byte minimum", reason=REASON_MALFORMED_OUTPUT)
    n = _U32.unpack_from(data, 0)[0]
    if n > (size - 8) // 4:
        raise SandboxError(f"output claims {n} indices but holds {size} bytes", reason=REASON_MALFORMED_OUTPUT)
    end = 4 + 4 * n
    indices = list(struct.unpack_from(f"<{n}I", data, 4))
    extra_len = _U32.unpack_from(data, end)[0]
    if extra_len != size - end - 4:
        raise SandboxError(
            f"output extra length {extra_len} does not match the {size - end - 4} bytes left",
            reason=REASON_MALFORMED_OUTPUT,
        )
    if indices:
        top = max(indices)
        if top >= n_records:
            raise SandboxError(
                f"output index {top} is out of range for {n_records} records", reason=REASON_MALFORMED_OUTPUT
            )
        if len(set(indices)) != n:
            raise SandboxError("output repeats a record index", reason=REASON_MALFORMED_OUTPUT)
    return indices, data[end + 4 :]
