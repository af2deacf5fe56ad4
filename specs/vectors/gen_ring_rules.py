#!/usr/bin/env python3
"""Generate specs/vectors/ring_rules.json: ring.find answers and lookup outcomes.

Run from the repository root:  python specs/vectors/gen_ring_rules.py [--check]

Two sections (``specs/ring.md``, "ring.find" and "Lookups"):

* ``find``: a responder's state (its id, predecessor and successor lists,
  other known peers), a key and a ``count``, and the exact
  ``ring.find.reply`` lists it sends, including the small rings where
  a peer appears twice in ``successors`` (the asker removes duplicates);
* ``lookups``: scripted lookups. Every peer named in a script answers the
  given ``ring.find.reply`` (or times out); replies are delivered in the
  order the queries were sent; the vector gives the result (the replica
  set, r = 3), whether it came from a proven answer or the fallback, and the
  order in which peers were queried. They pin the claimed-peer fallback rule.

Peers are named; ``peers`` maps names to 32-byte ids (hex) and addresses.
The expected lists were written by hand from the rules in ring.md and are
asserted against ``note_compute.ring`` (``RingCore.find_reply`` and
``Lookup``) before writing. ``--check`` regenerates in memory and exits 1 if
the committed file differs.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from note_compute.ring import messages as m  # noqa: E402
from note_compute.ring.core import JOINED, RingCore  # noqa: E402
from note_compute.ring.ids import PeerRef  # noqa: E402
from note_compute.ring.lookup import Lookup  # noqa: E402
from specs.vectors import vectorgen  # noqa: E402

OUT = Path(__file__).resolve().parent / "ring_rules.json"

# Positions on the ring (small integers: clockwise order is numeric order).
POS = {
    "A": 100, "B": 500, "C": 900,                     # a three-node ring
    "K": 1000,                                         # a key (not a peer)
    "P": 950, "Q": 980,                                # peers preceding the key
    "N": 1010,                                         # a newly joined true successor
    "S1": 1100, "S2": 1200, "S3": 1300, "S4": 1400, "S5": 1500,
    "X": 700, "Y": 800,
}


def peer(name: str) -> PeerRef:
    return PeerRef(POS[name], f"/ip4/127.0.0.1/tcp/{4000 + POS[name] % 1000}/p2p/{name}")


def names(peers: list[Any]) -> list[str]:
    by_id = {POS[n]: n for n in POS}
    return [by_id[int.from_bytes(p["id"], "big") if isinstance(p, dict) else p.id] for p in peers]


# --- ring.find answers --------------------------------------------------------
# (name, me, predecessors nearest first, successors nearest first, other known, key, count,
#  expected successors, expected closer)
FIND_CASES: list[tuple[str, str, list[str], list[str], list[str], int, int, list[str], list[str]]] = [
    ("three-node ring, key between B and C, asked of A: C and A, then B and C again",
     "A", ["C", "B"], ["B", "C"], [], 700, 8, ["C", "A", "B", "C"], []),
    ("three-node ring, count 2 cuts the list before the repeat",
     "A", ["C", "B"], ["B", "C"], [], 700, 2, ["C", "A"], []),
    ("three-node ring, key in A's own arc (C, A]",
     "A", ["C", "B"], ["B", "C"], [], 50, 8, ["A", "B", "C"], []),
    ("three-node ring, key just after A",
     "A", ["C", "B"], ["B", "C"], [], 101, 8, ["B", "C"], []),
    ("two-node ring: the window is [B, A, B]",
     "A", ["B"], ["B"], [], 300, 8, ["B"], []),
    ("key equal to a peer's id belongs to that peer",
     "A", ["C", "B"], ["B", "C"], [], 500, 8, ["B", "C"], []),
    ("key outside the neighbourhood: closer peers on (self, key), closest to the key first",
     "S1", ["Q"], ["S2", "S3"], ["X", "Y", "P"], 1050 + 2**200, 2, [], ["S3", "S2"]),
]


def build_find() -> list[dict[str, Any]]:
    out = []
    for name, me, preds, succs, others, key, count, exp_s, exp_c in FIND_CASES:
        core = RingCore(peer(me), rng=random.Random(0))
        core.state = JOINED
        for o in others:
            core.table.add(peer(o))
        core.table.set_predecessors([peer(p) for p in preds])
        core.table.set_successors([peer(s) for s in succs])
        rep = core.find_reply(key, count)
        got_s, got_c = names(rep["successors"]), names(rep["closer"])
        assert (got_s, got_c) == (exp_s, exp_c), f"{name}: core answers {got_s} / {got_c}"
        m.parse_reply({"op": m.reply_op(m.FIND), **rep}, m.FIND)  # a valid reply, repeats and all
        out.append({
            "name": name, "responder": me, "predecessors": preds, "successors": succs, "other_known": others,
            "key": key.to_bytes(32, "big").hex(), "count": str(count),
            "reply_successors": exp_s, "reply_closer": exp_c,
        })
    return out


# --- lookups --------------------------------------------------------------------
# script: peer -> {"successors": [...], "closer": [...]} or "timeout"
LOOKUP_CASES: list[dict[str, Any]] = [
    {"name": "claim verified: the claimed peer names itself first",
     "seeds": ["P"],
     "script": {"P": {"successors": ["S1", "S2", "S3"], "closer": []},
                "S1": {"successors": ["S1", "S2", "S3"], "closer": []}},
     "result": ["S1", "S2", "S3"], "via": "proven", "queried": ["P", "S1"]},
    {"name": "repeats in a claim and in a proven answer are removed, first occurrence kept",
     "seeds": ["P"],
     "script": {"P": {"successors": ["S1", "S2", "S1", "S2", "S3"], "closer": []},
                "S1": {"successors": ["S1", "S2", "S2", "S1", "S3"], "closer": []}},
     "result": ["S1", "S2", "S3"], "via": "proven", "queried": ["P", "S1"]},
    {"name": "a silent claimed peer is skipped; the next one proves itself",
     "seeds": ["P"],
     "script": {"P": {"successors": ["S1", "S2", "S3", "S4"], "closer": []}, "S1": "timeout",
                "S2": {"successors": ["S2", "S3", "S4"], "closer": []}},
     "result": ["S2", "S3", "S4"], "via": "proven", "queried": ["P", "S1", "S2"]},
    {"name": "fallback: the claimed peer answers without naming itself; nothing better is found",
     "seeds": ["P"],
     "script": {"P": {"successors": ["S1", "S2", "S3"], "closer": []},
                "S1": {"successors": [], "closer": ["Q"]},
                "Q": {"successors": [], "closer": []}},
     "result": ["S1", "S2", "S3"], "via": "fallback", "queried": ["P", "S1", "Q"]},
    {"name": "fallback is dropped when the search goes on to a proven answer",
     "seeds": ["P"],
     "script": {"P": {"successors": ["S1", "S2", "S3"], "closer": []},
                "S1": {"successors": [], "closer": ["Q"]},
                "Q": {"successors": ["N", "S1", "S2"], "closer": []},
                "N": {"successors": ["N", "S1", "S2"], "closer": []}},
     "result": ["N", "S1", "S2"], "via": "proven", "queried": ["P", "S1", "Q", "N"]},
    {"name": "a claimed peer naming a closer successor starts a newer claim (a recent join)",
     "seeds": ["P"],
     "script": {"P": {"successors": ["S1", "S2", "S3"], "closer": []},
                "S1": {"successors": ["N", "S1", "S2"], "closer": []},
                "N": {"successors": ["N", "S1", "S2"], "closer": []}},
     "result": ["N", "S1", "S2"], "via": "proven", "queried": ["P", "S1", "N"]},
    {"name": "only the first fallback counts",
     "seeds": ["P"],
     "script": {"P": {"successors": ["S1", "S2", "S3"], "closer": []},
                "S1": {"successors": [], "closer": ["Y"]},
                "Y": {"successors": ["S2", "S3", "S4"], "closer": []},
                "S2": {"successors": [], "closer": []}},
     "result": ["S1", "S2", "S3"], "via": "fallback", "queried": ["P", "S1", "Y", "S2"]},
    {"name": "the fallback drops peers that failed later in the lookup",
     "seeds": ["P"],
     "script": {"P": {"successors": ["S1", "S2", "S3", "S4"], "closer": []},
                "S1": {"successors": [], "closer": ["Q", "S2"]},
                "Q": "timeout", "S2": "timeout"},
     "result": ["S1", "S3", "S4"], "via": "fallback", "queried": ["P", "S1", "Q", "S2"]},
    {"name": "a claimed peer that already answered (without naming itself) becomes the fallback without a query",
     "seeds": ["P", "S1"],
     "script": {"P": {"successors": [], "closer": ["Q"]},
                "S1": {"successors": [], "closer": []},
                "Q": {"successors": ["S1", "S2", "S3"], "closer": []}},
     "result": ["S1", "S2", "S3"], "via": "fallback", "queried": ["P", "S1", "Q"]},
    {"name": "a claimed peer whose query is in flight is verified by that answer",
     "seeds": ["Q", "S1"],
     "script": {"Q": {"successors": ["S1", "S2", "S3"], "closer": []},
                "S1": {"successors": ["S1", "S2", "S3"], "closer": []}},
     "result": ["S1", "S2", "S3"], "via": "proven", "queried": ["Q", "S1"]},
    {"name": "every peer silent: the lookup fails (exhausted)",
     "seeds": ["P", "Q"],
     "script": {"P": "timeout", "Q": "timeout"},
     "result": [], "via": "exhausted", "queried": ["Q", "P"]},
]


def run_lookup(case: dict[str, Any]) -> tuple[list[str], str, list[str]]:
    target = POS["K"]
    lk = Lookup(target, [peer(s) for s in case["seeds"]], anonymous=True, replicas=3, count=8)
    queue = list(lk.start(0.0))
    queried: list[str] = []
    via = "exhausted"
    while queue and not lk.done:
        send = queue.pop(0)
        name = names([send.peer])[0]
        queried.append(name)
        assert send.msg == m.find(None, target, 8)
        answer = case["script"].get(name, "timeout")
        proves = False
        if answer == "timeout":
            queue += lk.on_timeout(send.peer, 0.0)
        else:
            failed = set(lk.failed_peers())
            live = [p for p in answer["successors"] if POS[p] not in failed]
            proves = bool(live) and live[0] == name
            reply = {"op": "ring.find.reply",
                     "successors": [peer(p).to_wire() for p in answer["successors"]],
                     "closer": [peer(p).to_wire() for p in answer["closer"]]}
            queue += lk.on_reply(send.peer, reply, 0.0)
        if lk.done:
            via = "exhausted" if not lk.result else "proven" if proves else "fallback"
    return names(list(lk.result)), via, queried


def build_lookups() -> list[dict[str, Any]]:
    out = []
    for case in LOOKUP_CASES:
        result, via, queried = run_lookup(case)
        assert (result, via, queried) == (case["result"], case["via"], case["queried"]), (
            f"{case['name']}: Lookup gives {result} via {via}, queried {queried}")
        out.append(case)
    return out


def build() -> dict[str, Any]:
    return {
        "_provenance": {
            "generator": "specs/vectors/gen_ring_rules.py",
            "command": "python specs/vectors/gen_ring_rules.py",
            "spec": "specs/ring.md ('ring.find', 'Lookups')",
            "independent_checks": "expected lists written by hand from the rules in ring.md; asserted against "
            "note_compute.ring (RingCore.find_reply, Lookup) before writing",
            "conventions": "replicas r = 3, lookup count 8, alpha 3; replies delivered in the order queries were "
            "sent; a peer absent from a script times out; 'key' is 32 bytes hex; integers are decimal strings",
        },
        "peers": {n: {"id": p.to_bytes(32, "big").hex(), "addr": peer(n).addr} for n, p in POS.items() if n != "K"},
        "lookup_key": POS["K"].to_bytes(32, "big").hex(),
        "find": build_find(),
        "lookups": build_lookups(),
    }


def render() -> str:
    return vectorgen.json_text(build())


if __name__ == "__main__":
    sys.exit(vectorgen.run(OUT, render))
