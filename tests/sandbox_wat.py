"""WAT builders for hand-written (often hostile) ABI v1 test modules."""

from __future__ import annotations

import wasmtime

__all__ = ["module", "wasm"]

_ALLOC = """
  (global $heap (mut i32) (i32.const 1024))
  (func (export "nc_alloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
"""

# Output "no indices, no extra" written at address 16: u32 0, u32 0.
EMPTY_OUTPUT = "(i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 8))"


def module(
    run_body: str = EMPTY_OUTPUT,
    *,
    memory: str = '(memory (export "memory") 2)',
    version: int = 1,
    imports: str = "",
    extra: str = "",
    alloc: str = _ALLOC,
    run_locals: str = "",
    run_sig: str = "(param $p i32) (param $n i32) (result i64)",
) -> str:
    """WAT text of a module; every part can be replaced to make it misbehave."""
    return f"""
(module
  {imports}
  {memory}
  (func (export "nc_abi_version") (result i32) (i32.const {version}))
  {alloc}
  (func $run (export "nc_run") {run_sig} {run_locals}
    {run_body})
  {extra}
)"""


def wasm(run_body: str = EMPTY_OUTPUT, **kw: object) -> bytes:
    """Binary of :func:`module`."""
    return bytes(wasmtime.wat2wasm(module(run_body, **kw)))  # type: ignore[arg-type]
