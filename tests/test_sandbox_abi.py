"""ABI v1 framing (note_compute.sandbox.abi): pure, no wasmtime."""

from __future__ import annotations

import struct
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from note_compute.errors import SandboxError
from note_compute.sandbox import abi
from note_compute.sandbox.abi import pack_input, pack_output, unpack_input, unpack_output

records_st = st.lists(st.binary(max_size=40), max_size=20)


@given(args=st.binary(max_size=60), records=records_st)
def test_input_round_trip(args: bytes, records: list[bytes]) -> None:
    data = pack_input(args, records)
    assert unpack_input(data) == (args, records)
    assert len(data) == 8 + len(args) + sum(4 + len(r) for r in records)


def test_input_layout_is_exactly_the_spec() -> None:
    data = pack_input(b"\xa0", [b"ab", b""])
    assert data == b"\x01\x00\x00\x00\xa0" + b"\x02\x00\x00\x00" + b"\x02\x00\x00\x00ab" + b"\x00\x00\x00\x00"


@given(n=st.integers(0, 30), data=st.data())
def test_output_round_trip(n: int, data: st.DataObject) -> None:
    indices = data.draw(st.lists(st.integers(0, max(n - 1, 0)), unique=True, max_size=n)) if n else []
    extra = data.draw(st.binary(max_size=30))
    out = pack_output(indices, extra)
    assert unpack_output(out, n) == (indices, extra)


def test_output_layout_is_exactly_the_spec() -> None:
    assert pack_output([2, 0], b"xy") == struct.pack("<III", 2, 2, 0) + struct.pack("<I", 2) + b"xy"


@pytest.mark.parametrize(
    "data, n_records, why",
    [
        (b"", 5, "shorter than"),
        (b"\x00\x00\x00\x00", 5, "shorter than"),
        (struct.pack("<II", 1, 0), 5, "claims 1 indices"),
        (struct.pack("<III", 1, 0, 1), 5, "does not match"),  # extra_len 1 but no byte
        (struct.pack("<II", 0, 0) + b"z", 5, "does not match"),  # trailing byte
        (struct.pack("<III", 1, 5, 0), 5, "out of range"),
        (struct.pack("<III", 1, 0, 0), 0, "out of range"),
        (struct.pack("<IIII", 2, 3, 3, 0), 5, "repeats"),
        (struct.pack("<II", 0xFFFFFFFF, 0), 5, "claims"),
    ],
)
def test_bad_output_is_refused(data: bytes, n_records: int, why: str) -> None:
    with pytest.raises(SandboxError, match=why) as info:
        unpack_output(data, n_records)
    assert info.value.reason == abi.REASON_MALFORMED_OUTPUT


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x01\x00\x00",
        struct.pack("<I", 5) + b"abc",  # args truncated
        struct.pack("<II", 0, 1),  # record count without the record
        struct.pack("<III", 0, 1, 9) + b"abc",  # record truncated
        pack_input(b"", [b"a"]) + b"!",  # trailing
        struct.pack("<II", 0, 0xFFFFFFFF),
    ],
)
def test_bad_input_is_refused(data: bytes) -> None:
    with pytest.raises(SandboxError) as info:
        unpack_input(data)
    assert info.value.reason == abi.REASON_MALFORMED_INPUT


@given(st.binary(max_size=64))
def test_unpack_never_raises_anything_else(data: bytes) -> None:
    for fn in (lambda: unpack_input(data), lambda: unpack_output(data, 10)):
        try:
            fn()
        except SandboxError as exc:
            assert exc.reason in abi.REASONS


def test_input_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(abi, "MAX_INPUT", 100)
    pack_input(b"", [b"x" * 80])
    with pytest.raises(SandboxError) as info:
        pack_input(b"", [b"x" * 50, b"y" * 50])
    assert info.value.reason == abi.REASON_INPUT_TOO_LARGE


def test_pack_output_rejects_non_u32() -> None:
    with pytest.raises(SandboxError):
        pack_output([-1])
    with pytest.raises(SandboxError):
        pack_output([2**32])


def test_abi_module_does_not_import_wasmtime() -> None:
    code = "import sys, note_compute.sandbox.abi; print('wasmtime' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
