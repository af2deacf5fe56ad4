# ruff: noqa: F811  (pytest fixtures imported from test_cli_mistakes)
"""Conventions every command keeps (issue 11, Build 4 and 5), checked against the real CLI.

``--json`` wherever a command prints data and ``-q`` wherever it prints a URL
or an address; exit codes by kind (3 not found, 4 network unavailable, 1
verification failed or fraud, 2 a usage mistake such as a URL of the wrong
kind or another authority's key); no internal reason tags in human output;
a live status line on a terminal while a query waits on a frozen peer, and
nothing at all on stderr when stderr is not a terminal; a reader closing the
pipe early is not "verification failed".

Network commands run over the in-memory compute network of
``test_cli_mistakes`` (its fixtures: the shipped contract and sample catalog).
"""

from __future__ import annotations

import io
import json
import re
import sys
import threading
from pathlib import Path
from typing import Any

import click
import pytest
import trio
from click.testing import CliRunner
from test_cli_mistakes import authority, nc, net, products, shop  # noqa: F401  (fixtures)

from note_compute import keystore
from note_compute.cli import main
from note_compute.cli._common import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, fail
from note_compute.compute.progress import peer_label
from note_compute.errors import NoteError, NotFound, Timeout, no_replica
from note_compute.testing.compute import ComputeNetwork

# -- every command: --json where it prints data, -q where it prints a URL or an address ---------------------------

# Commands that need no --json, each with why. Nothing else is exempt.
EXEMPT = {
    "node": "a server: runs until Ctrl-C and prints where it listens, not data",
    "gateway": "a server: runs until Ctrl-C and prints where it listens, not data",
    "shop orders serve": "the shop's order processor: runs until Ctrl-C and prints a log of orders as they come",
    "shop demo": "an interactive demo: a scripted narrative on an embedded network, not data",
    "dating demo": "an interactive demo: a scripted narrative on an embedded network, not data",
}
PRINTS_AN_ADDRESS = {"key new", "key show", "put", "program publish", "program check", "dataset publish",
                     "site publish", "devnet", "devnet status",
                     "shop publish", "shop cart add", "shop cart remove", "shop cart show", "shop checkout",
                     "dating card", "dating site", "dating profile"}
APPS = {"shop", "dating"}  # the entry-point command groups this repository ships (pyproject.toml)


def _commands() -> list[tuple[str, click.Command]]:
    """Every command, core and apps: the apps' groups are loaded here, through the entry points as the CLI
    loads them, so the result does not depend on which tests ran before (and loaded them into ``main``)."""
    out: list[tuple[str, click.Command]] = []

    def walk(cmd: click.Command, path: str) -> None:
        if isinstance(cmd, click.Group):
            if cmd.invoke_without_command:  # `devnet` itself runs the network
                out.append((path, cmd))
            for name, sub in cmd.commands.items():
                walk(sub, f"{path} {name}".strip())
        else:
            out.append((path, cmd))

    ctx = click.Context(main)
    names = main.list_commands(ctx)  # built-in names and every entry point's
    assert APPS <= set(names), names
    for name in names:
        cmd = main.get_command(ctx, name)
        assert cmd is not None and "unavailable" not in (cmd.short_help or ""), f"{name}: {cmd and cmd.help}"
        walk(cmd, name)
    return out


def _flags(cmd: click.Command) -> set[str]:
    return {o for p in cmd.params if isinstance(p, click.Option) for o in p.opts}


def test_every_command_has_json_and_quiet_where_it_prints_an_address() -> None:
    commands = dict(_commands())
    assert {"query", "get", "ring status", "dataset export", "program show", "devnet stop", "key list",
            "shop search", "shop cart add", "shop orders replies", "dating swipe", "dating profile"} <= set(commands)
    assert set(EXEMPT) <= set(commands)  # an exemption names a real command
    no_json = sorted(path for path, cmd in commands.items() if path not in EXEMPT and "--json" not in _flags(cmd))
    assert no_json == []
    no_quiet = sorted(path for path in PRINTS_AN_ADDRESS if "-q" not in _flags(commands[path]))
    assert no_quiet == []


def test_key_show_quiet_is_what_it_prints(net: ComputeNetwork) -> None:
    assert nc("key", "show", "shop", "-q").output.strip() == authority()
    assert nc("key", "show", "shop", "--url", "x", "-q").output.strip() == f"note://{authority()}/x"


def test_program_check_json_and_quiet() -> None:
    wasm = Path(__file__).resolve().parents[1] / "contracts" / "shop_search.wasm"
    j = json.loads(nc("program", "check", str(wasm), "--json").output)
    assert j["ok"] and j["abi"] == 1 and len(j["sha256"]) == 64
    assert nc("program", "check", str(wasm), "-q").output.strip() == j["sha256"]


