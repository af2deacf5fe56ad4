"""The wasmtime sandbox: limits, typed failures, determinism, module cache.

Hostile modules are written inline in WAT (see tests/sandbox_wat.py); each
must fail fast with the right reason and leave the process usable.
"""

from __future__ import annotations

import struct
import time
from pathlib import Path

import pytest
from sandbox_wat import EMPTY_OUTPUT, wasm

from note_compute.errors import SandboxError
from note_compute.sandbox import RunResult, Sandbox, abi, pack_input, pack_output

CONTRACTS = Path(__file__).resolve().parent.parent / "contracts"
MAX_MEMORY = 16 * 1024 * 1024
INPUT = pack_input(b"\xa0", [b"r0", b"r1", b"r2"])


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    sb = Sandbox(max_memory=MAX_MEMORY)
    yield sb
    sb.close()


def _ret(ptr: int, length: int) -> str:
    return f"(i64.or (i64.shl (i64.const {ptr}) (i64.const 32)) (i64.const {length}))"


def _fails(sandbox: Sandbox, module: bytes, reason: str, *, data: bytes = INPUT, fuel: int = 1_000_000,
           deadline_ms: int = 1000, max_output: int = abi.MAX_OUTPUT) -> SandboxError:
    """The run stops with the typed error ``reason``. How soon it stops (wall clock, which a loaded
    machine stretches) is measured in ``benchmarks/bench_bounds.py``, not asserted here."""
    with pytest.raises(SandboxError) as info:
        sandbox.run(module, data, fuel=fuel, deadline_ms=deadline_ms, max_output=max_output)
    assert info.value.reason == reason, str(info.value)
    return info.value


# ---------------------------------------------------------------- happy path

def test_minimal_module_runs(sandbox: Sandbox) -> None:
    result = sandbox.run(wasm(), INPUT, fuel=10_000)
    assert isinstance(result, RunResult)
    assert result.output == pack_output([])
    assert result.indices == () and result.extra == b""
    assert 0 < result.fuel_used < 10_000


def test_indices_and_extra_come_back(sandbox: Sandbox) -> None:
    # Writes pack_output([2, 0], b"hi") at address 64 with i32/i64 stores.
    out = pack_output([2, 0], b"hi")
    stores = "".join(
        f"(i32.store8 (i32.const {64 + i}) (i32.const {b}))" for i, b in enumerate(out)
    )
    result = sandbox.run(wasm(stores + _ret(64, len(out))), INPUT, fuel=10_000)
    assert result.indices == (2, 0)
    assert result.extra == b"hi"
    assert result.output == out


def test_input_is_copied_where_nc_alloc_said(sandbox: Sandbox) -> None:
    # Echo the whole input back as the extra bytes: n=0, extra_len=len, bytes.
    body = """
      (i32.store (i32.const 16) (i32.const 0))
      (i32.store (i32.const 20) (local.get $n))
      (memory.copy (i32.const 24) (local.get $p) (local.get $n))
    """ + "(i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.extend_i32_u (i32.add (local.get $n) (i32.const 8))))"
    result = sandbox.run(wasm(body), INPUT, fuel=10_000)
    assert result.extra == INPUT


# ---------------------------------------------------------------- hostile modules

def test_infinite_loop_runs_out_of_fuel(sandbox: Sandbox) -> None:
    _fails(sandbox, wasm("(loop $l (br $l)) (unreachable)"), abi.REASON_OUT_OF_FUEL)


def test_infinite_loop_with_huge_fuel_hits_the_deadline(sandbox: Sandbox) -> None:
    start = time.monotonic()
    _fails(sandbox, wasm("(loop $l (br $l)) (unreachable)"), abi.REASON_DEADLINE,
           fuel=10**15, deadline_ms=50)
    assert time.monotonic() - start >= 0.045  # the deadline is a lower bound too (load only adds time)


def test_start_function_is_bounded(sandbox: Sandbox) -> None:
    _fails(sandbox, wasm(extra="(func $s (loop $l (br $l))) (start $s)"), abi.REASON_OUT_OF_FUEL)


