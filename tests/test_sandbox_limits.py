"""Programs identified by their record; compiled modules bounded in bytes; compilation bounded; memory-limit label."""

from __future__ import annotations

import hashlib

import pytest
import wasmtime
from sandbox_wat import EMPTY_OUTPUT, wasm

from note_compute.compute.source import RingSource
from note_compute.crypto import SigningKey
from note_compute.errors import SandboxError
from note_compute.sandbox import Sandbox, abi, pack_input
from note_compute.sandbox import runtime as sandbox_runtime
from note_compute.testing.compute import SUBSTRING_WAT, ComputeNetwork

MAX_MEMORY = 4 * 1024 * 1024
INPUT = pack_input(b"", [b"r"])
GENUINE = SigningKey(hashlib.sha256(b"limits-genuine").digest())
SQUATTER = SigningKey(hashlib.sha256(b"limits-squatter").digest())


async def test_fuel_comes_from_the_record_asked_for_not_a_cache_keyed_by_binary() -> None:
    """Another authority's record for the same binary with fuel=1 must not make the genuine program fail."""
    with Sandbox() as sandbox:
        net = ComputeNetwork(3, sandbox)
        binary = bytes(wasmtime.wat2wasm(SUBSTRING_WAT))
        bad_url = await net.publish_program(SQUATTER, "sub", binary, fuel=1)
        good_url = await net.publish_program(GENUINE, "sub", binary, fuel=10**9)
        src = RingSource(net)
        h = hashlib.sha256(binary).digest()
        squat = await src.program(bad_url, h)  # asked first: its record is fetched and cached
        genuine = await src.program(good_url, h)
        assert (squat.fuel, squat.url) == (1, bad_url)
        assert (genuine.fuel, genuine.url) == (10**9, good_url)
        assert await src.program(good_url, h) is genuine  # cached under its own record


async def test_program_cache_is_bounded_by_bytes() -> None:
    with Sandbox() as sandbox:
        net = ComputeNetwork(3, sandbox)
        src = RingSource(net)
        src.max_program_bytes = 500
        for i in range(6):
            binary = wasm(extra=f'(func (export "pad{i}") (result i32) (i32.const {i}))') + b""
            url = await net.publish_program(GENUINE, f"p{i}", binary)
            await src.program(url, hashlib.sha256(binary).digest())
            assert src._program_bytes <= max(500, len(binary))
        assert len(src._programs) < 6


def test_compiled_modules_are_bounded_by_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    mods = [wasm(extra=f'(func (export "f{i}") (result i32) (i32.const {i}))') for i in range(8)]
    with Sandbox(max_memory=MAX_MEMORY) as sandbox:
        sizes = []
        for m in mods[:2]:
            sandbox.compile(m)
            sizes.append(sandbox.cached_module_bytes - sum(sizes))
        budget = sum(sizes) + sizes[0] // 2  # room for two, not three
        monkeypatch.setattr(sandbox_runtime, "MEMORY_CACHE_BYTES", budget)
        for m in mods[2:]:
            sandbox.compile(m)
            assert sandbox.cached_module_bytes <= budget
        assert len(sandbox._modules) == 2
        assert hashlib.sha256(mods[-1]).digest() in sandbox._modules  # the most recent stays
        assert sandbox.run(mods[0], INPUT, fuel=10**6).indices == ()  # an evicted one recompiles


def test_large_modules_compile_in_a_bounded_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox_runtime, "INLINE_COMPILE_BYTES", 0)  # everything goes to the worker
    with Sandbox(max_memory=MAX_MEMORY) as sandbox:
        good = wasm()
        assert sandbox.run(good, INPUT, fuel=10**6).indices == ()
        assert sandbox.compiled_in_worker == 1
        with pytest.raises(SandboxError) as e:
            sandbox.compile(b"\x00asm\x01\x00\x00\x00garbage")
        assert e.value.reason == abi.REASON_INVALID_MODULE
        with pytest.raises(SandboxError) as e:
            sandbox.compile(wasm(imports='(import "env" "f" (func))'))
        assert e.value.reason == abi.REASON_FORBIDDEN_IMPORT
        # The worker's limits hold: with 16 MiB of address space it cannot compile at all.
        monkeypatch.setattr(sandbox_runtime, "COMPILE_MEMORY_LIMIT", 16 * 1024 * 1024)
        with pytest.raises(SandboxError) as e:
            sandbox.compile(wasm(extra='(func (export "other") (result i32) (i32.const 9))'))
        assert e.value.reason == abi.REASON_INVALID_MODULE and "within its limits" in e.value.message


def test_modules_over_the_size_cap_are_refused_before_compiling() -> None:
    with Sandbox(max_memory=MAX_MEMORY) as sandbox:
        huge = wasm() + b"\x00" * (sandbox_runtime.MAX_WASM_SIZE + 1)
        with pytest.raises(SandboxError) as e:
            sandbox.compile(huge)
        assert e.value.reason == abi.REASON_INVALID_MODULE and "cap" in e.value.message


def test_a_trap_near_the_memory_cap_is_a_memory_limit() -> None:
    """A program that grows to one page short of the cap, then fails a large allocation and traps."""
    pages = MAX_MEMORY // 65536 - 1
    body = f"(drop (memory.grow (i32.const {pages - 2}))) (unreachable)"
    with Sandbox(max_memory=MAX_MEMORY) as sandbox:
        with pytest.raises(SandboxError) as e:
            sandbox.run(wasm(body), INPUT, fuel=10**6)
        assert e.value.reason == abi.REASON_MEMORY_LIMIT
        # Far below the cap, the same trap is a plain trap.
        with pytest.raises(SandboxError) as e:
            sandbox.run(wasm("(unreachable)"), INPUT, fuel=10**6)
        assert e.value.reason == abi.REASON_TRAP
        assert sandbox.run(wasm(EMPTY_OUTPUT), INPUT, fuel=10**6).indices == ()
