"""The short soak: node processes under puts, gets, verified compute queries, republished datasets, new
client identities every second and a kill+restart.

The long one is ``python -m note_compute.testing.soak --nodes 16 --minutes 10``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from note_compute.testing.soak import soak


@pytest.mark.slow
async def test_short_soak_loses_nothing_and_nodes_keep_accepting_peers(tmp_path: Path) -> None:
    report = await soak(tmp_path, nodes=6, duration=60, kill_every=25, settle=15, seed=10, republish_every=20)
    assert report.kills >= 1 and report.clients >= 10 and report.records >= 10, report.lines()
    # compute under the same churn: every answer that came back was verified and exactly right
    assert report.wrong == [], report.lines()
    assert report.queries_ok >= 5 and report.versions >= 2, report.lines()
    assert report.lost == [], report.lines()
    assert report.refused_newcomer == [], report.lines()


@pytest.mark.parametrize("bounds", [None, [[0], [300]], [[17], [18]], [[250], [290]], [[299], [400]]])
async def test_the_soaks_expected_answers_are_what_a_verified_query_returns(bounds) -> None:  # type: ignore[no-untyped-def]
    """The soak checks each answer against :func:`expected_answer`: it must agree with the compute network."""
    import random

    import wasmtime

    from note_compute.compute.client import ComputeClient
    from note_compute.crypto import SigningKey
    from note_compute.sandbox import Sandbox
    from note_compute.testing.compute import SUBSTRING_WAT, ComputeNetwork
    from note_compute.testing.soak import _version, expected_answer

    sandbox = Sandbox()
    key = SigningKey(bytes(32))
    net = ComputeNetwork(4, sandbox)
    purl = await net.publish_program(key, "sub", wasmtime.wat2wasm(SUBSTRING_WAT), fuel=10**9)
    recs = _version(random.Random(3), 300)
    await net.publish_dataset(key, "soak", recs, ["id"], shard_records=30)
    res = await ComputeClient(net, sandbox).query(purl, f"note://{key.authority}/datasets/soak", "coral",
                                                  range=bounds, audit=0.0 if bounds else 0.05)
    want = expected_answer(recs, "coral", bounds)
    assert res.verification.ok and res.verdict in ("verified-complete", "audited")
    assert sorted(res.records) == want
    if bounds is None or bounds == [[0], [300]]:
        assert len(want) > 20  # the word is common: the check compares real answers
