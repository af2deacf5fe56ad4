"""Compile one wasm module in a child process with memory and CPU limits (``python -m`` entry point).

Cranelift's time and memory grow with a module's size (a 10 MB module took
14.7 s and ~850 MiB), outside a run's fuel, deadline and memory limit. A
:class:`~note_compute.sandbox.runtime.Sandbox` therefore compiles modules
over ``INLINE_COMPILE_BYTES`` here: the child sets ``RLIMIT_AS`` and
``RLIMIT_CPU`` on itself before it imports wasmtime, reads the wasm binary
from stdin, compiles it with the sandbox's own engine configuration, checks
ABI v1's static rules and writes the serialized artifact to stdout. The
parent kills it at the wall-clock limit. The artifact is this machine's own
compilation (the same trust as the on-disk cache of :mod:`.cache`): bytes
from a peer never reach ``Module.deserialize``.

Exit status: 0 artifact written; 2 the module is invalid or breaks a static
rule (message on stderr, first line ``reason: message``).
"""

from __future__ import annotations

import resource
import sys

__all__ = ["main"]


def main() -> int:
    mem_limit, cpu_limit = int(sys.argv[1]), int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_AS, (mem_limit, mem_limit))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_limit, cpu_limit))
    wasm = sys.stdin.buffer.read()

    import wasmtime

    from ..errors import SandboxError
    from .runtime import _check_static, _config, _first_line

    engine = wasmtime.Engine(_config())
    try:
        module = wasmtime.Module(engine, wasm)
        _check_static(module)
    except wasmtime.WasmtimeError as exc:
        sys.stderr.write(f"invalid-module: module does not validate: {_first_line(exc)}\n")
        return 2
    except SandboxError as exc:
        sys.stderr.write(f"{exc.reason}: {exc.message}\n")
        return 2
    sys.stdout.buffer.write(module.serialize())
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
