"""`note-compute dating card|site|swipe|matches|profile` for two users against a real devnet."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import trio
from click.testing import CliRunner

from note_compute.cli import main as cli_main


@pytest.mark.slow
def test_two_users_match_through_the_cli_on_a_devnet(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "NOTE_HOME": str(home)}
    exe = str(Path(sys.executable).with_name("note-compute"))
    proc = subprocess.Popen([exe, "devnet", "--nodes", "4", "--dir", str(tmp_path / "nodes")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while not (home / "devnet.json").exists():
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "devnet did not become stable"
            time.sleep(0.2)
        runner = CliRunner()
        cenv = {"NOTE_HOME": str(home)}

        def run(*argv: str) -> str:
            res = runner.invoke(cli_main, list(argv), env=cenv)
            assert res.exit_code == 0, (argv, res.output, res.exception)
            return res.output

        auth = {n: run("key", "new", n).strip().splitlines()[-1] for n in ("ann", "bo", "cy", "site")}
        run("dating", "card", "--key", "ann", "--pseudonym", "ann", "--age", "30", "--region", "north",
            "--interests", "chess,jazz", "--bio", "ann's secret bio")
        run("dating", "card", "--key", "bo", "--pseudonym", "bo", "--age", "32", "--region", "north",
            "--interests", "jazz", "--bio", "bo's secret bio")
        card = json.loads(run("dating", "card", "--key", "cy", "--pseudonym", "cy", "--age", "31", "--region",
                              "north", "--interests", "chess", "--json"))
        assert card["url"] == f"note://{auth['cy']}/dating/card" and len(card["profile_blob"]) == 64
        assert run("dating", "site", "--key", "site", auth["ann"], auth["bo"], auth["cy"], "-q").strip() == auth["site"]
        site = ["--site", auth["site"]]
        deck = json.loads(run("dating", "swipe", "--key", "ann", *site, "--age", "25-35", "--json"))["deck"]
        assert sorted(c["pseudonym"] for c in deck) == ["bo", "cy"] and not any(c["liked"] for c in deck)
        run("dating", "swipe", "--key", "ann", *site, "bo", "--like")
        run("dating", "swipe", "--key", "ann", *site, "cy", "--like")         # one-sided
        run("dating", "swipe", "--key", "bo", *site, "--age", "25-35", "ann", "--like")
        run("dating", "swipe", "--key", "cy", *site, "--age", "25-35")       # cy passes on ann
        first = run("dating", "matches", "--key", "ann", *site, "--epoch", "1")
        assert "0 match(es)" in first and "pending" in first                # nobody else has published yet
        run("dating", "matches", "--key", "bo", *site, "--epoch", "1")
        run("dating", "matches", "--key", "cy", *site, "--epoch", "1")
        out_ann = run("dating", "matches", "--key", "ann", *site, "--epoch", "1")
        out_bo = json.loads(run("dating", "matches", "--key", "bo", *site, "--epoch", "1", "--json"))
        out_cy = json.loads(run("dating", "matches", "--key", "cy", *site, "--epoch", "1", "--json"))
        assert "match: bo" in out_ann and "match: cy" not in out_ann
        assert [(m["pseudonym"], m["authority"]) for m in out_bo["matches"]] == [("ann", auth["ann"])]
        assert out_cy["matches"] == [] and out_cy["no_match"] == 1 and out_cy["pending"] == 0
        run("dating", "matches", "--key", "ann", *site, "--epoch", "1")      # re-running is harmless
        profile = json.loads(run("dating", "profile", "--key", "ann", "bo", "--json"))["profile"]
        assert profile["bio"] == "bo's secret bio"
        res = runner.invoke(cli_main, ["dating", "profile", "--key", "cy", "ann"], env=cenv)
        assert res.exit_code != 0 and "not one of your matches" in res.output
        state = json.loads((home / "dating" / "ann.json").read_text())
        assert oct((home / "dating" / "ann.json").stat().st_mode & 0o777) == "0o600" and state["likes"]

        # A lying node joins this devnet; it is made the first replica of the sets it is asked about,
        # lies (hides a match, then invents one), is convicted, blocked, and the ring keeps the proof.
        trio.run(_liar_on_the_devnet, home)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _liar_on_the_devnet(home: Path) -> None:
    from examples.dating.demo import ring_liar_round
    from note_compute import localnet
    from note_compute.client import PeerRef, open_client
    from note_compute.sandbox import Sandbox

    state = localnet.read_state(home)
    assert state is not None
    peers = [PeerRef(int(n["node_id"], 16), n["addrs"][0]) for n in state["nodes"]]
    boot = [n["addrs"][0] for n in state["nodes"]]
    with Sandbox() as sandbox:
        async with open_client(boot, timeout=5.0) as client:
            result = await ring_liar_round(boot, peers, client, sandbox)
    for lie in ("drop", "invent"):
        r = result[lie]
        assert r["correct"] and r["frauds"] >= 1 and r["blocked"] and r["convicted"], (lie, r)
        assert r["stored"] >= 1, (lie, r)  # the ring's nodes checked the proof and keep it against the liar


# -- --json and -q on the in-memory network (issue 11): one JSON document on stdout, errors included -----------

@pytest.fixture
def memnet(sandbox: Any, cli_network: Any) -> Any:
    """The in-memory compute network as every command's ``open_client``; keys ann, bo and site."""
    from note_compute import keystore
    from note_compute.testing.compute import ComputeNetwork

    net = ComputeNetwork(6, sandbox)
    home = cli_network(net)
    for name in ("ann", "bo", "site"):
        keystore.create_key(name, home=home)
    return net


