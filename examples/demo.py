"""``make demo``: one embedded local network, the shop demo, then the dating demo on the same network.

``python -m examples.demo [--nodes N] [--products N] [--keep-running]`` starts
N node processes on 127.0.0.1 (a temporary NOTE_HOME), waits until the ring
is stable, runs ``examples.shop.demo.run_demo(net, console)`` and, when it
exists, ``examples.dating.demo.run_demo(net, console)``, then stops every
node (SIGTERM: each leaves the ring gracefully) and prints a summary.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

__all__ = ["DemoNet", "embedded_network", "main", "run"]


@dataclass
class DemoNet:
    """What the apps' ``run_demo(net, console)`` get: an open ring ``client`` on a local network."""

    client: Any
    devnet: Any
    home: Path
    nodes: int
    started: float = 0.0
    """``time.monotonic()`` when the demo started: every line of output counts from it."""


@asynccontextmanager
async def embedded_network(nodes: int, home: Path, say: Callable[[str], None],
                           started: float | None = None) -> AsyncIterator[DemoNet]:
    """Start ``nodes`` node processes, wait for a stable ring, yield; always stop them."""
    from note_compute.client import open_client
    from note_compute.devnet import DEVNET_NODE_ARGS, Devnet, wait_stable

    net = Devnet(home / "devnet", nodes, node_args=DEVNET_NODE_ARGS)
    say(f"starting {nodes} node processes on 127.0.0.1 ...")
    try:
        await net.start(timeout=60)
        say(f"{nodes} nodes up; joining the ring ...")
        async with open_client(net.bootstrap, timeout=10.0) as client:  # generous: shared, loaded machines
            await wait_stable(net, client, timeout=60)
            net.write_manifest(home)
            say(f"the ring of {nodes} nodes is stable (bootstrap {net.bootstrap[0]})")
            yield DemoNet(client, net, home, nodes, time.monotonic() if started is None else started)
    finally:
        with trio.CancelScope(shield=True):
            await net.stop()
            (home / "devnet.json").unlink(missing_ok=True)
        say("network stopped (every node left the ring gracefully)")


async def run(nodes: int = 6, products: int = 5000, keep_running: bool = False, console: Any = None,
              home: Path | None = None) -> dict[str, Any]:
    """The whole demo on one network; returns the apps' summaries."""
    t0 = time.monotonic()

    def say(msg: str) -> None:
        line = f"[{time.monotonic() - t0:5.1f}s] {msg}"
        if console is not None:
            console.print(line)
        else:
            print(line, flush=True)

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="note-demo-") as tmp:
        base = home or Path(tmp)
        os.environ["NOTE_HOME"] = str(base)
        async with embedded_network(nodes, base, say, started=t0) as net:
            from examples.shop.demo import run_demo as shop_demo

            out["shop"] = await shop_demo(net, console, products=products)
            try:
                dating = importlib.import_module("examples.dating.demo")
            except ModuleNotFoundError:
                dating = None
            if dating is not None:
                say("--- the dating demo, on the same network ---")
                await dating.run_demo(net, console)
                out["dating"] = "ok"
            if keep_running:
                say(f"network kept running: NOTE_HOME={base} (Ctrl-C to stop)")
                await trio.sleep_forever()
    out["seconds"] = round(time.monotonic() - t0, 1)
    say(f"demo finished in {out['seconds']} s: {out}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=6)
    ap.add_argument("--products", type=int, default=5000)
    ap.add_argument("--keep-running", action="store_true")
    args = ap.parse_args(argv)
    if args.nodes < 3 or args.products < 20:
        ap.error("--nodes must be at least 3 and --products at least 20")
    import logging

    import libp2p  # noqa: F401 - its import resets its logger level

    logging.getLogger("libp2p").setLevel(logging.CRITICAL)
    interrupted = False
    try:
        trio.run(lambda: run(args.nodes, args.products, args.keep_running))
    except* KeyboardInterrupt:  # trio may hand it over inside the nurseries' ExceptionGroup
        interrupted = True
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
