"""A query that restarts for a newer dataset version keeps the fraud proofs found before the restart.

Before: ``ComputeClient.query`` returned and published only the last session's proofs, so a peer that
lied on version N and then met (or provoked) a restart to N+1 was blocked by this client but its proof
reached neither the caller nor the ring's evidence index. In-memory ring, virtual clock.
"""

from __future__ import annotations

import hashlib
from typing import Any

import wasmtime

from note_compute import encoding
from note_compute.compute.client import ComputeClient
from note_compute.compute.fraud import FraudProof
from note_compute.crypto import SigningKey
from note_compute.sandbox import Sandbox
from note_compute.testing.compute import SUBSTRING_WAT, ComputeNetwork, MemoryFraudRegistry, signed_claim_proof

SITE = SigningKey(hashlib.sha256(b"restart-fraud-site").digest())
URL = f"note://{SITE.authority}/datasets/things"
TAGS = ["red", "blue", "green"]


def records(version: int, n: int = 30) -> list[bytes]:
    return [encoding.encode({"id": i, "tag": TAGS[(i + version) % 3], "v": version}) for i in range(n)]


def expected(version: int) -> list[bytes]:
    return [r for r in records(version) if b"red" in r]


async def test_a_lie_before_a_restart_is_returned_and_published_once(sandbox: Sandbox, autojump_clock: Any) -> None:
    """One shard, the liar asked first: it hides a match of seq 1, and seq 2 is published before its
    reply arrives. The client convicts it, the next replica refuses with seq 2's signed record, the
    query starts over on seq 2 and answers it; the liar's proof is in the result and in the registry,
    exactly once, and convicts for a fresh client too."""
    net = ComputeNetwork(6, sandbox, liars_first=True, seed=5)
    purl = await net.publish_program(SITE, "sub", bytes(wasmtime.wat2wasm(SUBSTRING_WAT)), fuel=10**8)
    built = await net.publish_dataset(SITE, "things", records(1), ["id"], seq=1, shard_records=100)
    assert len(built.shards) == 1
    liar = (await net.replicas(built.shards[0].info.blob))[0]
    net.set_mode(liar, "hide_one")
    lie = liar.handle
    republished: list[bool] = []

    async def lie_then_republish(msg: dict[str, Any]) -> dict[str, Any]:
        reply = await lie(msg)  # signed over seq 1
        if not republished:
            republished.append(True)
            await net.publish_dataset(SITE, "things", records(2), ["id"], seq=2, shard_records=100)
        return reply

    liar.handle = lie_then_republish  # type: ignore[method-assign]
    client = ComputeClient(net, sandbox, shuffle=False, fraud_registry=net.registry)
    res = await client.query(purl, URL, "red", range=[[0], None])
    v = res.verification
    assert republished and liar.signed_lies >= 1
    assert v.ok and v.restarts == 1 and v.seq == 2, v.summary
    assert res.records == expected(2) and v.verdict == "verified-complete", v.summary
    # in the result: the proof object and its summary line, once
    assert [fp.peer for fp in res.frauds] == [liar.node_id]
    assert [f["peer"] for f in v.fraud] == [liar.node_id.hex()]
    assert v.fraud[0]["proof"] == res.frauds[0].address.hex()
    assert any("1 lying peer(s) convicted" in c for c in v.checked)
    # published ring-wide, once, and it convicts for a client that never met the liar
    assert net.registry.proofs.get(liar.node_id) == [res.frauds[0].encode()]
    assert FraudProof.decode(net.registry.proofs[liar.node_id][0]).peer == liar.node_id
    assert await client.accused(liar.node_id)
    fresh = ComputeClient(net, sandbox, fraud_registry=net.registry)
    assert await fresh.accused(liar.node_id)
    assert not await fresh.accused(next(p for p in net.peers if p is not liar).node_id)


async def test_publish_frauds_stores_each_proof_once(sandbox: Sandbox) -> None:
    """The same proof listed twice (found before and after a restart) is published once; distinct
    proofs against one peer are all kept."""
    reg = MemoryFraudRegistry()
    a, b = signed_claim_proof(SITE, 1), signed_claim_proof(SITE, 2)
    await ComputeClient(None, sandbox, fraud_registry=reg).publish_frauds([a, b, a])
    assert reg.proofs == {a.peer: [a.encode(), b.encode()]}
