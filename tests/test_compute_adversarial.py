"""Malicious compute peers on the in-memory network: every lie is caught or routed around."""

from __future__ import annotations

import hashlib
import random

import pytest
import trio
import wasmtime

from note_compute import encoding
from note_compute.compute.client import ComputeClient
from note_compute.compute.dataset import decode_shard
from note_compute.compute.fraud import FraudProof, shard_needed, verify_fraud_proof
from note_compute.crypto import SigningKey
from note_compute.errors import InvalidProof
from note_compute.testing.compute import ALL_WAT, MODES, SUBSTRING_WAT, ComputeNetwork

SITE = SigningKey(hashlib.sha256(b"adversarial-site").digest())
TAGS = ["red", "blue", "green", "redwood"]

SIGNED_LIES = {"hide_one", "hide_all", "forge", "wrong_program", "false_receipt"}
ROUTED = {"stale", "bad_signature", "refuse", "timeout"}


@pytest.fixture(scope="module")
def programs() -> tuple[bytes, bytes]:
    return wasmtime.wat2wasm(SUBSTRING_WAT), wasmtime.wat2wasm(ALL_WAT)


def records(n: int = 160, version: int = 2) -> list[bytes]:
    out = []
    for i in range(n):
        tag = TAGS[(i * 7 + version) % len(TAGS)]
        out.append(encoding.encode({"id": i, "tag": tag, "v": version}))
    return out


async def make_world(sandbox, programs, *, n: int = 8, liars_first: bool = True):
    net = ComputeNetwork(n, sandbox, liars_first=liars_first)
    purl = await net.publish_program(SITE, "sub", programs[0], fuel=10**8)
    await net.publish_dataset(SITE, "things", records(version=1), ["id"], seq=1, shard_records=20)
    await net.publish_dataset(SITE, "things", records(version=2), ["id"], seq=2, shard_records=20)
    durl = f"note://{SITE.authority}/datasets/things"
    return net, purl, durl


def shard_of(net: ComputeNetwork, fp: FraudProof) -> list[bytes] | None:
    """The whole shard a range or shard fraud proof is re-checked on (what a verifier loads by its address)."""
    blob = shard_needed(fp)
    return decode_shard(net.blobs[blob]) if blob is not None else None


def expected(needle: str, lo: int | None = None, hi: int | None = None) -> list[bytes]:
    out = []
    for r in records(version=2):
        d = encoding.decode(r)
        if needle.encode() in r and (lo is None or lo <= d["id"]) and (hi is None or d["id"] < hi):
            out.append(r)
    return out


def corrupt(net: ComputeNetwork, mode: str, alt: bytes) -> tuple[set[bytes], set[bytes]]:
    """Every peer lies except those at ring positions 0, 3, 6 (each replica triple keeps one honest peer)."""
    liars, honest = set(), set()
    for i, p in enumerate(net.peers):
        if i % 3 == 0:
            honest.add(p.node_id)
        else:
            net.set_mode(p, mode, alt_wasm=alt)
            liars.add(p.node_id)
    return liars, honest


@pytest.mark.parametrize("mode", [m for m in MODES[:11] if m != "honest"])  # the ten classic liars
@pytest.mark.parametrize("ranged", [True, False])
async def test_every_lie_is_caught_or_routed(sandbox, programs, autojump_clock, mode: str, ranged: bool) -> None:
    net, purl, durl = await make_world(sandbox, programs)
    liars, honest = corrupt(net, mode, programs[1])
    client = ComputeClient(net, sandbox, timeout=2.0, shuffle=False, fraud_registry=net.registry)
    if ranged:
        res = await client.query(purl, durl, "red", range=[[15], [125]])
        want = expected("red", 15, 125)
    else:
        res = await client.query(purl, durl, "red", audit=1.0)
        want = expected("red")
    v = res.verification
    assert v.ok, v.errors
    assert res.records == want
    accused = {fp.peer for fp in res.frauds}
    assert accused <= liars, "an honest peer was accused"
    for fp in res.frauds:
        verify_fraud_proof(FraudProof.decode(fp.encode()), sandbox, programs[0], shard=shard_of(net, fp))
    if mode in SIGNED_LIES or (mode == "truncate" and not ranged):
        assert res.frauds, f"{mode}: no fraud proof"
        assert accused == {bytes.fromhex(f["peer"]) for f in v.fraud}
        assert accused <= client.blocked
        assert all(net.registry.proofs.get(pid) for pid in accused)
    if mode in ROUTED:
        assert not res.frauds
        assert v.failures, "the lie went unnoticed"
    used = {p for p in net.peers if p.node_id.hex()[:16] in v.peers_used}
    assert all(p.mode == "honest" for p in used)


