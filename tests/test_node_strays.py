"""Strays (entries held outside a node's range) are collected once their whole replica set holds them."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace

from note_compute.node.replication import Replicator
from note_compute.store import Store


def test_a_stray_is_deleted_only_when_every_replica_confirmed_it(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    keys = []
    for i in range(4):
        data = b"stray %d" % i
        store.put_value(data)
        keys.append(hashlib.sha256(data).digest())
    rep = Replicator(SimpleNamespace(store=store))  # type: ignore[arg-type]
    homes = {k: {1, 2, 3} for k in keys}
    confirmed = {
        keys[0]: {1, 2, 3},  # every replica holds it: collected
        keys[1]: {1, 2},  # one replica did not answer: kept
        keys[2]: {1, 2, 3, 4},  # more than needed: collected
    }  # keys[3]: nobody confirmed: kept
    assert rep.collect_strays(homes, confirmed) == 2
    assert [store.has(k) for k in keys] == [False, True, False, True]
    assert rep.collected == 2
    # A key we are a replica of is never in ``homes``: nothing else is touched.
    assert rep.collect_strays({}, {keys[1]: {1, 2, 3}}) == 0 and store.has(keys[1])
    store.close()