def test_memory_grow_past_the_limit_returns_minus_one(sandbox: Sandbox) -> None:
    # Grow one page at a time until refused, then report memory.size in the extra bytes.
    body = """
      (loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
      (i32.store (i32.const 16) (i32.const 0))
      (i32.store (i32.const 20) (i32.const 4))
      (i32.store (i32.const 24) (memory.size))
    """ + _ret(16, 12)
    result = sandbox.run(wasm(body), INPUT, fuel=10_000_000)
    assert struct.unpack("<I", result.extra)[0] * 65536 == MAX_MEMORY


def test_memory_grow_bomb_that_traps_is_a_memory_limit(sandbox: Sandbox) -> None:
    bomb = "(loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))) (unreachable)"
    err = _fails(sandbox, wasm(bomb), abi.REASON_MEMORY_LIMIT, fuel=10_000_000)
    assert err.trap_code == "unreachable"  # type: ignore[attr-defined]


def test_initial_memory_over_the_limit(sandbox: Sandbox) -> None:
    _fails(sandbox, wasm(memory='(memory (export "memory") 1000)'), abi.REASON_MEMORY_LIMIT)


def test_input_larger_than_memory_limit(sandbox: Sandbox) -> None:
    big = pack_input(b"", [bytes(MAX_MEMORY)])
    _fails(sandbox, wasm(), abi.REASON_MEMORY_LIMIT, data=big)


def test_alloc_returning_garbage(sandbox: Sandbox) -> None:
    alloc = '(func (export "nc_alloc") (param i32) (result i32) (i32.const 0x7FFFFFF0))'
    _fails(sandbox, wasm(alloc=alloc), abi.REASON_OUTPUT_BOUNDS)
    null = '(func (export "nc_alloc") (param i32) (result i32) (i32.const 0))'
    _fails(sandbox, wasm(alloc=null), abi.REASON_OUTPUT_BOUNDS)


def test_deep_recursion_is_a_stack_overflow_trap(sandbox: Sandbox) -> None:
    err = _fails(sandbox, wasm("(call $run (local.get $p) (local.get $n))"), abi.REASON_TRAP, fuel=10**9)
    assert err.trap_code == "stack_overflow"  # type: ignore[attr-defined]
    assert "stack_overflow" in str(err)


@pytest.mark.parametrize(
    "body, code",
    [
        ("(unreachable)", "unreachable"),
        ("(drop (i32.div_u (i32.const 1) (i32.const 0))) " + EMPTY_OUTPUT, "integer_division_by_zero"),
        ("(drop (i32.load (i32.const 0x7FFFFFF0))) " + EMPTY_OUTPUT, "memory_out_of_bounds"),
    ],
)
def test_traps_carry_their_code(sandbox: Sandbox, body: str, code: str) -> None:
    err = _fails(sandbox, wasm(body), abi.REASON_TRAP)
    assert err.trap_code == code  # type: ignore[attr-defined]


def test_huge_output_is_over_the_cap(sandbox: Sandbox) -> None:
    _fails(sandbox, wasm(_ret(16, 0xFFFFFFF0)), abi.REASON_OUTPUT_TOO_LARGE)


def test_output_cap_is_the_callers(sandbox: Sandbox) -> None:
    # A legitimate 8-byte output is refused under a 4-byte cap.
    _fails(sandbox, wasm(), abi.REASON_OUTPUT_TOO_LARGE, max_output=4)


@pytest.mark.parametrize("ptr, length", [(0xFFFF0000, 8), (131072 - 4, 8), (0xFFFFFFFE, 0xFFFF)])
def test_output_outside_memory(sandbox: Sandbox, ptr: int, length: int) -> None:
    _fails(sandbox, wasm(_ret(ptr, length)), abi.REASON_OUTPUT_BOUNDS)


def test_program_error_return(sandbox: Sandbox) -> None:
    err = _fails(sandbox, wasm(_ret(0xFFFFFFFF, 7)), abi.REASON_PROGRAM_ERROR)
    assert "error code 7" in str(err)


