"""Framing and crowd-out on a real devnet: five node processes, real sockets, nodes that convict evidence.

A lying publisher (junk dataset out of order and with mis-declared bounds; its own non-subset-stable
program) tries to get honest nodes convicted; a lying node tries to crowd the genuine proof against
it out of the ring with real lies about throwaway shards ground for small hashes. Never an honest
node convicted; the liar convicted, for every client.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import trio
import wasmtime
from test_compute_libp2p import LiarDevnet
from test_framing import SMALL_ONLY_WAT

from note_compute import encoding
from note_compute.client import open_client
from note_compute.compute.client import ComputeClient
from note_compute.compute.dataset import encode_shard
from note_compute.compute.evidence import MAX_PROOFS
from note_compute.compute.fraud import KIND_SUBSET, Evidence, shard_proof
from note_compute.compute.protocol import QueryRequest
from note_compute.compute.publish import publish_dataset
from note_compute.compute.registry import RingFraudRegistry
from note_compute.compute.source import manifest_from_record
from note_compute.compute.verify import verify_answer
from note_compute.crypto import SigningKey
from note_compute.devnet import wait_stable
from note_compute.errors import InvalidProof
from note_compute.merkle import MerkleTree
from note_compute.node.datadir import DataDir
from note_compute.programs import make_program
from note_compute.sandbox import Sandbox
from note_compute.testing.attackers import crowding_lies, junk_manifest, publish_junk
from note_compute.testing.compute import ALL_WAT, SUBSTRING_WAT

pytestmark = pytest.mark.slow

ATTACKER = SigningKey(hashlib.sha256(b"devnet attacker").digest())
SITE = SigningKey(hashlib.sha256(b"devnet honest site").digest())


def rec(i: int) -> bytes:
    return encoding.encode({"id": i, "tag": ["red", "blue"][i % 2]})


async def _program(client, key: SigningKey, name: str, wat: str) -> tuple[str, bytes]:  # type: ignore[no-untyped-def]
    wasm = wasmtime.wat2wasm(wat)
    await client.put_blob(wasm, "application/wasm")
    record = make_program(key, name, wasm, fuel=10**8, seq=1, created=1_700_000_000)
    await client.put_record(record)
    return record.url, wasm


async def test_framing_and_crowd_out_on_a_devnet(tmp_path: Path) -> None:
    sandbox = Sandbox()
    net = LiarDevnet(tmp_path, 5)
    try:
        await net.start(timeout=60)
        async with open_client(net.bootstrap, timeout=3.0) as client:
            await wait_stable(net, client, 60)
            nodes = sorted(net.live(), key=lambda n: n.node_id)
            ids = {n.node_id for n in nodes}
            all_url, allw = await _program(client, ATTACKER, "all", ALL_WAT)
            small_url, small = await _program(client, ATTACKER, "small", SMALL_ONLY_WAT)
            sub_url, _ = await _program(client, SITE, "sub", SUBSTRING_WAT)
            pub = await publish_dataset(client, SITE, [rec(i) for i in range(40)], name="d", sort_key=["id"],
                                        shard_records=10, now_ms=1_700_000_000_000)
            durl, manifest = pub.record.url, manifest_from_record(pub.record)

            # 1. junk data: refused everywhere, reported as the publisher's fault, nobody convicted
            junk = junk_manifest(ATTACKER, "junk", [[rec(0), rec(5), rec(2)], [rec(10), rec(11), rec(40)]],
                                 [([0], [5]), ([10], [12])], ["id"])
            jurl = await publish_junk(client, junk)
            cc = ComputeClient(client, sandbox, timeout=2.0, fraud_registry=RingFraudRegistry(client))
            with trio.fail_after(60):
                for kw in ({"audit": 1.0}, {"range": [[0], None], "replicas": 3}):
                    res = await cc.query(all_url, jurl, None, **kw)  # type: ignore[arg-type]
                    assert not res.verification.ok and not res.frauds and res.verification.publisher_faults, \
                        (res.verification.failures, res.verification.errors)
            assert not cc.blocked

            # 2. the attacker's non-subset-stable program: framing proofs refused by the nodes that store evidence
            framed = 0
            for peer in await client.replicas(manifest.shards[0].blob):
                req = QueryRequest(small_url, hashlib.sha256(small).digest(), durl, pub.record.seq, 0,
                                   encoding.encode(None))
                ans = verify_answer(req, await client.request(peer, req.to_msg(), timeout=3.0), manifest)
                assert ans.indices == []  # honest: P(whole shard) selects nothing
                recs = pub.built.shards[0].records
                ev = Evidence([3], [recs[3]], MerkleTree(recs).batch_proof([3]).encode())
                framing = ans.claim.fraud(KIND_SUBSET, evidence=[ev])  # P({r}) = {r}: a "hidden match"
                for fp in (framing, shard_proof(framing, manifest.shards[0].blob)):
                    with pytest.raises(InvalidProof):
                        await client.put_evidence(ans.peer, fp.encode())
                framed += 1
            assert framed >= 2

            # 3. a real liar is caught and the proof stored under its id
            shard0 = {p.id_bytes for p in await client.replicas(manifest.shards[0].blob)}
            liar = next(n for n in nodes if n.node_id in shard0)
            (liar.data_dir / "compute-mode").write_text("hide_one")
            a = ComputeClient(client, sandbox, timeout=2.0)
            with trio.fail_after(60):
                caught = await a.query(sub_url, durl, "red", range=[[0], None], replicas=3)
            genuine = next(fp for fp in caught.frauds if fp.peer == liar.node_id)
            assert {fp.peer for fp in caught.frauds} == {liar.node_id}
            # (with the liar convicted, fewer than 3 replicas may be left to agree: the verdict says so)
            assert [encoding.decode(r)["id"] for r in caught.records] == list(range(0, 40, 2))
            await RingFraudRegistry(client).publish(genuine)
            (liar.data_dir / "compute-mode").write_text("honest")

            # 4. it signs real lies about throwaway shards, ground for small hashes, and floods its evidence
            lkey = SigningKey(DataDir(liar.data_dir).load_or_create_seed())
            throwaway = [encoding.encode({"id": i}) for i in range(3)]
            blob = await client.put_blob(encode_shard(throwaway))
            lies = crowding_lies(lkey, allw, throwaway, blob, MAX_PROOFS + 2, below=genuine.address, tries=30_000)
            with trio.fail_after(120):
                for fp in lies:
                    await client.put_evidence(liar.node_id, fp.encode())  # they convict: the nodes take them
            held = await client.get_evidence(liar.node_id)
            assert genuine.encode() in held  # nothing held is evicted
            if len(lies) >= MAX_PROOFS:  # the old rule would have kept only the small-hash lies
                assert all(fp.address < genuine.address for fp in lies)

            # 5. a fresh client that never ran "sub" skips the liar on any valid proof
            c = ComputeClient(client, sandbox, timeout=2.0, fraud_registry=RingFraudRegistry(client))
            with trio.fail_after(60):
                clean = await c.query(all_url, durl, None, audit=0.5)
            assert clean.verification.ok and len(clean.records) == 40
            assert liar.node_id in c.blocked and liar.node_id.hex()[:16] not in clean.verification.peers_used

            # never an honest node convicted
            for pid in ids - {liar.node_id}:
                assert await client.get_evidence(pid) == []
    finally:
        with trio.CancelScope(shield=True):
            await net.stop()
