"""`note-compute program ...`: local commands, the publish/fetch flow, and a real devnet (slow)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from note_compute import programs
from note_compute.blobs import split_blob
from note_compute.cli import main
from note_compute.cli.program import build_input, fetch_program, publish_program
from note_compute.crypto import SigningKey
from note_compute.encoding import encode
from note_compute.errors import InvalidRecord, InvalidSignature, NotFound
from note_compute.records import Record
from note_compute.sandbox import pack_input

CONTRACTS = Path(__file__).resolve().parent.parent / "contracts"
SHOP = CONTRACTS / "shop_search.wasm"
ECHO = CONTRACTS / "echo.wasm"
KEY = SigningKey(b"\x11" * 32)
PRODUCTS = [
    {"id": "a", "name": "Red hat", "description": "wool", "category": "hats", "price": 500},
    {"id": "b", "name": "Blue cap", "description": "REDdish brim", "category": "hats", "price": 300},
    {"id": "c", "name": "Sock", "description": "cotton", "category": "socks", "price": 100},
]


@pytest.fixture()
def records_file(tmp_path: Path) -> Path:
    p = tmp_path / "products.jsonl"
    p.write_text("".join(json.dumps(x) + "\n" for x in PRODUCTS))
    return p


# ---------------------------------------------------------------- local commands

def test_check_accepts_contracts_and_prints_hash() -> None:
    res = CliRunner().invoke(main, ["program", "check", str(SHOP)])
    assert res.exit_code == 0, res.output
    import hashlib

    assert hashlib.sha256(SHOP.read_bytes()).hexdigest() in res.output


def test_check_refuses_a_bad_module(tmp_path: Path) -> None:
    import wasmtime

    bad = tmp_path / "bad.wasm"
    bad.write_bytes(bytes(wasmtime.wat2wasm('(module (import "wasi_snapshot_preview1" "fd_write" (func)))')))
    res = CliRunner().invoke(main, ["program", "check", str(bad)])
    assert res.exit_code == 2
    assert "ABI v1 allows no imports" in res.output and "[forbidden-import]" not in res.output
    junk = tmp_path / "junk.wasm"
    junk.write_bytes(b"hello")
    res = CliRunner().invoke(main, ["program", "check", str(junk)])
    assert res.exit_code == 2 and "not a WebAssembly binary module" in res.output


def test_exec_with_args_and_records(records_file: Path) -> None:
    res = CliRunner().invoke(main, ["program", "exec", str(SHOP), "--args", '{"text": "red", "sort": "price"}',
                                    "--records", str(records_file)])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["indices"] == [1, 0]
    assert out["fuel_used"] > 0


def test_exec_with_raw_input(tmp_path: Path) -> None:
    raw = tmp_path / "in.bin"
    raw.write_bytes(pack_input(encode({"k": "v"}), [b"x"]))
    res = CliRunner().invoke(main, ["program", "exec", str(ECHO), "--input", str(raw)])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["indices"] == [0] and bytes.fromhex(out["extra_hex"]) == encode({"k": "v"})


def test_exec_failures_are_clean_errors(tmp_path: Path, records_file: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(main, ["program", "exec", str(SHOP), "--args", '{"bogus": 1}', "--records", str(records_file)])
    assert res.exit_code == 2 and "program rejected its input (error code 1)" in res.output
    res = runner.invoke(main, ["program", "exec", str(SHOP), "--args", "{not json"])
    assert res.exit_code != 0 and "not JSON" in res.output
    res = runner.invoke(main, ["program", "exec", str(SHOP), "--args", "{}", "--records", str(records_file),
                               "--fuel", "10"])
    assert res.exit_code == 2 and "ran out of fuel" in res.output
    bad_lines = tmp_path / "bad.jsonl"
    bad_lines.write_text('{"a": 1}\n{oops\n')
    res = runner.invoke(main, ["program", "exec", str(SHOP), "--records", str(bad_lines)])
    assert res.exit_code != 0 and "line 2" in res.output
    twice = tmp_path / "twice.jsonl"
    twice.write_text('{"a": 1}\n{"a": 1, "a": 2}\n')
    res = runner.invoke(main, ["program", "exec", str(SHOP), "--records", str(twice)])
    assert res.exit_code == 2 and "--records line 2 is not JSON: key 'a' appears twice" in res.output
    res = runner.invoke(main, ["program", "exec", str(SHOP), "--args", '{"text": "a", "text": "b"}'])
    assert res.exit_code == 2 and "key 'text' appears twice" in res.output
    raw = tmp_path / "in.bin"
    raw.write_bytes(b"\x01\x02")
    res = runner.invoke(main, ["program", "exec", str(SHOP), "--input", str(raw)])
    assert res.exit_code == 2 and "shorter than the ABI v1 header" in res.output
    res = runner.invoke(main, ["program", "exec", str(SHOP), "--input", str(raw), "--args", "{}"])
    assert res.exit_code != 0 and "excludes" in res.output


def test_build_input_matches_pack_input(records_file: Path) -> None:
    data = build_input(None, '{"limit": 2}', str(records_file))
    assert data == pack_input(encode({"limit": 2}), [encode(p) for p in PRODUCTS])


# ---------------------------------------------------------------- publish / fetch against an in-memory ring

class FakeClient:
    """The parts of note_compute.client.Client the program commands use."""

    def __init__(self) -> None:
        self.records: dict[str, Record] = {}
        self.blobs: dict[bytes, bytes] = {}

    async def get_record(self, url: str) -> Record:
        try:
            return self.records[url]
        except KeyError:
            raise NotFound(url) from None

    async def put_record(self, record: Record) -> int:
        self.records[record.url] = record
        return 3

    async def put_blob(self, data: bytes, media_type: str = "application/octet-stream") -> bytes:
        address = split_blob(data, media_type)[0].address
        self.blobs[address] = data
        return address

    async def get_blob(self, address: bytes) -> bytes:
        try:
            return self.blobs[address]
        except KeyError:
            raise NotFound("blob") from None


async def test_publish_then_fetch() -> None:
    client = FakeClient()
    wasm = SHOP.read_bytes()
    record, acks = await publish_program(client, KEY, "shop", wasm, fuel=12345, now_ms=1_700_000_000_000)
    assert acks == 3 and record.seq == 1_700_000_000_000
    program, fetched = await fetch_program(client, record.url)
    assert fetched == wasm and program.fuel == 12345 and program.name == "shop"
    # Re-publishing moves seq forward even if the clock went back.
    again, _ = await publish_program(client, KEY, "shop", wasm, fuel=1, now_ms=5)
    assert again.seq == record.seq + 1


async def test_fetch_refuses_a_swapped_binary() -> None:
    client = FakeClient()
    record, _ = await publish_program(client, KEY, "shop", SHOP.read_bytes(), fuel=1, now_ms=1000)
    program = programs.parse_program(record)
    client.blobs[program.blob] = ECHO.read_bytes()  # a replica serving other bytes
    with pytest.raises(InvalidRecord) as info:
        await fetch_program(client, record.url)
    assert info.value.reason == "hash"


async def test_fetch_refuses_a_forged_record() -> None:
    client = FakeClient()
    record, _ = await publish_program(client, KEY, "shop", SHOP.read_bytes(), fuel=1, now_ms=1000)
    client.records[record.url] = replace(record, value=programs.program_value("shop", ECHO.read_bytes(), fuel=1))
    with pytest.raises(InvalidSignature):
        await fetch_program(client, record.url)


async def test_fetch_missing_program() -> None:
    with pytest.raises(NotFound):
        await fetch_program(FakeClient(), programs.program_url(KEY.authority, "nope"))


# ---------------------------------------------------------------- a real devnet

@pytest.mark.slow
async def test_publish_and_run_on_a_devnet(tmp_path: Path, records_file: Path) -> None:
    from note_compute.devnet import Devnet

    home = tmp_path / "home"
    env = {**os.environ, "NOTE_HOME": str(home)}
    net = Devnet(tmp_path / "net", 3, node_args=["--stabilize-interval", "0.3"], env=env)
    try:
        await net.start(timeout=60)
        boot: list[str] = []
        for addr in net.bootstrap:
            boot += ["--bootstrap", addr]

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-c", "from note_compute.cli import main; main()", *args],
                capture_output=True,
                text=True,
                env=env,
                timeout=120,
            )

        def cli_ok(*args: str) -> str:
            proc = cli(*args)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            return proc.stdout

        import trio

        authority = (await trio.to_thread.run_sync(cli_ok, "key", "new", "shopkeeper")).split()[-1]
        out = await trio.to_thread.run_sync(
            lambda: cli_ok("program", "publish", str(SHOP), "--key", "shopkeeper", "--name", "shop",
                           "--fuel", "50000000", *boot))
        url = f"note://{authority}/programs/shop"
        assert url in out
        out = await trio.to_thread.run_sync(
            lambda: cli_ok("program", "run", url, "--args", '{"text": "red", "sort": "-price"}',
                           "--records", str(records_file), *boot))
        assert json.loads(out)["indices"] == [0, 1]
        missing = await trio.to_thread.run_sync(
            lambda: cli("program", "run", f"note://{authority}/programs/absent", "--args", "{}", *boot))
        assert missing.returncode != 0 and "not" in (missing.stdout + missing.stderr).lower()
    finally:
        await net.stop()


def test_publish_validates_locally_before_touching_the_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import wasmtime

    monkeypatch.setenv("NOTE_HOME", str(tmp_path))
    runner = CliRunner()
    assert runner.invoke(main, ["key", "new", "k"]).exit_code == 0
    bad = tmp_path / "bad.wasm"
    bad.write_bytes(bytes(wasmtime.wat2wasm('(module (import "env" "f" (func)))')))
    # No devnet.json and no --bootstrap: reaching the network would fail differently.
    res = runner.invoke(main, ["program", "publish", str(bad), "--key", "k", "--name", "bad"])
    assert res.exit_code == 2 and "allows no imports" in res.output
    res = runner.invoke(main, ["program", "publish", str(SHOP), "--key", "k", "--name", "Bad Name"])
    assert res.exit_code != 0 and "bad program name" in res.output
    res = runner.invoke(main, ["program", "publish", str(SHOP), "--key", "missing", "--name", "shop"])
    assert res.exit_code != 0 and isinstance(res.exception, SystemExit)
    res = runner.invoke(main, ["program", "publish", str(SHOP), "--key", "k", "--name", "shop", "--fuel", "0"])
    assert res.exit_code != 0


def test_run_with_a_bad_url_is_a_clean_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTE_HOME", str(tmp_path))
    res = CliRunner().invoke(
        main,
        [
            "program",
            "run",
            "http://example.com/x",
            "--args",
            "{}",
            "--bootstrap",
            "/ip4/127.0.0.1/tcp/1/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N",
        ],
    )
    assert res.exit_code != 0
    assert isinstance(res.exception, SystemExit)  # a handled error, not a crash
    assert "scheme" in res.output