def _nc(*args: str) -> Any:
    res = CliRunner().invoke(cli_main, list(args))
    assert "Traceback" not in res.output and (res.exception is None or isinstance(res.exception, SystemExit)), \
        res.output
    return res


def _doc(*args: str) -> Any:
    res = _nc(*args, "--json")
    assert res.exit_code == 0, (args, res.output)
    return json.loads(res.stdout)  # the whole of stdout is the one document


def test_dating_commands_print_one_json_document_and_q_the_address(memnet: Any) -> None:
    from note_compute import keystore

    auth = {n: keystore.load_key(n).authority for n in ("ann", "bo", "site")}
    for name, age, interests in (("ann", "30", "chess,jazz"), ("bo", "32", "jazz")):
        card = _doc("dating", "card", "--key", name, "--pseudonym", name, "--age", age, "--region", "north",
                    "--interests", interests, "--bio", f"{name}'s secret bio")
        assert card["url"] == f"note://{auth[name]}/dating/card" and card["authority"] == auth[name]
    res = _nc("dating", "site", "--key", "site", auth["ann"], auth["bo"], "-q")
    assert res.exit_code == 0 and res.stdout == auth["site"] + "\n", res.output
    site = ["--site", auth["site"]]
    deck = _doc("dating", "swipe", "--key", "ann", *site, "--age", "25-35", "bo", "--like")["deck"]
    assert [(c["pseudonym"], c["liked"]) for c in deck] == [("bo", True)]
    _doc("dating", "swipe", "--key", "bo", *site, "--age", "25-35", "ann", "--like")
    for _ in range(2):  # each side blinds, then doubles the other's round, then finds the match
        for name in ("ann", "bo"):
            out = _doc("dating", "matches", "--key", name, *site, "--epoch", "1")
    assert [m["pseudonym"] for m in out["matches"]] == ["ann"] and out["liars_caught"] == []
    _doc("dating", "matches", "--key", "ann", *site, "--epoch", "1")  # ann shares her profile with bo
    prof = _doc("dating", "profile", "--key", "bo", "ann")
    assert prof["url"] == f"note://{auth['ann']}/dating/card" and prof["profile"]["bio"] == "ann's secret bio"
    res = _nc("dating", "profile", "--key", "bo", "ann", "-q")
    assert res.exit_code == 0 and res.stdout == prof["url"] + "\n"
    res = _nc("dating", "profile", "--key", "bo", "ann")
    assert res.exit_code == 0 and "bio: ann's secret bio" in res.stdout

    # Errors: the CLI's standard JSON error document, with the exit code of their kind.
    for args, code, reason in ((["profile", "--key", "ann", "cy"], 3, "not-a-match"),
                               (["swipe", "--key", "ann", *site, "cy"], 3, "not-in-deck"),
                               (["swipe", "--key", "site", *site], 3, "no-card"),
                               (["swipe", "--key", "ann", *site, "--age", "old"], 2, None),
                               (["card", "--key", "ann", "--pseudonym", "a b", "--age", "30", "--region", "n",
                                 "--interests", "a"], 2, None),
                               (["card", "--key", "nobody", "--pseudonym", "x", "--age", "30", "--region", "n",
                                 "--interests", "a"], 3, "missing")):
        res = _nc("dating", *args, "--json")
        err = json.loads(res.stdout)["error"]
        assert (res.exit_code, err["exit_code"]) == (code, code), (args, res.output)
        assert reason is None or err["reason"] == reason, (args, err)
        assert res.stderr.startswith("Error: "), res.stderr
