"""The Note ring, sans-IO: ids, routing table, lookups, stabilization, replication plan.

Nothing here does I/O, reads a clock or uses global randomness: the runtime
(``note_compute.node`` over libp2p, ``note_compute.testing`` in memory)
passes ``now`` and an ``rng`` and executes the returned actions.
"""

from .actions import Action, Handoff, Joined, JoinFailed, LookupDone, ResponsibilityChanged, Send, Transfer
from .core import IDLE, JOINED, JOINING, LEFT, RingCore
from .ids import (
    ID_BITS,
    RING,
    PeerRef,
    Range,
    between,
    between_open,
    bucket_index,
    distance,
    id_from_bytes,
    id_to_bytes,
    key_id,
    node_id,
)
from .lookup import Lookup
from .table import RoutingTable

__all__ = [
    "Action", "Handoff", "Joined", "JoinFailed", "LookupDone", "ResponsibilityChanged", "Send", "Transfer",
    "IDLE", "JOINED", "JOINING", "LEFT", "RingCore",
    "ID_BITS", "RING", "PeerRef", "Range", "between", "between_open", "bucket_index", "distance",
    "id_from_bytes", "id_to_bytes", "key_id", "node_id",
    "Lookup", "RoutingTable",
]
