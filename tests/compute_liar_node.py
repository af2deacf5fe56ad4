"""A ring node whose compute service can lie (a test helper run as a subprocess).

Like ``note-compute node``, but compute queries go through a
:class:`note_compute.testing.compute.ComputePeer` whose mode is read, on
every request, from ``DATA_DIR/compute-mode`` (``honest`` when absent), so a
test can turn a real node malicious and back without restarting it.
"""

from __future__ import annotations

import argparse
import signal
from pathlib import Path

import trio


async def main(args: argparse.Namespace) -> None:
    import wasmtime

    from note_compute.compute.node_source import NodeRingAccess, evidence_verifier
    from note_compute.compute.server import ComputeServer
    from note_compute.compute.source import RingSource
    from note_compute.node import NodeConfig, open_node
    from note_compute.sandbox import Sandbox
    from note_compute.testing.compute import ALL_WAT, ComputePeer

    cfg = NodeConfig(data_dir=Path(args.data_dir), listen=[args.listen], bootstrap=list(args.bootstrap or []),
                     stabilize_interval=args.stabilize_interval, replicate_interval=args.replicate_interval,
                     request_timeout=args.request_timeout)
    mode_file = Path(args.data_dir) / "compute-mode"
    sandbox = Sandbox()
    alt = wasmtime.wat2wasm(ALL_WAT)
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with open_node(cfg) as node:
            peer = ComputePeer(node.signing_key, ComputeServer(node.signing_key, sandbox,
                                                               RingSource(NodeRingAccess(node))), alt_wasm=alt)

            async def handle(sender: object, msg: dict) -> dict:
                peer.mode = mode_file.read_text().strip() if mode_file.exists() else "honest"
                return await peer.handle(msg)

            # like attach_compute: evidence is convicted before it is stored (specs/compute.md 5.1)
            limiter = trio.CapacityLimiter(1)

            async def offload(run: object) -> object:
                return await trio.to_thread.run_sync(run, limiter=limiter)  # type: ignore[arg-type]

            node.storage.evidence_verifier = evidence_verifier(NodeRingAccess(node), sandbox, offload)
            node.register_handler("compute.query", handle)
            node.register_handler("compute.records", handle)
            node.register_handler("compute.batch", handle)
            async for _ in signals:
                break


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--data-dir", required=True)
    p.add_argument("--listen", default="/ip4/127.0.0.1/tcp/0")
    p.add_argument("--bootstrap", action="append")
    p.add_argument("--stabilize-interval", type=float, default=0.5)
    p.add_argument("--replicate-interval", type=float, default=2.0)
    p.add_argument("--request-timeout", type=float, default=1.0)
    trio.run(main, p.parse_args())