async def test_hidden_range_match_detected_every_time(sandbox, programs) -> None:
    """Deterministic completeness: 40 random ranges, the liar always hides one match, always caught."""
    net, purl, durl = await make_world(sandbox, programs)
    corrupt(net, "hide_one", programs[1])
    rng = random.Random(5)
    caught = trials = 0
    for _ in range(40):
        lo = rng.randrange(0, 150)
        hi = lo + rng.randrange(1, 30)
        client = ComputeClient(net, sandbox, shuffle=False)
        res = await client.query(purl, durl, "red", range=[[lo], [hi]])
        assert res.records == expected("red", lo, hi)
        liar_hid = any(f["lie"] == "hidden-match" for f in res.verification.fraud)
        had_match_at_liar = bool(expected("red", lo, hi))
        if had_match_at_liar:
            trials += 1
            caught += liar_hid
    assert trials > 20 and caught == trials


async def test_predicate_hiding_needs_audits(sandbox, programs) -> None:
    net, purl, durl = await make_world(sandbox, programs)
    corrupt(net, "hide_one", programs[1])
    blind = await ComputeClient(net, sandbox, shuffle=False).query(purl, durl, "red")
    assert not blind.frauds and blind.records != expected("red")  # no audit: the omission is invisible
    audited = await ComputeClient(net, sandbox, shuffle=False).query(purl, durl, "red", audit=1.0)
    assert audited.frauds and audited.records == expected("red")
    assert audited.verification.audited_records > 0


async def test_replica_cross_check_convicts_without_audits(sandbox, programs) -> None:
    net, purl, durl = await make_world(sandbox, programs)
    liars, _ = corrupt(net, "hide_one", programs[1])
    client = ComputeClient(net, sandbox, shuffle=False)
    res = await client.query(purl, durl, "red", replicas=3)
    assert res.records == expected("red")
    assert res.frauds and {fp.peer for fp in res.frauds} <= liars
    assert all(f["lie"] == "hidden-match" for f in res.verification.fraud)


async def test_other_clients_avoid_accused_peers(sandbox, programs) -> None:
    net, purl, durl = await make_world(sandbox, programs)
    liars, _ = corrupt(net, "hide_all", programs[1])
    first = ComputeClient(net, sandbox, shuffle=False, fraud_registry=net.registry)
    res = await first.query(purl, durl, "red", range=[[0], None])
    accused = {fp.peer for fp in res.frauds}
    assert accused
    before = {p.node_id: p.calls for p in net.peers}
    second = ComputeClient(net, sandbox, fraud_registry=net.registry)
    res2 = await second.query(purl, durl, "red", range=[[0], None])
    assert res2.records == expected("red") and not res2.frauds
    assert all(net.peer(pid).calls == before[pid] for pid in accused)


async def test_no_honest_replica_fails_loudly(sandbox, programs, autojump_clock) -> None:
    net, purl, durl = await make_world(sandbox, programs)
    for p in net.peers:
        net.set_mode(p, "timeout")
    client = ComputeClient(net, sandbox, timeout=1.0)
    with trio.fail_after(60):
        res = await client.query(purl, durl, "red", range=[[0], [30]])
    assert not res.verification.ok and res.verification.errors
    assert res.records == []


async def test_all_honest_network_agrees_with_python(sandbox, programs) -> None:
    net, purl, durl = await make_world(sandbox, programs, liars_first=False)
    client = ComputeClient(net, sandbox, rng=random.Random(1))
    for needle in ("red", "wood", "blue", "nothing"):
        res = await client.query(purl, durl, needle, audit=0.2, replicas=2)
        assert res.records == expected(needle) and res.verification.ok and not res.frauds
    res = await client.query(purl, durl, "", range=[[40], [40]])
    assert res.records == [] and res.verification.ok
    res = await client.query(purl, durl, "", range=[None, [3]])
    assert [encoding.decode(r)["id"] for r in res.records] == [0, 1, 2]


async def test_ring_fraud_registry_round_trip(sandbox, programs) -> None:
    """Client A catches liars and stores the proofs under their ids; client B, trusting no
    reporter, finds them with one lookup per peer, verifies them itself and never asks the liars."""
    from note_compute.compute.evidence import evidence_key
    from note_compute.compute.registry import RingFraudRegistry

    net, purl, durl = await make_world(sandbox, programs)
    liars, _ = corrupt(net, "hide_one", programs[1])
    reg = RingFraudRegistry(net, check=lambda fp: verify_fraud_proof(fp, sandbox, programs[0],
                                                                     shard=shard_of(net, fp)))
    first = ComputeClient(net, sandbox, shuffle=False, fraud_registry=reg)
    res = await first.query(purl, durl, "red", range=[[0], None])
    accused = {fp.peer for fp in res.frauds}
    assert accused and accused <= liars
    for pid in accused:
        entry = net.evidence_store.get(evidence_key(pid))
        assert entry.kind == "evidence"
        found = await reg.lookup(pid)
        assert found and {fp.peer for fp in found} == {pid}
        assert {fp.address for fp in res.frauds if fp.peer == pid} <= {fp.address for fp in found}
    # a fresh client with its own registry (no reporter named anywhere) never asks the accused peers
    before = {p.node_id: p.calls for p in net.peers}
    second = ComputeClient(net, sandbox, fraud_registry=RingFraudRegistry(net))
    res2 = await second.query(purl, durl, "red", range=[[0], None])
    assert res2.records == expected("red") and not res2.frauds
    assert all(net.peer(pid).calls == before[pid] for pid in accused)
    assert accused <= second.blocked
    # an honest peer has no evidence against it
    honest = next(p.node_id for p in net.peers if p.node_id not in liars)
    assert await reg.lookup(honest) == []


