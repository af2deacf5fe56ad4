"""specs/vectors/ring_rules.json: ring.find answers (repeats in small rings) and lookup outcomes (fallback rule)."""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path
from typing import Any

import pytest

from note_compute.ring import messages as m
from note_compute.ring.core import JOINED, RingCore
from note_compute.ring.ids import PeerRef
from note_compute.ring.lookup import Lookup

VECTORS_DIR = Path(__file__).resolve().parents[1] / "specs" / "vectors"
DOC = json.loads((VECTORS_DIR / "ring_rules.json").read_text())
PEERS = {n: PeerRef(int(p["id"], 16), p["addr"]) for n, p in DOC["peers"].items()}
NAMES = {p.id: n for n, p in PEERS.items()}
KEY = int(DOC["lookup_key"], 16)


def _names(wire: list[dict[str, Any]]) -> list[str]:
    return [NAMES[int.from_bytes(p["id"], "big")] for p in wire]


@pytest.mark.parametrize("vec", DOC["find"], ids=lambda v: v["name"][:50])
def test_find_vector(vec: dict[str, Any]) -> None:
    core = RingCore(PEERS[vec["responder"]], rng=random.Random(0))
    core.state = JOINED
    for o in vec["other_known"]:
        core.table.add(PEERS[o])
    core.table.set_predecessors([PEERS[p] for p in vec["predecessors"]])
    core.table.set_successors([PEERS[s] for s in vec["successors"]])
    # Through the request handler, as a peer would ask (anonymous ring.find).
    req = m.find(None, int(vec["key"], 16), int(vec["count"]))
    rep = core.handle_request(PEERS["X"] if vec["responder"] != "X" else PEERS["Y"], req, 0.0)
    m.parse_reply(rep, m.FIND)
    assert _names(rep["successors"]) == vec["reply_successors"]
    assert _names(rep["closer"]) == vec["reply_closer"]


def test_small_ring_answers_repeat_peers() -> None:
    assert any(len(set(v["reply_successors"])) < len(v["reply_successors"]) for v in DOC["find"])


def _run(vec: dict[str, Any]) -> tuple[list[str], str, list[str]]:
    lk = Lookup(KEY, [PEERS[s] for s in vec["seeds"]], anonymous=True, replicas=3, count=8)
    queue = list(lk.start(0.0))
    queried: list[str] = []
    via = "exhausted"
    while queue and not lk.done:
        send = queue.pop(0)
        name = NAMES[send.peer.id]
        queried.append(name)
        assert send.msg == {"op": "ring.find", "key": KEY.to_bytes(32, "big"), "count": 8}
        answer = vec["script"].get(name, "timeout")
        proves = False
        if answer == "timeout":
            queue += lk.on_timeout(send.peer, 0.0)
        else:
            failed = set(lk.failed_peers())
            live = [p for p in answer["successors"] if PEERS[p].id not in failed]
            proves = bool(live) and live[0] == name
            reply = {"op": "ring.find.reply", "successors": [PEERS[p].to_wire() for p in answer["successors"]],
                     "closer": [PEERS[p].to_wire() for p in answer["closer"]]}
            queue += lk.on_reply(send.peer, reply, 0.0)
        if lk.done:
            via = "exhausted" if not lk.result else "proven" if proves else "fallback"
    assert lk.done
    return [NAMES[p.id] for p in lk.result], via, queried


@pytest.mark.parametrize("vec", DOC["lookups"], ids=lambda v: v["name"][:50])
def test_lookup_vector(vec: dict[str, Any]) -> None:
    assert _run(vec) == (vec["result"], vec["via"], vec["queried"])


def test_lookup_vectors_cover_the_fallback_rule() -> None:
    vias = [v["via"] for v in DOC["lookups"]]
    assert vias.count("fallback") >= 4 and "proven" in vias and "exhausted" in vias


def test_generator_reproduces_the_committed_file() -> None:
    spec = importlib.util.spec_from_file_location("gen_ring_rules", VECTORS_DIR / "gen_ring_rules.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.render() == (VECTORS_DIR / "ring_rules.json").read_text()