def test_export_json_and_a_failed_export_leaves_no_file(shop: tuple[str, str], tmp_path: Path) -> None:
    j = json.loads(nc("dataset", "export", shop[1], "--json").output)
    assert j["url"] == shop[1] and j["count"] == 300 and len(j["records"]) == 300
    assert sorted(p["id"] for p in j["records"]) == sorted(p["id"] for p in products())
    out = tmp_path / "copy.jsonl"
    j = json.loads(nc("dataset", "export", shop[1], "-o", str(out), "--json").output)
    assert j["output"] == str(out) and "records" not in j and len(out.read_text().splitlines()) == 300
    missing = tmp_path / "missing.jsonl"
    r = nc("dataset", "export", f"note://{authority()}/datasets/nope", "-o", str(missing))
    assert r.exit_code == 3 and not missing.exists() and not list(tmp_path.glob("missing*"))


def test_devnet_json_and_quiet_when_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTE_HOME", str(tmp_path))
    r = nc("devnet", "status", "-q")
    assert r.exit_code == 3 and r.stdout == "" and "the local network is down" in r.stderr
    r = nc("devnet", "stop", "--json")
    assert r.exit_code == 3 and json.loads(r.stdout)["error"]["exit_code"] == 3
    r = nc("devnet", "--json")  # the foreground network prints its log: --json goes with -d
    assert r.exit_code == 2 and "--json and -q go with -d" in r.output


# -- exit codes and messages by kind ---------------------------------------------------------------------------

def test_not_found_message_has_no_internal_tags_but_json_keeps_them() -> None:
    url = "note://" + "a" * 52 + "/nope"
    same: list[NoteError] = [NotFound("no entry at 9a5bb9a7f78d2168...", reason="no-entry")] * 3
    err = fail(no_replica(f"no replica holds {url}", same))
    assert err.exit_code == 3
    assert err.message == f"no replica holds {url} (nothing is published at that URL, or not yet)"
    assert "[no-entry]" in err.detail and err.reason == "no-replica"
    # Mixed answers keep what differs (a replica that timed out), without tags.
    err = fail(no_replica(f"no replica holds {url}", [same[0], Timeout("peer did not answer", reason="timeout")]))
    assert "timeout: peer did not answer" in err.message and "[" not in err.message.replace("[lo", "")


