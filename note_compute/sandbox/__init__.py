"""The WebAssembly sandbox: runs ABI v1 programs, bounded and deterministic.

``Sandbox`` (one wasmtime Engine, a compiled-module cache keyed by the wasm's
SHA-256) runs a program on ABI v1 input (see :mod:`.abi` and ``specs/abi.md``)
with a fuel budget and a wall-clock deadline, each run in a fresh Store, and
returns a :class:`RunResult`. Every failure is a
:class:`~note_compute.errors.SandboxError` whose ``reason`` is one of
``abi.REASONS``.

The framing helpers (``pack_input``, ``unpack_output``, ...) live in
:mod:`note_compute.sandbox.abi`, which does not import wasmtime; importing
this package does (lazily, inside :mod:`.runtime`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .abi import ABI_VERSION, MAX_INPUT, MAX_OUTPUT, REASONS, pack_input, pack_output, unpack_input, unpack_output

if TYPE_CHECKING:
    from .runtime import DEFAULT_MAX_MEMORY, RunResult, Sandbox

__all__ = [
    "Sandbox",
    "RunResult",
    "DEFAULT_MAX_MEMORY",
    "ABI_VERSION",
    "MAX_INPUT",
    "MAX_OUTPUT",
    "REASONS",
    "pack_input",
    "unpack_input",
    "pack_output",
    "unpack_output",
]


def __getattr__(name: str) -> Any:
    # Keep `import note_compute.sandbox.abi` free of wasmtime: load the runtime on first use.
    if name in ("Sandbox", "RunResult", "DEFAULT_MAX_MEMORY"):
        from . import runtime

        return getattr(runtime, name)
    raise AttributeError(name)
