"""The wasmtime-backed sandbox that runs ABI v1 programs.

One :class:`Sandbox` holds one wasmtime ``Engine`` with a deterministic
configuration (NaN canonicalization on; threads, SIMD, relaxed SIMD, memory64,
multi-memory, GC and the other non-deterministic or unneeded proposals off;
fuel metering on; epoch interruption on, advanced by a background ticker
thread), plus a cache of compiled modules keyed by the SHA-256 of the wasm
binary (in memory, and optionally on disk as artifacts this process compiled
itself, see :mod:`.cache`).

Each :meth:`Sandbox.run` uses a fresh ``Store`` with limits (linear memory
size, one instance, one table, one memory), the program's fuel budget and a
wall-clock deadline, both set before instantiation so a start function is
bounded too. No host function is linked: ABI v1 declares no imports, so a
module that imports anything is refused before it runs.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.metadata
import struct
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import wasmtime
from wasmtime._instance import InstanceExports  # not re-exported by wasmtime; used for typing

from ..errors import SandboxError
from . import abi
from .cache import ArtifactCache

__all__ = ["Sandbox", "RunResult", "DEFAULT_MAX_MEMORY", "DEFAULT_DEADLINE_MS", "TICK_MS", "MAX_FUEL", "CONFIG_TAG"]

DEFAULT_MAX_MEMORY = 256 * 1024 * 1024  # bytes of linear memory per run
DEFAULT_DEADLINE_MS = 1000
TICK_MS = 5  # epoch ticker period: the wall-clock bound's granularity
MAX_WASM_STACK = 512 * 1024  # bytes of native stack wasm may use (deep recursion traps)
MAX_TABLE_ELEMENTS = 100_000
MEMORY_CACHE_SIZE = 64  # compiled modules kept in memory, at most ...
MEMORY_CACHE_BYTES = 256 * 1024 * 1024  # ... and at most this many bytes of compiled code (LRU)
MAX_WASM_SIZE = 4 * 1024 * 1024  # bytes of wasm binary accepted for compilation
INLINE_COMPILE_BYTES = 256 * 1024  # larger modules compile in a child process with limits (compile_worker)
COMPILE_MEMORY_LIMIT = 1024 * 1024 * 1024  # address space of that child
COMPILE_TIMEOUT_S = 30  # CPU seconds of that child (RLIMIT_CPU) ...
COMPILE_WALL_TIMEOUT_S = 120  # ... and wall-clock seconds before it is killed (a loaded machine is slow to start it)
MEMORY_LIMIT_MARGIN = 1 / 16  # a trap with memory within this fraction of the cap is labelled memory-limit
MAX_FUEL = 2**63 - 1
MAX_DEADLINE_MS = 600_000

_WASM_MAGIC = b"\x00asm\x01\x00\x00\x00"
_PAGE = 65536
_U32 = struct.Struct("<I")
_MASK64 = (1 << 64) - 1

# The exports ABI v1 requires: name -> (params, results) as wasm value type names.
_REQUIRED_FUNCS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "nc_abi_version": ((), ("i32",)),
    "nc_alloc": (("i32",), ("i32",)),
    "nc_run": (("i32", "i32"), ("i64",)),
}


@dataclass(frozen=True)
class RunResult:
    """What a successful run produced.

    ``output`` is the raw ABI v1 output bytes (already validated);
    ``fuel_used`` the fuel consumed by the whole run (instantiation, allocation
    and the call); ``indices`` / ``extra`` the parsed output.
    """

    output: bytes
    fuel_used: int
    indices: tuple[int, ...] = field(default=())
    extra: bytes = b""


def _config() -> wasmtime.Config:
    cfg = wasmtime.Config()
    # Order matters: relaxed SIMD must be off before SIMD is turned off, or
    # wasmtime aborts the process when the engine is built.
    cfg.wasm_relaxed_simd = False
    cfg.wasm_simd = False
    cfg.wasm_threads = False
    cfg.wasm_memory64 = False
    cfg.wasm_multi_memory = False
    cfg.wasm_gc = False
    cfg.wasm_function_references = False
    cfg.wasm_exceptions = False
    cfg.wasm_component_model = False
    cfg.wasm_tail_call = False
    cfg.wasm_wide_arithmetic = False
    cfg.wasm_custom_page_sizes = False
    cfg.wasm_stack_switching = False
    cfg.shared_memory = False
    cfg.cranelift_nan_canonicalization = True
    cfg.consume_fuel = True
    cfg.epoch_interruption = True
    cfg.max_wasm_stack = MAX_WASM_STACK
    cfg.parallel_compilation = False  # the machine is shared; compile on the calling thread
    cfg.cranelift_opt_level = "speed"
    return cfg


# A tag naming everything that decides whether a compiled artifact is usable.
CONFIG_TAG = hashlib.sha256(
    repr(
        (
            "note-compute-sandbox/1",
            importlib.metadata.version("wasmtime"),
            MAX_WASM_STACK,
        )
    ).encode()
).hexdigest()[:16]


class _Ticker:
    """Background thread advancing the engine's epoch every TICK_MS while a run is in flight.

    Idle sandboxes cost no wake-ups: the thread sleeps on a condition until
    :meth:`enter` is called, and goes back to sleep when the last run exits.
    """

    def __init__(self, engine: wasmtime.Engine) -> None:
        self._cond = threading.Condition()
        self._active = 0
        self._idle = True
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, args=(weakref.ref(engine),), name="nc-epoch", daemon=True)
        self._thread.start()

    def _loop(self, engine_ref: weakref.ref[wasmtime.Engine]) -> None:
        period = TICK_MS / 1000
        while True:
            with self._cond:
                self._idle = True
                while self._active == 0 and not self._stopped:
                    self._cond.wait()
                self._idle = False
                if self._stopped:
                    return
                self._cond.wait(period)  # woken early only by stop(): enter() notifies an idle thread only
                if self._stopped:
                    return
            engine = engine_ref()
            if engine is None:
                return
            engine.increment_epoch()
            del engine

    def enter(self) -> None:
        with self._cond:
            self._active += 1
            if self._idle:
                self._cond.notify_all()

    def exit(self) -> None:
        with self._cond:
            self._active -= 1

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()


@dataclass
class _Compiled:
    module: wasmtime.Module
    digest: bytes
    size: int  # bytes of compiled code (its serialized artifact): what the memory cache counts
    # nc_abi_version takes no input and wasm is deterministic, so one fresh instance's answer
    # holds for every instance: checked on the first run, then skipped (one call less per run).
    version_ok: bool = False


def _type_name(t: object) -> str:
    return str(t)


class Sandbox:
    """Runs ABI v1 programs: one Engine, a compiled-module cache, a fresh Store per run."""

    def __init__(self, cache_dir: Path | None = None, *, max_memory: int = DEFAULT_MAX_MEMORY) -> None:
        """``cache_dir``: where compiled artifacts persist (must be private to this node)."""
        if max_memory < _PAGE or max_memory > 4 * 1024**3:
            raise ValueError("max_memory must be between one 64 KiB page and 4 GiB")
        self.max_memory = max_memory
        self.engine = wasmtime.Engine(_config())
        self._modules: OrderedDict[bytes, _Compiled] = OrderedDict()
        self._module_bytes = 0
        self.compiled_in_worker = 0
        self._lock = threading.Lock()
        self._disk = ArtifactCache(Path(cache_dir), CONFIG_TAG) if cache_dir is not None else None
        self._closed = False
        self._ticker = _Ticker(self.engine)
        weakref.finalize(self, self._ticker.stop)

    def close(self) -> None:
        """Stop the epoch ticker; later calls to :meth:`run` / :meth:`validate` raise RuntimeError."""
        self._closed = True
        self._ticker.stop()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        # Without the ticker the wall-clock bound would not hold: refuse to run at all.
        if self._closed:
            raise RuntimeError("this Sandbox is closed")

    # ------------------------------------------------------------------ compile

    def compile(self, wasm: bytes) -> wasmtime.Module:
        """Compile (or fetch from cache) and check a module against ABI v1's static rules.

        Raises SandboxError with reason invalid-module, forbidden-import or
        missing-export. The ABI version export is checked by :meth:`validate`
        and by every :meth:`run`.
        """
        return self._compiled(wasm).module

    def validate(self, wasm: bytes) -> bytes:
        """Check ``wasm`` fully (static rules and ``nc_abi_version() == 1``); return its SHA-256."""
        self._check_open()
        compiled = self._compiled(wasm)
        self._ticker.enter()
        try:
            store = self._store(fuel=1_000_000, deadline_ms=DEFAULT_DEADLINE_MS)
            instance = self._instantiate(store, compiled.module)
            self._check_version(store, instance)
        finally:
            self._ticker.exit()
        return compiled.digest

    def _compiled(self, wasm: bytes) -> _Compiled:
        if not isinstance(wasm, (bytes, bytearray, memoryview)):
            raise TypeError("wasm must be bytes")
        wasm = bytes(wasm)
        digest = hashlib.sha256(wasm).digest()
        with self._lock:
            hit = self._modules.get(digest)
            if hit is not None:
                self._modules.move_to_end(digest)
                return hit
        if len(wasm) > MAX_WASM_SIZE:
            raise SandboxError(f"module is {len(wasm)} bytes, over the {MAX_WASM_SIZE}-byte cap",
                               reason=abi.REASON_INVALID_MODULE)
        # Refuse anything but a binary module: wasmtime would parse other bytes as WAT text.
        if not wasm.startswith(_WASM_MAGIC):
            raise SandboxError(
                "not a WebAssembly binary module (bad magic or version)", reason=abi.REASON_INVALID_MODULE
            )
        module = self._disk.load(self.engine, digest) if self._disk is not None else None
        if module is None:
            if len(wasm) > INLINE_COMPILE_BYTES:
                artifact: bytes | bytearray = self._compile_in_worker(wasm)
                module = wasmtime.Module.deserialize(self.engine, artifact)  # our own child's compilation
                self.compiled_in_worker += 1
            else:
                try:
                    module = wasmtime.Module(self.engine, wasm)
                except wasmtime.WasmtimeError as exc:
                    raise SandboxError(f"module does not validate: {_first_line(exc)}",
                                       reason=abi.REASON_INVALID_MODULE) from None
                _check_static(module)
                artifact = module.serialize()
            if self._disk is not None:
                self._disk.save(digest, artifact)
        else:
            _check_static(module)
            artifact = module.serialize()
        compiled = _Compiled(module, digest, len(artifact))
        with self._lock:
            old = self._modules.pop(digest, None)
            if old is not None:
                self._module_bytes -= old.size
            self._modules[digest] = compiled
            self._module_bytes += compiled.size
            while len(self._modules) > 1 and (
                len(self._modules) > MEMORY_CACHE_SIZE or self._module_bytes > MEMORY_CACHE_BYTES
            ):
                _, dropped = self._modules.popitem(last=False)
                self._module_bytes -= dropped.size
        return compiled

    @property
    def cached_module_bytes(self) -> int:
        """Bytes of compiled code held in the memory cache."""
        return self._module_bytes

    def _compile_in_worker(self, wasm: bytes) -> bytes:
        """Compile ``wasm`` in a child process bounded by COMPILE_MEMORY_LIMIT and COMPILE_TIMEOUT_S."""
        import subprocess
        import sys

        cmd = [sys.executable, "-m", "note_compute.sandbox.compile_worker", str(COMPILE_MEMORY_LIMIT),
               str(COMPILE_TIMEOUT_S)]
        try:
            done = subprocess.run(cmd, input=wasm, capture_output=True, timeout=COMPILE_WALL_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise SandboxError(f"compiling the module took over {COMPILE_WALL_TIMEOUT_S} s",
                               reason=abi.REASON_INVALID_MODULE) from None
        if done.returncode == 0 and done.stdout:
            return done.stdout
        first = done.stderr.decode(errors="replace").strip().splitlines()
        line = first[-1] if first else f"exit status {done.returncode}"
        reason, _, message = line.partition(": ")
        if done.returncode == 2 and reason in abi.REASONS:
            raise SandboxError(message, reason=reason)
        raise SandboxError(f"compiling the module failed within its limits ({line[:200]})",
                           reason=abi.REASON_INVALID_MODULE)

    # ------------------------------------------------------------------ run

    def run(
        self,
        wasm: bytes,
        input: bytes,
        *,
        fuel: int,
        deadline_ms: int = DEFAULT_DEADLINE_MS,
        max_output: int = abi.MAX_OUTPUT,
    ) -> RunResult:
        """Run ``wasm``'s ``nc_run`` on ABI v1 ``input`` within ``fuel`` and ``deadline_ms``.

        Returns the validated output. Raises SandboxError (reason in abi.REASONS).
        """
        self._check_open()
        if type(fuel) is not int or not 0 < fuel <= MAX_FUEL:
            raise ValueError(f"fuel must be an int in 1 .. {MAX_FUEL}")
        if type(deadline_ms) is not int or not 0 < deadline_ms <= MAX_DEADLINE_MS:
            raise ValueError(f"deadline_ms must be an int in 1 .. {MAX_DEADLINE_MS}")
        max_output = min(max_output, abi.MAX_OUTPUT)
        input = bytes(input)
        n_records = _input_record_count(input)
        compiled = self._compiled(wasm)
        if len(input) > self.max_memory:
            raise SandboxError(
                f"input of {len(input)} bytes cannot fit in the {self.max_memory}-byte memory limit",
                reason=abi.REASON_MEMORY_LIMIT,
            )
        self._ticker.enter()
        try:
            return self._execute(compiled, input, n_records, fuel=fuel, deadline_ms=deadline_ms, max_output=max_output)
        finally:
            self._ticker.exit()

    def _execute(self, compiled: _Compiled, input: bytes, n_records: int, *, fuel: int, deadline_ms: int,
                 max_output: int) -> RunResult:
        store = self._store(fuel=fuel, deadline_ms=deadline_ms)
        instance = self._instantiate(store, compiled.module)
        exports = instance.exports(store)
        memory = cast(wasmtime.Memory, exports["memory"])
        if not compiled.version_ok:
            self._check_version(store, instance, exports)
            compiled.version_ok = True
            store.set_fuel(fuel)  # the check's own fuel never counts: fuel_used is the same on every run
        ptr = self._call(store, memory, cast(wasmtime.Func, exports["nc_alloc"]), len(input)) & 0xFFFFFFFF
        size = memory.data_len(store)
        if ptr == 0 or ptr + len(input) > size:
            if size + _PAGE > self.max_memory:
                raise SandboxError(
                    f"nc_alloc({len(input)}) failed with memory at its {self.max_memory}-byte limit",
                    reason=abi.REASON_MEMORY_LIMIT,
                )
            raise SandboxError(
                f"nc_alloc({len(input)}) returned {ptr}, outside the {size}-byte memory",
                reason=abi.REASON_OUTPUT_BOUNDS,
            )
        if input:
            # One copy straight from the bytes object (Memory.write would copy through a bytearray first).
            base = ctypes.addressof(memory.data_ptr(store).contents)
            ctypes.memmove(base + ptr, input, len(input))
        ret = self._call(store, memory, cast(wasmtime.Func, exports["nc_run"]), ptr, len(input)) & _MASK64
        out_ptr, out_len = ret >> 32, ret & 0xFFFFFFFF
        if out_ptr == 0xFFFFFFFF:
            raise SandboxError(f"program rejected its input (error code {out_len})", reason=abi.REASON_PROGRAM_ERROR)
        if out_len > max_output:
            raise SandboxError(
                f"output of {out_len} bytes exceeds the {max_output}-byte cap", reason=abi.REASON_OUTPUT_TOO_LARGE
            )
        size = memory.data_len(store)
        if out_ptr + out_len > size:
            raise SandboxError(
                f"output [{out_ptr}, {out_ptr + out_len}) lies outside the {size}-byte memory",
                reason=abi.REASON_OUTPUT_BOUNDS,
            )
        remaining = store.get_fuel()
        if remaining == 0:
            # Fuel is checked only at loop headers and calls, and the counter saturates at 0:
            # a run that ends with none left may have needed more than it was given, so its
            # usage is unknown. Refusing it keeps fuel_used exact and budget-independent.
            raise SandboxError("program used its whole fuel budget", reason=abi.REASON_OUT_OF_FUEL)
        output = bytes(memory.read(store, out_ptr, out_ptr + out_len))
        fuel_used = fuel - remaining
        indices, extra = abi.unpack_output(output, n_records)
        return RunResult(output=output, fuel_used=fuel_used, indices=tuple(indices), extra=extra)

    # ------------------------------------------------------------------ helpers

    def _store(self, *, fuel: int, deadline_ms: int) -> wasmtime.Store:
        store = wasmtime.Store(self.engine)
        store.set_limits(
            memory_size=self.max_memory,
            table_elements=MAX_TABLE_ELEMENTS,
            instances=1,
            tables=1,
            memories=1,
        )
        store.set_fuel(fuel)
        # +1: the first tick can come at any moment within its period.
        store.set_epoch_deadline(-(-deadline_ms // TICK_MS) + 1)
        return store

    def _instantiate(self, store: wasmtime.Store, module: wasmtime.Module) -> wasmtime.Instance:
        try:
            return wasmtime.Instance(store, module, [])
        except wasmtime.Trap as exc:  # a start function trapped
            raise self._trap_error(exc, store, None) from None
        except wasmtime.WasmtimeError as exc:
            msg = _first_line(exc)
            if "memory" in msg and ("limit" in msg or "resource" in msg or "exceed" in msg):
                raise SandboxError(f"instantiation refused: {msg}", reason=abi.REASON_MEMORY_LIMIT) from None
            raise SandboxError(f"instantiation failed: {msg}", reason=abi.REASON_INVALID_MODULE) from None

    def _check_version(self, store: wasmtime.Store, instance: wasmtime.Instance,
                       exports: InstanceExports | None = None) -> None:
        exports = exports if exports is not None else instance.exports(store)
        memory = cast(wasmtime.Memory, exports["memory"])
        version = self._call(store, memory, cast(wasmtime.Func, exports["nc_abi_version"]))
        if version != abi.ABI_VERSION:
            raise SandboxError(
                f"module implements ABI version {version}, this host speaks {abi.ABI_VERSION}",
                reason=abi.REASON_ABI_VERSION,
            )

    def _call(self, store: wasmtime.Store, memory: wasmtime.Memory, func: wasmtime.Func, *args: int) -> int:
        try:
            return cast(int, func(store, *args))  # every ABI v1 export returns one integer
        except wasmtime.Trap as exc:
            raise self._trap_error(exc, store, memory) from None
        except wasmtime.WasmtimeError as exc:
            raise SandboxError(f"call failed: {_first_line(exc)}", reason=abi.REASON_TRAP) from None

    def _trap_error(self, exc: wasmtime.Trap, store: wasmtime.Store, memory: wasmtime.Memory | None) -> SandboxError:
        code = exc.trap_code
        if code == wasmtime.TrapCode.OUT_OF_FUEL:
            return SandboxError("program ran out of fuel", reason=abi.REASON_OUT_OF_FUEL)
        if code == wasmtime.TrapCode.INTERRUPT:
            return SandboxError("program exceeded its wall-clock deadline", reason=abi.REASON_DEADLINE)
        name = code.name.lower() if code is not None else "unknown"
        if (
            memory is not None
            and memory.data_len(store) + max(_PAGE, self.max_memory * MEMORY_LIMIT_MARGIN) > self.max_memory
        ):
            err = SandboxError(
                f"program trapped ({name}) with memory at its {self.max_memory}-byte limit",
                reason=abi.REASON_MEMORY_LIMIT,
            )
        else:
            err = SandboxError(f"program trapped: {name}", reason=abi.REASON_TRAP)
        err.trap_code = name  # type: ignore[attr-defined]
        return err


def _check_static(module: wasmtime.Module) -> None:
    """ABI v1's static rules: no imports; the required exports with the right types."""
    imports = module.imports
    if imports:
        first = imports[0]
        raise SandboxError(
            f"module imports {first.module}.{first.name}; ABI v1 allows no imports",
            reason=abi.REASON_FORBIDDEN_IMPORT,
        )
    exports = {e.name: e.type for e in module.exports}
    mem = exports.get("memory")
    if not isinstance(mem, wasmtime.MemoryType):
        raise SandboxError("module does not export a memory named 'memory'", reason=abi.REASON_MISSING_EXPORT)
    for name, (params, results) in _REQUIRED_FUNCS.items():
        ty = exports.get(name)
        if not isinstance(ty, wasmtime.FuncType):
            raise SandboxError(f"module does not export function {name}", reason=abi.REASON_MISSING_EXPORT)
        got = (tuple(_type_name(p) for p in ty.params), tuple(_type_name(r) for r in ty.results))
        if got != (params, results):
            raise SandboxError(
                f"export {name} has type {got}, ABI v1 requires {(params, results)}",
                reason=abi.REASON_MISSING_EXPORT,
            )


def _input_record_count(data: bytes) -> int:
    """Read n_records from an ABI v1 input header (the records themselves are the program's to parse)."""
    if len(data) > abi.MAX_INPUT:
        raise SandboxError(f"input of {len(data)} bytes exceeds {abi.MAX_INPUT}", reason=abi.REASON_INPUT_TOO_LARGE)
    if len(data) < 8:
        raise SandboxError("input shorter than the ABI v1 header", reason=abi.REASON_MALFORMED_INPUT)
    args_len = _U32.unpack_from(data, 0)[0]
    if args_len > len(data) - 8:
        raise SandboxError("input args length runs past the end", reason=abi.REASON_MALFORMED_INPUT)
    n: int = _U32.unpack_from(data, 4 + args_len)[0]
    if n > (len(data) - 8 - args_len) // 4:
        raise SandboxError(f"input claims {n} records, too many for its size", reason=abi.REASON_MALFORMED_INPUT)
    return n


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
