"""A local network for development: node processes on 127.0.0.1, supervised.

A development package above the node runtime and the client (it starts
``note-compute node`` processes and talks to them as a client); nothing in
the core imports it. ``note-compute devnet`` (``run.py``) keeps one network
per ``NOTE_HOME`` (state file format: :mod:`note_compute.localnet`);
:class:`Devnet` (``supervisor.py``) is the process supervisor tests, demo and
benchmarks use directly; ``ring.py`` looks at a running ring from outside.

    net = Devnet(base_dir, 8, node_args=DEVNET_NODE_ARGS)
    await net.start(); ...; await net.stop()
"""

from __future__ import annotations

from .ring import (
                   collect_status,
                   describe_ring,
                   devnet_peers,
                   discover,
                   expected_replicas,
                   holders,
                   ring_is_stable,
                   wait_stable,
)
from .run import DEVNET_NODE_ARGS, DevnetRunning, run_devnet, stop_devnet
from .supervisor import DEVNET_FILE, Devnet, NodeProcess, wait_until

__all__ = [
    "Devnet", "NodeProcess", "DEVNET_FILE", "DEVNET_NODE_ARGS", "DevnetRunning", "run_devnet", "stop_devnet",
    "wait_until", "wait_stable", "devnet_peers", "expected_replicas", "holders", "ring_is_stable",
    "describe_ring", "collect_status", "discover",
]