@pytest.mark.parametrize(
    "out",
    [
        struct.pack("<III", 1, 3, 0),  # index 3 of 3 records
        struct.pack("<IIII", 2, 1, 1, 0),  # repeated index
        struct.pack("<II", 5, 0),  # claims 5 indices
        struct.pack("<III", 0, 9, 0),  # extra_len past the output
    ],
)
def test_malformed_output(sandbox: Sandbox, out: bytes) -> None:
    stores = "".join(f"(i32.store8 (i32.const {64 + i}) (i32.const {b}))" for i, b in enumerate(out))
    _fails(sandbox, wasm(stores + _ret(64, len(out))), abi.REASON_MALFORMED_OUTPUT)


@pytest.mark.parametrize(
    "imports",
    [
        '(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))',
        '(import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))',
        '(import "env" "host_call" (func))',
        '(import "env" "g" (global i32))',
        '(import "env" "t" (table 1 funcref))',
    ],
)
def test_forbidden_imports(sandbox: Sandbox, imports: str) -> None:
    err = _fails(sandbox, wasm(imports=imports), abi.REASON_FORBIDDEN_IMPORT)
    assert "allows no imports" in str(err)


def test_imported_memory_is_forbidden(sandbox: Sandbox) -> None:
    _fails(sandbox, wasm(memory='(import "env" "memory" (memory 1))'), abi.REASON_FORBIDDEN_IMPORT)


@pytest.mark.parametrize(
    "kw",
    [
        {"memory": "(memory 1)"},
        {"alloc": "(func (param i32) (result i32) (i32.const 0))"},
        {"alloc": '(func (export "nc_alloc") (param i32 i32) (result i32) (i32.const 0))'},
        {"run_sig": "(param $p i32) (param $n i32) (result i32)", "run_body": "(i32.const 0)"},
    ],
)
def test_missing_or_mistyped_exports(sandbox: Sandbox, kw: dict) -> None:
    _fails(sandbox, wasm(**kw), abi.REASON_MISSING_EXPORT)


@pytest.mark.parametrize("version", [0, 2, -1])
def test_wrong_abi_version(sandbox: Sandbox, version: int) -> None:
    _fails(sandbox, wasm(version=version), abi.REASON_ABI_VERSION)


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"(module)",  # WAT text must never be accepted
        b"\x00asm\x01\x00\x00\x00garbage",
        b"\x00asm\x02\x00\x00\x00",
        b"\x7fELF\x02\x01\x01",
    ],
)
def test_invalid_modules(sandbox: Sandbox, blob: bytes) -> None:
    _fails(sandbox, blob, abi.REASON_INVALID_MODULE)


def test_disabled_features_are_invalid(sandbox: Sandbox) -> None:
    simd = wasm("(drop (i32x4.splat (i32.const 1))) " + EMPTY_OUTPUT)
    _fails(sandbox, simd, abi.REASON_INVALID_MODULE)
    threads = wasm(memory='(memory (export "memory") 1 1 shared)')
    _fails(sandbox, threads, abi.REASON_INVALID_MODULE)


@pytest.mark.parametrize("data", [b"", b"\x00" * 7, struct.pack("<I", 50) + b"x" * 8, struct.pack("<II", 0, 9)])
def test_malformed_input_header_is_refused_before_running(sandbox: Sandbox, data: bytes) -> None:
    _fails(sandbox, wasm(), abi.REASON_MALFORMED_INPUT, data=data)


def test_bad_parameters_are_value_errors(sandbox: Sandbox) -> None:
    for kw in (
        {"fuel": 0},
        {"fuel": True},
        {"fuel": 2**63},
        {"fuel": 10, "deadline_ms": 0},
        {"fuel": 10, "deadline_ms": 1.5},
    ):
        with pytest.raises(ValueError):
            sandbox.run(wasm(), INPUT, **kw)
    with pytest.raises(TypeError):
        sandbox.run("(module)", INPUT, fuel=10)  # type: ignore[arg-type]


