"""`note-compute dating card|site|swipe|matches|profile` for two users against a real devnet."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trio
from click.testing import CliRunner

from note_compute.cli import main as cli_main

pytestmark = pytest.mark.slow


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
        profile = json.loads(run("dating", "profile", "--key", "ann", "bo"))
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
