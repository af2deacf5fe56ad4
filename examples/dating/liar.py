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

:func:`lying_node` runs such a peer as a real ring member: a node (libp2p,
real sockets, its own store) started in this process, joined to a running
local network through its bootstrap addresses, whose compute service tells
the lie it is set to (:func:`make_liar` with ``net=None``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from note_compute import domains, encoding
from note_compute.compute.protocol import QueryRequest, Receipt, result_digest
from note_compute.merkle import KeyRangeProof

__all__ = ["LIES", "lying_node", "make_liar"]

LIES = ("drop", "invent")


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


@asynccontextmanager
async def lying_node(bootstrap: list[str], data_dir: Path) -> AsyncIterator[tuple[Any, Any]]:
    """A real node joined to the ring at ``bootstrap`` whose compute answers go through a ComputePeer.

    Yields ``(node, peer)``: the node is honest until :func:`make_liar` (``net=None``) is applied to
    ``peer``. It serves storage like any node; it leaves the ring when the context exits.
    """
    from note_compute.compute.node_source import attach_compute
    from note_compute.node import NodeConfig, open_node
    from note_compute.testing.compute import ComputePeer

    cfg = NodeConfig(data_dir=data_dir, bootstrap=list(bootstrap), stabilize_interval=0.5, replicate_interval=2.0,
                     request_timeout=1.0)
    async with open_node(cfg) as node:
        server = attach_compute(node, prefetch=False)
        peer = ComputePeer(node.signing_key, server)

        async def handle(sender: Any, msg: dict[str, Any]) -> dict[str, Any]:
            return await peer.handle(msg)  # looked up per call: make_liar may replace it

        for op in ("compute.query", "compute.records", "compute.batch"):
            node.register_handler(op, handle)
        yield node, peer
