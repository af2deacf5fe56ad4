"""``make demo``: the Note ring end to end, on real nodes, in under a minute.

A readable sequence of steps (other layers add theirs after the ring's):

1. a temporary NOTE_HOME and a signing key (an authority);
2. a devnet of 6 node processes on 127.0.0.1, waited on until the ring is stable;
3. a signed record put and read back (verified), and a multi-chunk blob
   referenced by a record;
4. the node responsible for the record killed with SIGKILL: after
   stabilization the record and the blob still come back, verified;
5. everything stopped cleanly.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import trio

NODES = 6


def step(msg: str) -> None:
    print(f"[{time.monotonic() - T0:5.1f}s] {msg}", flush=True)


T0 = time.monotonic()


async def ring_demo(home: Path) -> None:
    """Steps 1-5 (see the module docstring)."""
    from . import keystore, records, urls
    from .client import open_client
    from .node.devnet import Devnet
    from .node.devnet_cli import DEVNET_NODE_ARGS, devnet_peers, expected_replicas, wait_stable

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
