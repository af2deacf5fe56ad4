"""The node runtime: ring core + libp2p host + store, replication.

Public surface::

    async with open_node(NodeConfig(data_dir=..., bootstrap=[...])) as node:
        node.register_handler("compute.query", handler)   # async handler(sender, msg) -> dict
        node.signing_key                                   # crypto.SigningKey; node id = SHA-256(public key)
        await node.lookup(key)                             # replica set of a 32-byte key

A local network of node processes for development: :mod:`note_compute.devnet`.

Storage RPCs and replication: ``specs/storage-rpc.md``.
"""

from __future__ import annotations

from .datadir import DataDir, note_home
from .runtime import Node, NodeConfig, open_node, serve_until_signal

__all__ = [
    "DataDir",
    "note_home",
    "Node",
    "NodeConfig",
    "open_node",
    "serve_until_signal",
]
