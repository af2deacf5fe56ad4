"""Lying matching peers for the demo and the tests: in-memory peers, or a real node on a local network.

``drop``: hide a match - the peer runs psi_match, leaves the matching index
out and signs the smaller output (the network's ``hide_one`` mode).
``invent``: fabricate a match - for a value that is *not* in the set, the
peer claims the record ``{"v": value}`` sits in the range, carries it in its
key-range proof and signs that output.

Either way the client's key-range proof check fails (a leaf that is not in
the owner's Merkle tree) or its re-run of psi_match on the proven range
disagrees with the signed output: the peer is convicted with a fraud proof
and the query goes to another replica.

On a real local network the same lies are told by a node process,
:mod:`note_compute.testing.lying_node` started with
``lies="examples.dating.liar:set_lie"``: it calls :func:`set_lie` on its
ComputePeer with the lie named in its data directory.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from note_compute import domains, encoding
from note_compute.compute.protocol import QueryRequest, Receipt, result_digest
from note_compute.merkle import KeyRangeProof

__all__ = ["LIES", "LIES_SPEC", "make_liar", "set_lie"]

LIES = ("drop", "invent")
LIES_SPEC = "examples.dating.liar:set_lie"
"""What a :mod:`note_compute.testing.lying_node` process is given (``--lies``) to tell these lies."""


def make_liar(net: Any, peer: Any, lie: str) -> None:
    """Make ``peer`` (of a ComputeNetwork ``net``, or a :func:`lying_node`'s with ``net=None``) tell ``lie``
    on every PSI range query."""
    if lie == "drop":
        if net is None:
            peer.mode = "hide_one"
        else:
            net.set_mode(peer, "hide_one")
        return
    if lie != "invent":
        raise ValueError(f"unknown lie {lie!r}")
    peer.mode = "forge"  # only so that a liars-first network asks it first; ``handle`` below is the lie

    async def handle(msg: dict[str, Any]) -> dict[str, Any]:
        peer.calls += 1
        if msg.get("op") == "compute.batch" and isinstance(msg.get("queries"), list):
            return {"replies": [await handle(q) for q in msg["queries"]]}
        reply: dict[str, Any] = await peer.server.handle(None, msg)
        if msg.get("op") != "compute.query" or msg.get("range") is None or "error" in reply or reply.get("indices"):
            return reply
        return _invent(peer, QueryRequest.from_msg(msg), reply)

    peer.handle = handle


def _invent(peer: Any, req: QueryRequest, reply: dict[str, Any]) -> dict[str, Any]:
    krp = KeyRangeProof.decode(reply["range_proof"])
    value = req.range[0][0] if req.range and req.range[0] else None
    if not isinstance(value, bytes) or krp.start >= krp.size:
        return reply
    forged = encoding.encode({"v": value})
    left = [krp.leaves[0]] if krp.start > 0 else []
    right_start = len(left)
    right = list(krp.leaves[right_start:right_start + 1]) if krp.start + 1 < krp.size else []
    lie = replace(krp, end=krp.start + 1, leaves=tuple(left + [forged] + right))
    receipt = Receipt.decode(reply["receipt"])
    body = dict(receipt.body, result=result_digest([krp.start], [forged], reply["extra"]))
    signed = Receipt(body, peer.key.sign(domains.SIG_RECEIPT, encoding.encode(body))).encode()
    return dict(reply, receipt=signed, indices=[krp.start], range_proof=lie.encode())



def set_lie(peer: Any, lie: str) -> None:
    """Make a stand-alone ComputePeer (a lying node's) tell ``lie`` (one of :data:`LIES`), or ``honest``.

    Raises ValueError for another name (the lying node then answers honestly)."""
    if lie not in (*LIES, "honest"):
        raise ValueError(f"unknown lie {lie!r}")
    peer.__dict__.pop("handle", None)  # undo an ``invent`` handler
    peer.mode = "honest"
    if lie != "honest":
        make_liar(None, peer, lie)