async def test_unverifiable_evidence_does_not_block(sandbox, programs) -> None:
    """Evidence the nodes accept (a receipt the peer really signed) but that convicts of nothing
    leaves the peer usable: the client re-runs the program before believing any proof."""
    from dataclasses import replace

    from note_compute.compute.registry import RingFraudRegistry

    net, purl, durl = await make_world(sandbox, programs)
    liars, _ = corrupt(net, "hide_one", programs[1])
    res = await ComputeClient(net, sandbox, shuffle=False).query(purl, durl, "red", range=[[0], None])
    fp = res.frauds[0]
    assert fp.range_proof == b"" and fp.blob  # the published form: the verifier cuts the window from the blob
    bogus = replace(fp, blob=b"")  # same signed receipt and claim, nothing to re-run it on
    with pytest.raises(InvalidProof):
        verify_fraud_proof(bogus, sandbox, programs[0])
    await net.put_evidence(fp.peer, bogus.encode())
    assert await RingFraudRegistry(net).lookup(fp.peer)  # stored: the cheap checks pass
    client = ComputeClient(net, sandbox, shuffle=False, fraud_registry=RingFraudRegistry(net))
    assert not await client._is_accused(fp.peer, await client.resolve_program(purl))
    assert fp.peer not in client.blocked


async def test_quorum_certificate(sandbox, programs) -> None:
    """k agreeing replicas -> one BLS aggregate over their common statement (py-ecc: slow, so one shard)."""
    from note_compute.compute.quorum import QuorumCertificate
    from note_compute.errors import InvalidSignature

    net, purl, durl = await make_world(sandbox, programs, liars_first=False)
    client = ComputeClient(net, sandbox)
    res = await client.query(purl, durl, "red", range=[[0], [10]], replicas=2, quorum=True)
    # one shard in range plus its guard neighbour (range queries also ask one shard each side)
    assert res.records == expected("red", 0, 10) and len(res.certificates) == len(res.answers) == 2
    cert = QuorumCertificate.decode(res.certificates[0].encode())
    cert.verify()
    assert len(cert.peers) == 2 and cert.statement["result"] == res.answers[0].claim.receipt["result"]
    forged = QuorumCertificate(dict(cert.statement, seq=cert.statement["seq"] + 1), cert.members, cert.aggregate)
    with pytest.raises(InvalidSignature):
        forged.verify()


async def test_limits_with_shop_search_never_accuse_honest_peers(sandbox, programs) -> None:
    """A limit cuts shards' tails in the joint check; the re-check clears honest peers, convicts liars."""
    from pathlib import Path

    from note_compute.compute.verify import run_program

    shop = (Path(__file__).resolve().parent.parent / "contracts" / "shop_search.wasm").read_bytes()
    net = ComputeNetwork(8, sandbox, liars_first=True)
    purl = await net.publish_program(SITE, "shop", shop, fuel=10**9)
    rng = random.Random(4)
    recs = [encoding.encode({"id": f"p{i:03d}", "name": rng.choice(["lamp", "mug", "desk lamp"]),
                             "description": "d", "category": "home", "price": rng.randrange(1, 500)})
            for i in range(200)]
    built = await net.publish_dataset(SITE, "shop", recs, ["id"], shard_records=25)
    durl = f"note://{SITE.authority}/datasets/shop"
    ordered = [r for s in built.shards for r in s.records]
    for args in ({"text": "lamp", "sort": "price", "limit": 3}, {"text": "mug", "sort": "-price", "limit": 7},
                 {"sort": "name", "limit": 1}):
        rel, _ = run_program(sandbox, shop, encoding.encode(args), ordered, 10**9)
        want = [ordered[j] for j in rel]
        res = await ComputeClient(net, sandbox, shuffle=False).query(purl, durl, args, audit=0.3)
        assert res.records == want and not res.frauds and res.verification.ok
    liars, _ = corrupt(net, "wrong_program", programs[1])
    args = {"text": "mug", "sort": "price", "limit": 5}
    rel, _ = run_program(sandbox, shop, encoding.encode(args), ordered, 10**9)
    res = await ComputeClient(net, sandbox, shuffle=False).query(purl, durl, args)
    assert res.records == [ordered[j] for j in rel]
    assert res.frauds and {fp.peer for fp in res.frauds} <= liars
