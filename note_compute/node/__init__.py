"""The node runtime: ring core + libp2p host + store, replication, devnet.

Public surface::

    async with open_node(NodeConfig(data_dir=..., bootstrap=[...])) as node:
        node.register_handler("compute.query", handler)   # async handler(sender, msg) -> dict
        node.signing_key                                   # crypto.SigningKey; node id = SHA-256(public key)
        await node.lookup(key)                             # replica set of a 32-byte key

    net = Devnet(base_dir, 8); await net.start(); ...; await net.stop()

Storage RPCs and replication: ``specs/storage-rpc.md``.
"""

from __future__ import annotations

from .datadir import DataDir, note_home
from .devnet import DEVNET_FILE, Devnet, NodeProcess, read_manifest, ring_is_stable
from .runtime import Node, NodeConfig, open_node, serve_until_signal

__all__ = [
    "DataDir",
    "note_home",
    "DEVNET_FILE",
    "Devnet",
    "NodeProcess",
    "read_manifest",
    "ring_is_stable",
    "Node",
    "NodeConfig",
    "open_node",
    "serve_until_signal",
]