def test_process_survives_every_hostile_module(sandbox: Sandbox) -> None:
    hostile = [
        wasm("(loop $l (br $l)) (unreachable)"),
        wasm("(call $run (local.get $p) (local.get $n))"),
        wasm("(loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))) (unreachable)"),
        wasm(_ret(0xFFFF0000, 8)),
        wasm(imports='(import "env" "f" (func))'),
    ]
    for _ in range(3):
        for module in hostile:
            with pytest.raises(SandboxError):
                sandbox.run(module, INPUT, fuel=1_000_000, deadline_ms=200)
    assert sandbox.run(wasm(), INPUT, fuel=10_000).output == pack_output([])


# ---------------------------------------------------------------- determinism

def _shop_input() -> bytes:
    from note_compute.encoding import encode

    products = [
        encode({"id": f"p{i}", "name": f"Item {i * 7919 % 1000}", "description": "red" if i % 3 else "blue",
                "category": "ab"[i % 2], "price": (i * 104729) % 10000})
        for i in range(300)
    ]
    return pack_input(encode({"text": "RED", "sort": "-price", "limit": 50}), products)


def test_same_program_and_input_give_same_output_and_fuel(sandbox: Sandbox) -> None:
    shop = (CONTRACTS / "shop_search.wasm").read_bytes()
    data = _shop_input()
    first = sandbox.run(shop, data, fuel=10**9)
    assert len(first.indices) == 50
    for _ in range(3):
        again = sandbox.run(shop, data, fuel=10**9)
        assert (again.output, again.fuel_used) == (first.output, first.fuel_used)
    fresh = Sandbox()
    try:
        other = fresh.run(shop, data, fuel=10**9)
    finally:
        fresh.close()
    assert (other.output, other.fuel_used) == (first.output, first.fuel_used)
    # Fuel used does not depend on the budget: any budget either gives the same figure or fails.
    assert sandbox.run(shop, data, fuel=first.fuel_used + 1).fuel_used == first.fuel_used
    for budget in (first.fuel_used, first.fuel_used - 1, first.fuel_used - 20, first.fuel_used // 2):
        with pytest.raises(SandboxError) as info:
            sandbox.run(shop, data, fuel=budget)
        assert info.value.reason == abi.REASON_OUT_OF_FUEL, budget


def test_no_state_survives_between_runs(sandbox: Sandbox) -> None:
    # A counter global incremented on each run: always 1 in a fresh Store.
    body = """
      (global.set $count (i32.add (global.get $count) (i32.const 1)))
      (i32.store (i32.const 16) (i32.const 0))
      (i32.store (i32.const 20) (i32.const 4))
      (i32.store (i32.const 24) (global.get $count))
    """ + _ret(16, 12)
    module = wasm(body, extra="(global $count (mut i32) (i32.const 0))")
    for _ in range(3):
        assert sandbox.run(module, INPUT, fuel=10_000).extra == struct.pack("<I", 1)


# ---------------------------------------------------------------- validation and cache

def test_validate_returns_hash_and_checks_version(sandbox: Sandbox) -> None:
    import hashlib

    module = wasm()
    assert sandbox.validate(module) == hashlib.sha256(module).digest()
    with pytest.raises(SandboxError) as info:
        sandbox.validate(wasm(version=3))
    assert info.value.reason == abi.REASON_ABI_VERSION


def test_disk_cache_round_trip_and_corruption(tmp_path: Path) -> None:
    module = (CONTRACTS / "echo.wasm").read_bytes()
    data = pack_input(b"\xa1aa\x01", [b"x", b"y"])
    first = Sandbox(tmp_path / "cache")
    try:
        expected = first.run(module, data, fuel=100_000)
    finally:
        first.close()
    artifacts = list((tmp_path / "cache").glob("*.cwasm"))
    assert len(artifacts) == 1
    assert (tmp_path / "cache").stat().st_mode & 0o077 == 0

    second = Sandbox(tmp_path / "cache")
    try:
        assert second.run(module, data, fuel=100_000) == expected
    finally:
        second.close()

    # A corrupted artifact is refused by its checksum, dropped and rebuilt.
    artifacts[0].write_bytes(artifacts[0].read_bytes()[:-100])
    third = Sandbox(tmp_path / "cache")
    try:
        assert third.run(module, data, fuel=100_000) == expected
    finally:
        third.close()
    import hashlib

    from note_compute.sandbox.cache import ArtifactCache  # noqa: F401  (documented helper)

    assert hashlib.sha256(artifacts[0].read_bytes()).hexdigest() == artifacts[0].with_suffix(".sum").read_text()


def test_cache_refuses_artifact_with_wrong_sum(tmp_path: Path) -> None:
    from note_compute.sandbox.cache import ArtifactCache

    sb = Sandbox()
    try:
        cache = ArtifactCache(tmp_path, "tag")
        digest = b"\x01" * 32
        cache.save(digest, b"not an artifact")
        (tmp_path / f"{digest.hex()}.tag.sum").write_text("00" * 32)
        assert cache.load(sb.engine, digest) is None
        assert not list(tmp_path.iterdir())  # dropped
    finally:
        sb.close()


def test_closed_sandbox_refuses_to_run() -> None:
    sb = Sandbox()
    sb.close()
    with pytest.raises(RuntimeError):
        sb.run(wasm(), INPUT, fuel=10_000)
    with Sandbox() as sb2:
        assert sb2.run(wasm(), INPUT, fuel=10_000).indices == ()
    with pytest.raises(RuntimeError):
        sb2.validate(wasm())


def test_oversized_table_is_refused_at_instantiation(sandbox: Sandbox) -> None:
    _fails(sandbox, wasm(extra="(table 1000000 funcref)"), abi.REASON_INVALID_MODULE)


def test_two_tables_or_memories_are_refused(sandbox: Sandbox) -> None:
    _fails(sandbox, wasm(extra="(table 1 funcref) (table 1 funcref)"), abi.REASON_INVALID_MODULE)


def test_deadline_holds_for_concurrent_runs(sandbox: Sandbox) -> None:
    import threading

    loop = wasm("(loop $l (br $l)) (unreachable)")
    reasons: list[str | None] = []

    def one() -> None:
        try:
            sandbox.run(loop, INPUT, fuel=10**15, deadline_ms=80)
        except SandboxError as exc:
            reasons.append(exc.reason)

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert reasons == [abi.REASON_DEADLINE] * 3  # each stopped by its own deadline (timing: bench_bounds.py)
    # and the sandbox still works afterwards
    assert sandbox.run(wasm(), INPUT, fuel=10_000).indices == ()


def test_nan_results_are_canonical(sandbox: Sandbox) -> None:
    # 0/0 gives x86's negative default NaN (0xFFC00000 / 0xFFF8...) unless the engine canonicalizes.
    # The divisor comes from the input length so nothing is constant-folded.
    body = """
      (i32.store (i32.const 16) (i32.const 0))
      (i32.store (i32.const 20) (i32.const 12))
      (i32.store (i32.const 24) (i32.reinterpret_f32
          (f32.div (f32.const 0) (f32.sub (f32.convert_i32_u (local.get $n)) (f32.convert_i32_u (local.get $n))))))
      (i64.store (i32.const 28) (i64.reinterpret_f64
          (f64.div (f64.const 0) (f64.sub (f64.convert_i32_u (local.get $n)) (f64.convert_i32_u (local.get $n))))))
    """ + _ret(16, 20)
    extra = sandbox.run(wasm(body), INPUT, fuel=10_000).extra
    f32_bits, f64_bits = struct.unpack("<IQ", extra)
    assert f32_bits == 0x7FC00000
    assert f64_bits == 0x7FF8000000000000


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4),
       cut=st.integers(0, 10_000))
def test_corrupted_modules_fail_with_a_typed_error(sandbox: Sandbox, flips: list, cut: int) -> None:
    # Bit-rotted versions of a real contract: whatever happens is a SandboxError or a valid answer.
    module = bytearray((CONTRACTS / "echo.wasm").read_bytes())
    for pos, val in flips:
        module[pos % len(module)] = val
    if cut % 3 == 0:
        module = module[: cut % len(module)]
    try:
        result = sandbox.run(bytes(module), INPUT, fuel=1_000_000, deadline_ms=200)
    except SandboxError as exc:
        assert exc.reason in abi.REASONS
    else:
        assert all(i < 3 for i in result.indices)
