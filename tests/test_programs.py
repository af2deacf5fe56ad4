"""Program records (note_compute.programs): pure, no network, no wasmtime."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from note_compute import encoding, programs
from note_compute.blobs import split_blob
from note_compute.crypto import SigningKey
from note_compute.errors import InvalidRecord, InvalidSignature
from note_compute.records import Record, decode_verified, sign_record, verify_record

KEY = SigningKey(b"\x07" * 32)
OTHER = SigningKey(b"\x08" * 32)
WASM = (Path(__file__).resolve().parent.parent / "contracts" / "echo.wasm").read_bytes()


def _record(name: str = "echo", wasm: bytes = WASM, fuel: int = 1000, **kw: object) -> Record:
    return programs.make_program(KEY, name, wasm, fuel=fuel, seq=kw.pop("seq", 1), created=1_700_000_000, **kw)


def test_make_and_parse_round_trip() -> None:
    rec = _record()
    verify_record(rec)
    assert rec.url == f"note://{KEY.authority}/programs/echo"
    again = decode_verified(rec.encode())
    prog = programs.parse_program(again)
    assert prog.name == "echo"
    assert prog.url == rec.url and prog.authority == KEY.authority
    assert prog.wasm == hashlib.sha256(WASM).digest()
    assert prog.size == len(WASM) and prog.fuel == 1000 and prog.abi == 1 and prog.seq == 1
    assert prog.blob == split_blob(WASM, "application/wasm")[0].address
    programs.check_binary(prog, WASM)


def test_value_is_canonical_cbor_with_exactly_the_documented_keys() -> None:
    value = encoding.decode(_record().value)
    assert set(value) == {"type", "name", "wasm", "abi", "fuel", "size", "blob"}
    assert value["type"] == "program"
    assert encoding.encode(value) == _record().value


def test_abi_version_matches_the_sandbox() -> None:
    from note_compute.sandbox.abi import ABI_VERSION

    assert programs.ABI_VERSION == ABI_VERSION


def test_check_binary_refuses_other_bytes() -> None:
    prog = programs.parse_program(_record())
    for bad in (WASM[:-1], WASM + b"\x00", bytes([WASM[0] ^ 1]) + WASM[1:], b""):
        with pytest.raises(InvalidRecord) as info:
            programs.check_binary(prog, bad)
        assert info.value.reason == "hash"
    with pytest.raises(InvalidRecord):
        programs.check_binary(replace(prog, size=len(WASM), wasm=b"\x00" * 32), WASM)


def test_signature_covers_the_program_value() -> None:
    rec = _record()
    tampered = replace(rec, value=programs.program_value("echo", WASM, fuel=10**12))
    with pytest.raises(InvalidSignature):
        verify_record(tampered)


def _signed_value(value: object, path: str = "/programs/echo", key: SigningKey = KEY) -> Record:
    raw = value if isinstance(value, bytes) else encoding.encode(value)
    return sign_record(key, f"note://{key.authority}{path}", seq=1, value=raw, created=1)


def _good_value(**changes: object) -> dict:
    value = encoding.decode(_record().value)
    value.update(changes)
    return {k: v for k, v in value.items() if v is not None}


@pytest.mark.parametrize(
    "value, reason",
    [
        (b"\xff", "schema"),
        ([1, 2], "not-program"),
        ({"type": "dataset"}, "not-program"),
        (_good_value(type=None), "not-program"),
        (_good_value(fuel=None), "schema"),
        (_good_value(extra=1), "schema"),
        (_good_value(name="Echo"), "name"),
        (_good_value(name="other"), "url"),
        (_good_value(wasm=b"\x00" * 31), "schema"),
        (_good_value(wasm="ab" * 16), "schema"),
        (_good_value(blob=b"\x00" * 33), "schema"),
        (_good_value(abi=2), "abi"),
        (_good_value(abi=True), "abi"),
        (_good_value(fuel=0), "fuel"),
        (_good_value(fuel=2**63), "fuel"),
        (_good_value(fuel=-5), "fuel"),
        (_good_value(size=0), "size"),
        (_good_value(size=programs.MAX_PROGRAM_SIZE + 1), "size"),
    ],
)
def test_parse_refuses_bad_values(value: object, reason: str) -> None:
    with pytest.raises(InvalidRecord) as info:
        programs.parse_program(_signed_value(value))
    assert info.value.reason == reason, str(info.value)


def test_parse_refuses_program_at_the_wrong_url() -> None:
    for path in ("/echo", "/programs/echo/x", "/datasets/echo"):
        with pytest.raises(InvalidRecord) as info:
            programs.parse_program(_signed_value(_good_value(), path=path))
        assert info.value.reason == "url"


def test_parse_refuses_records_without_value() -> None:
    rec = sign_record(KEY, f"note://{KEY.authority}/programs/echo", seq=1, refs=[b"\x01" * 32], created=1)
    with pytest.raises(InvalidRecord) as info:
        programs.parse_program(rec)
    assert info.value.reason == "not-program"
    with pytest.raises(InvalidRecord):
        programs.parse_program("not a record")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["", "A", "-x", ".x", "a/b", "a b", "x" * 65, "é", 5, None])
def test_bad_names(name: object) -> None:
    with pytest.raises(InvalidRecord) as info:
        programs.make_program(KEY, name, WASM, fuel=1, seq=1, created=1)  # type: ignore[arg-type]
    assert info.value.reason == "name"


@pytest.mark.parametrize("fuel", [0, -1, 2**63, 1.5, "10", True])
def test_bad_fuel(fuel: object) -> None:
    with pytest.raises(InvalidRecord) as info:
        programs.make_program(KEY, "echo", WASM, fuel=fuel, seq=1, created=1)  # type: ignore[arg-type]
    assert info.value.reason == "fuel"


def test_bad_binaries() -> None:
    for wasm in (b"", "text", bytes(programs.MAX_PROGRAM_SIZE + 1)):
        with pytest.raises(InvalidRecord) as info:
            programs.make_program(KEY, "echo", wasm, fuel=1, seq=1, created=1)  # type: ignore[arg-type]
        assert info.value.reason == "size"


def test_only_the_authority_can_sign() -> None:
    with pytest.raises(InvalidRecord):
        sign_record(OTHER, programs.program_url(KEY.authority, "echo"), seq=1,
                    value=programs.program_value("echo", WASM, fuel=1), created=1)


@given(name=st.from_regex(r"[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True), fuel=st.integers(1, 2**63 - 1),
       wasm=st.binary(min_size=1, max_size=200))
def test_round_trip_property(name: str, fuel: int, wasm: bytes) -> None:
    rec = programs.make_program(KEY, name, wasm, fuel=fuel, seq=3, created=5)
    prog = programs.parse_program(Record.decode(rec.encode()))
    assert (prog.name, prog.fuel, prog.size) == (name, fuel, len(wasm))
    programs.check_binary(prog, wasm)


def test_programs_module_is_pure() -> None:
    import subprocess
    import sys

    code = (
        "import sys, note_compute.programs; "
        "print(sorted(m for m in ('wasmtime', 'trio', 'libp2p') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
