"""A ring node whose compute answers lie as its data directory says (the dating demo's lying node).

    python -m examples.dating.liar_node --data-dir DIR --bootstrap MULTIADDR [--parent-pid PID]

Like ``note-compute node``, but compute requests go through a
:class:`note_compute.testing.compute.ComputePeer` that tells the lie named in
``DIR/dating-lie`` (``drop``, ``invent``, or ``honest`` when absent: see
:mod:`examples.dating.liar`), read on every request. It leaves the ring
gracefully on SIGTERM or SIGINT, and when its parent process goes away.
"""

from __future__ import annotations

import argparse
import os
import signal
from pathlib import Path
from typing import Any

import trio


async def main(args: argparse.Namespace) -> None:
    from note_compute.compute.node_source import attach_compute
    from note_compute.node import NodeConfig, open_node
    from note_compute.testing.compute import ComputePeer

    from .liar import LIE_FILE, set_lie

    data_dir = Path(args.data_dir)
    cfg = NodeConfig(data_dir=data_dir, listen=[args.listen], bootstrap=list(args.bootstrap or []),
                     stabilize_interval=0.5, replicate_interval=2.0, request_timeout=1.0)
    lie_file = data_dir / LIE_FILE
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with open_node(cfg) as node, trio.open_nursery() as nursery:
            peer = ComputePeer(node.signing_key, attach_compute(node, prefetch=False))
            told = ["honest"]

            async def handle(sender: Any, msg: dict[str, Any]) -> dict[str, Any]:
                lie = lie_file.read_text().strip() if lie_file.exists() else "honest"
                if lie != told[0]:
                    set_lie(peer, lie)
                    told[0] = lie
                reply: dict[str, Any] = await peer.handle(msg)
                return reply

            for op in ("compute.query", "compute.records", "compute.batch"):
                node.register_handler(op, handle)

            async def orphaned() -> None:
                while args.parent_pid is None or os.getppid() == args.parent_pid:
                    await trio.sleep(0.5)
                nursery.cancel_scope.cancel()

            nursery.start_soon(orphaned)
            async for _ in signals:
                break
            nursery.cancel_scope.cancel()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True)
    p.add_argument("--listen", default="/ip4/127.0.0.1/tcp/0")
    p.add_argument("--bootstrap", action="append")
    p.add_argument("--parent-pid", type=int, default=None)
    trio.run(main, p.parse_args())
