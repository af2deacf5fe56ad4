"""``make demo``: the Note ring end to end, on real nodes, in under a minute.

A readable sequence of steps (other layers add theirs after the ring's):

1. a temporary NOTE_HOME and a signing key (an authority);
2. a devnet of 6 node processes on 127.0.0.1, waited on until the ring is stable;
3. a signed record put and read back (verified), and a multi-chunk blob
   referenced by a record;
4. verifiable compute: the ``shop_search`` WebAssembly program and a
   catalog of 3,000 products (in shards, Merkle-committed, signed manifest)
   are published; a text search over every shard and a price-range search
   run on the nodes and come back with proofs and signed receipts, all
   verified by the client;
5. a lying peer (in an in-memory network of the same servers) hides a
   match: the client catches it, turns it into a fraud proof and still
   returns the right answer from an honest replica;
6. the node responsible for the record killed with SIGKILL: after
   stabilization the record and the blob still come back, verified;
7. everything stopped cleanly.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from .client import Client
    from .crypto import SigningKey

NODES = 6


def step(msg: str) -> None:
    print(f"[{time.monotonic() - T0:5.1f}s] {msg}", flush=True)


T0 = time.monotonic()


async def ring_demo(home: Path) -> None:
    """Steps 1-5 (see the module docstring)."""
    from . import keystore, records, urls
    from .client import open_client
    from .devnet import DEVNET_NODE_ARGS, Devnet, devnet_peers, expected_replicas, wait_stable

    key = keystore.create_key("demo", home=home)
    step(f"created key 'demo': authority {key.authority}")

    net = Devnet(home / "devnet", NODES, node_args=DEVNET_NODE_ARGS)
    try:
        await net.start(timeout=40)
        async with open_client(net.bootstrap) as client:
            await wait_stable(net, client, timeout=30)
            net.write_manifest(home)
            step(f"devnet of {NODES} node processes is a stable ring (bootstrap {net.bootstrap[0].split('/p2p/')[0]})")

            url = urls.make_url(key.authority, "/hello")
            rec = records.sign_record(key, url, seq=1, value=b"hello, Note ring", created=int(time.time()))
            acks = await client.put_record(rec)
            got = await client.get_record(url)
            step(f"put {url[:40]}... on {acks} replicas; get -> {got.value!r} (seq {got.seq}, signature verified)")

            blob = os.urandom(900_000)
            manifest_addr = await client.put_blob(blob, "application/octet-stream")
            big_url = urls.make_url(key.authority, "/big")
            big = records.sign_record(key, big_url, seq=1, refs=(manifest_addr,), created=int(time.time()))
            await client.put_record(big)
            back = await client.get_blob((await client.get_record(big_url)).refs[0])
            assert back == blob
            step(f"blob of {len(blob)} bytes in {len(blob) // (256 * 1024) + 1} chunks stored, "
                 f"fetched in parallel from replicas, every hash verified")

            await compute_demo(client, key)
            await liar_demo(key)

            ids = [p.id_bytes for p in devnet_peers(net)]
            primary = expected_replicas(ids, rec.address)[0]
            victim = next(n for n in net.nodes if n.node_id == primary)
            net.kill(victim.index, signal.SIGKILL)
            step(f"killed node {victim.index} (the record's primary replica) with SIGKILL")
            await wait_stable(net, client, timeout=45)
            step(f"ring repaired: {len(net.live())} nodes, successor and predecessor pointers correct")
            got = await client.get_record(url)
            assert got == rec
            assert await client.get_blob(manifest_addr) == blob
            step(f"after the kill: get -> {got.value!r}; blob of {len(blob)} bytes intact")
    finally:
        with trio.CancelScope(shield=True):
            await net.stop()
            (home / "devnet.json").unlink(missing_ok=True)
        step("devnet stopped (SIGTERM: every node left gracefully)")


CATEGORIES = ["home", "office", "garden", "kitchen", "outdoor", "clothing", "tools"]
WORDS = ("lamp chair table desk shelf mug kettle pan knife spoon rake hose shovel tent stove "
         "lantern hammer wrench drill saw jacket scarf boot glove").split()
ADJ = "red blue green black small large vintage modern rustic sleek compact deluxe".split()


def catalog(n: int, seed: int = 7) -> list[bytes]:
    """A deterministic product catalog: canonical CBOR records."""
    import random

    from . import encoding

    rng = random.Random(seed)
    return [encoding.encode({
        "id": f"p{i:05d}",
        "name": f"{rng.choice(ADJ)} {rng.choice(WORDS)}",
        "description": " ".join(rng.choice(WORDS + ADJ) for _ in range(rng.randrange(8, 16))),
        "category": rng.choice(CATEGORIES),
        "price": rng.randrange(100, 20_000),
    }) for i in range(n)]


def shop_wasm() -> bytes:
    return (Path(__file__).resolve().parents[1] / "contracts" / "shop_search.wasm").read_bytes()


def show(result: object, what: str) -> None:
    v = result.verification  # type: ignore[attr-defined]
    rows = ", ".join(f"{r['name']} ({r['category']}, {r['price'] / 100:.2f})" for r in result.values()[:4])  # type: ignore[attr-defined]
    step(f"{what}: {len(result.values())} match(es) [{rows}{', ...' if len(result.values()) > 4 else ''}]")  # type: ignore[attr-defined]
    step(f"    verified={v.ok}: {v.records_proven} records proven over {v.shards} shard(s), "
         f"completeness {v.completeness}, {len(v.peers_used)} peer(s), {v.bytes_received} bytes, "
         f"{v.total_seconds * 1000:.0f} ms, fraud found: {len(v.fraud)}")
    assert v.ok, v.errors


async def compute_demo(client: Client, key: SigningKey) -> None:
    """Step 4: publish a program and a dataset, run verified queries on the nodes."""
    from . import encoding
    from .cli.program import publish_program
    from .compute.client import ComputeClient
    from .compute.publish import publish_dataset
    from .sandbox import Sandbox

    program, _ = await publish_program(client, key, "shop_search", shop_wasm(), fuel=2_000_000_000,
                                       now_ms=int(time.time() * 1000))
    pub = await publish_dataset(client, key, catalog(3000), name="catalog", sort_key=["price", "id"],
                                shard_records=250)
    step(f"published program {program.url[-30:]} and dataset {pub.record.url[-30:]} "
         f"({len(pub.built.shards)} shards, seq {pub.record.seq})")
    with Sandbox() as sandbox:
        cc = ComputeClient(client, sandbox)
        args = {"text": "lantern", "category": "outdoor", "sort": "price", "limit": 10}
        res = await cc.query(program.url, pub.record.url, encoding.encode(args), audit=0.05)
        show(res, 'search "lantern" in outdoor, cheapest 10, over every shard')
        rng = [[1000], [1500]]
        res = await cc.query(program.url, pub.record.url, encoding.encode({"category": "kitchen", "sort": "price"}),
                             range=rng)
        show(res, "kitchen products priced 10.00-15.00 (sort-key range)")


async def liar_demo(key: object) -> None:
    """Step 5: a peer hides a match; the client convicts it and still answers right."""
    from . import encoding
    from .compute.client import ComputeClient
    from .sandbox import Sandbox
    from .testing.compute import ComputeNetwork

    with Sandbox() as sandbox:
        net = ComputeNetwork(8, sandbox, liars_first=True)
        prog = await net.publish_program(key, "shop_search", shop_wasm(), fuel=2_000_000_000)  # type: ignore[arg-type]
        await net.publish_dataset(key, "catalog", catalog(3000), ["price", "id"], shard_records=250)  # type: ignore[arg-type]
        ds = f"note://{key.authority}/datasets/catalog"  # type: ignore[attr-defined]
        args = encoding.encode({"category": "kitchen", "sort": "price"})
        honest = await ComputeClient(net, sandbox).query(prog, ds, args, range=[[1000], [1500]])
        for p in net.peers[:3]:
            net.set_mode(p, "hide_one")
        # shuffle=False: ask each shard's replicas in ring order, so the liars (sorted first) answer first
        res = await ComputeClient(net, sandbox, shuffle=False).query(prog, ds, args, range=[[1000], [1500]])
        v = res.verification
        step(f"3 of 8 peers hide a match and sign it; the client asks liars first: {len(v.fraud)} fraud proof(s) "
             f"({', '.join(sorted({f['lie'] for f in v.fraud}))}); "
             f"checked by re-running the program, liar blocked; answer still right: {res.values() == honest.values()}")
        assert v.fraud and res.values() == honest.values()


def main() -> int:
    """Run the demo in a temporary NOTE_HOME; exit status 0 on success."""
    import logging

    import libp2p  # noqa: F401 - its import resets its logger level

    logging.getLogger("libp2p").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory(prefix="note-demo-") as tmp:
        home = Path(tmp)
        os.environ["NOTE_HOME"] = str(home)
        step(f"NOTE_HOME={home}")
        trio.run(ring_demo, home)
    step("demo finished")
    return 0


if __name__ == "__main__":
    sys.exit(main())