def test_not_found_through_the_cli_is_one_clean_line(net: ComputeNetwork, monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    url = f"note://{authority()}/nope"

    async def no_replica_holds(u: str) -> Any:  # what the ring client raises when every replica says "none"
        raise no_replica(f"no replica holds {u}", [NotFound("no entry at 9a5b...", reason="no-entry")] * 3)

    monkeypatch.setattr(net, "get_record", no_replica_holds)
    for args in (["get", url], ["dataset", "show", url], ["program", "show", url]):
        r = nc(*args)
        assert r.exit_code == 3, r.output
        assert r.stderr == f"Error: no replica holds {url} (nothing is published at that URL, or not yet)\n"
    j = json.loads(nc("get", url, "--json").stdout)["error"]
    assert j["exit_code"] == 3 and j["reason"] == "no-replica" and "[no-entry]" in j["detail"]


def test_a_url_of_the_wrong_kind_is_a_usage_error(net: ComputeNetwork, shop: tuple[str, str]) -> None:
    program, dataset = shop
    before = net.requests
    r = nc("dataset", "show", program)
    assert r.exit_code == 2
    assert f"{program} holds a program, not a dataset; see `note-compute program show URL`" in r.output
    r = nc("program", "show", dataset)
    assert r.exit_code == 2 and f"{dataset} holds a dataset, not a program" in r.output
    assert nc("query", dataset, dataset).exit_code == 2
    r = nc("query", program, program)
    assert r.exit_code == 2 and "holds a program, not a dataset" in r.output
    assert nc("dataset", "export", program).exit_code == 2
    assert net.requests == before  # nothing was asked of a compute peer


def test_put_under_another_authority_is_a_usage_error(net: ComputeNetwork, tmp_path: Path) -> None:
    keystore.create_key("other")
    f = tmp_path / "v.txt"
    f.write_text("x")
    r = nc("put", f"note://{authority()}/v", str(f), "--key", "other")
    assert r.exit_code == 2
    assert "a key can only publish under its own authority" in r.output
    assert not any(u.endswith("/v") for u in net.records)


def test_fraud_and_failed_verification_exit_1(net: ComputeNetwork, shop: tuple[str, str]) -> None:
    for peer in net.peers:
        net.set_mode(peer, "hide_all")  # every replica signs an empty answer for a range that has matches
    r = nc("query", *shop, "--range", "[[1000], [2500]]", "--replicas", "2")
    assert r.exit_code == 1, r.output
    assert "fraud found: " in r.output and "fraud found: none" not in r.output
    print(r.output)
    # Asked again: the convicted peers are skipped (their fraud proofs are in the ring), none is left: still 1.
    r = nc("query", *shop, "--range", "[[1000], [2500]]", "--json")
    assert r.exit_code == 1 and not json.loads(r.stdout)["verification"]["ok"]


def test_no_peer_answering_is_network_unavailable(net: ComputeNetwork, shop: tuple[str, str]) -> None:
    for peer in net.peers:
        net.set_mode(peer, "timeout")  # frozen peers: they never answer
    r = nc("query", *shop, "--range", "[[1000], [2500]]", "--timeout", "0.05")
    assert r.exit_code == 4, r.output
    assert r.stderr.startswith("Error: no peer answered for shard(s) 0, 1, 2 within --timeout 0.05 s")
    assert r.stdout == ""  # one line, not a table claiming anything
    r = nc("query", *shop, "--range", "[[1000], [2500]]", "--timeout", "0.05", "--json")
    j = json.loads(r.stdout)  # one JSON document: the verification and the error together
    assert r.exit_code == 4 and j["error"]["exit_code"] == 4 and not j["verification"]["ok"]


def test_third_party_log_lines_only_with_verbose(net: ComputeNetwork, shop: tuple[str, str]) -> None:
    """A library logging from inside the work (as py-libp2p does on a failed dial): no record gets out
    (so no line on stderr) unless -v; the CLI leaves logging as it found it afterwards."""
    import logging

    seen: list[str] = []

    class Count(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    logger = logging.getLogger("libp2p.transport.tcp")
    handler = Count()
    logger.addHandler(handler)
    honest = net.request

    async def noisy(peer: Any, msg: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        logger.warning("Failed to open TCP stream: connection refused")
        return await honest(peer, msg, timeout)

    net.request = noisy  # type: ignore[method-assign]
    try:
        for args in (["query", *shop, "--args", '{"text": "lamp"}'], ["dataset", "export", shop[1]]):
            r = nc(*args)
            assert r.exit_code == 0 and "Failed to open TCP stream" not in r.stderr, r.stderr
        assert seen == []
        r = nc("-v", "query", *shop, "--args", '{"text": "lamp"}')
        assert r.exit_code == 0 and "Failed to open TCP stream: connection refused" in seen
        seen.clear()
        logger.warning("after the command")  # logging is back as it was
        assert seen == ["after the command"]
    finally:
        logger.removeHandler(handler)


# -- a reader closing the pipe ---------------------------------------------------------------------------------

class _ClosedPipe(io.TextIOBase):
    def write(self, s: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def writable(self) -> bool:
        return True


def test_a_closed_pipe_is_exit_141_not_verification_failed(shop: tuple[str, str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    for args in (["dataset", "export", shop[1]], ["dataset", "show", shop[1]], ["query", *shop]):
        with pytest.raises(SystemExit) as ei:
            main.main(args=args, prog_name="note-compute")
        assert ei.value.code == EXIT_BROKEN_PIPE == 141, args


def test_ctrl_c_is_exit_130_not_verification_failed(net: ComputeNetwork, shop: tuple[str, str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    async def interrupted(peer: Any, msg: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        raise KeyboardInterrupt

    net.request = interrupted  # type: ignore[method-assign]
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    monkeypatch.setattr(sys, "stderr", err := io.StringIO())
    with pytest.raises(SystemExit) as ei:
        main.main(args=["query", *shop], prog_name="note-compute")
    assert ei.value.code == EXIT_INTERRUPTED == 130
    assert err.getvalue().strip() == "Interrupted."


# -- feedback on long work: a live status line on a terminal, silence otherwise ----------------------------------

class _Terminal(io.TextIOBase):
    """stderr as a terminal: records what is written; ``seen`` is set once ``want`` has appeared
    (a string, or a predicate over everything written so far)."""

    def __init__(self, want: str | Any) -> None:
        self.want, self.seen, self.lock = want, threading.Event(), threading.Lock()
        self.chunks: list[str] = []

    def isatty(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        with self.lock:
            self.chunks.append(s)
            shown = "".join(self.chunks)
            if (self.want in shown) if isinstance(self.want, str) else self.want(shown):
                self.seen.set()
        return len(s)

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"


def _freeze(net: ComputeNetwork, peers: list[Any] | None = None) -> tuple[threading.Event, threading.Event]:
    """Every compute request waits until ``release`` is set (``asked`` tells that one arrived; each peer
    asked is appended to ``peers``)."""
    asked, release = threading.Event(), threading.Event()
    honest = net.request

    async def frozen(peer: Any, msg: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        if str(msg.get("op", "")).startswith("compute."):
            if peers is not None:
                peers.append(peer)
            asked.set()
            await trio.to_thread.run_sync(release.wait)
        return await honest(peer, msg, timeout)

    net.request = frozen  # type: ignore[method-assign]
    return asked, release


def test_a_query_waiting_on_a_frozen_peer_shows_a_live_status_line(net: ComputeNetwork, shop: tuple[str, str],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    frozen: list[Any] = []
    asked, release = _freeze(net, frozen)
    # The line names the shard and the peer it waits on, and the wait grows while the peer stays frozen.
    line = re.compile(r"0 of 3 shards verified; waiting on shard ([0-2]) from ([0-9a-f]{16}) \((\d+\.\d) s, "
                      r"replaced at 5 s\)")
    term = _Terminal(want=lambda shown: len({m[2] for m in line.findall(shown)}) >= 2)
    out = io.StringIO()
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("COLUMNS", "120")
    for forced in ("TTY_COMPATIBLE", "TTY_INTERACTIVE", "FORCE_COLOR"):  # rich reads these before isatty()
        monkeypatch.delenv(forced, raising=False)
    monkeypatch.setattr(sys, "stderr", term)
    monkeypatch.setattr(sys, "stdout", out)
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            main.main(args=["query", *shop, "--args", '{"text": "lamp"}'], prog_name="note-compute")
        except SystemExit as exc:
            result["code"] = exc.code

    worker = threading.Thread(target=run)
    worker.start()
    try:
        assert asked.wait(60) and term.seen.wait(60), "".join(term.chunks)[-500:]
        assert worker.is_alive()  # the line is up while the peer is still frozen, not after the answer
        waits = line.findall("".join(term.chunks))  # what the line said while every peer was frozen
    finally:
        release.set()
        worker.join(60)
    assert result["code"] == 0
    assert "verified" in out.getvalue()
    shown = "".join(term.chunks)
    assert "fetching the program and the dataset manifest" in shown  # from the start, before any peer answers
    assert "querying 3 shard(s) of products (300 records)" in shown
    assert "0:00:0" in shown  # the elapsed-time column of the live line
    assert {peer for _, peer, _ in waits} <= {peer_label(p) for p in frozen}  # a peer actually asked
    waited = [float(s) for _, _, s in waits]
    assert waited == sorted(waited) and 1.0 <= waited[0] < waited[-1]  # after a second, then growing


def test_no_status_line_when_stderr_is_not_a_terminal(net: ComputeNetwork, shop: tuple[str, str]) -> None:
    asked, release = _freeze(net)
    release.set()  # the same frozen path, released at once
    for args in (["query", *shop, "--args", '{"text": "lamp"}'], ["dataset", "export", shop[1]], ["get", shop[0]]):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 0, r.output
        assert r.stderr.replace("exported 300 verified records\n", "") == "", r.stderr
    assert asked.is_set()


def _copy_to(net: ComputeNetwork, src: str, path: str) -> str:
    """Re-sign the record at ``src`` (same value, same key) at ``path`` of the same authority; its URL."""
    import time

    from note_compute import urls
    from note_compute.records import sign_record

    record = net.records[urls.normalize(src)][-1]
    url = urls.make_url(authority(), path)
    copy = sign_record(keystore.load_key("shop"), url, seq=1, value=record.value,
                       created=int(time.time()))
    trio.run(net.put_record, copy)
    return url


def test_a_record_outside_its_kinds_folder_is_a_usage_error(net: ComputeNetwork, shop: tuple[str, str]) -> None:
    program, dataset = shop
    stray_dataset = _copy_to(net, dataset, "/shop/products")  # a true manifest, signed, in the wrong place
    stray_program = _copy_to(net, program, "/shop/search")
    before = net.requests
    for args in (["dataset", "show", stray_dataset], ["dataset", "export", stray_dataset],
                 ["query", program, stray_dataset]):
        r = nc(*args)
        assert r.exit_code == 2, (args, r.output)
        assert (f"{stray_dataset} holds a dataset manifest outside /datasets/; a dataset is read only at "
                f"note://{authority()}/datasets/NAME") in r.output, r.output
    for args in (["program", "show", stray_program], ["query", stray_program, dataset]):
        r = nc(*args)
        assert r.exit_code == 2, (args, r.output)
        assert (f"{stray_program} holds a program outside /programs/; a program is read only at "
                f"note://{authority()}/programs/NAME") in r.output, r.output
    assert net.requests == before  # nothing was asked of a compute peer
