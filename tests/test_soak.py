"""The short soak: node processes under puts, gets, new client identities every second and a kill+restart.

The long one is ``python -m note_compute.testing.soak --nodes 16 --minutes 10``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from note_compute.testing.soak import soak

pytestmark = pytest.mark.slow


async def test_short_soak_loses_nothing_and_nodes_keep_accepting_peers(tmp_path: Path) -> None:
    report = await soak(tmp_path, nodes=6, duration=60, kill_every=25, settle=15, seed=10)
    assert report.kills >= 1 and report.clients >= 10 and report.records >= 10, report.lines()
    assert report.lost == [], report.lines()
    assert report.refused_newcomer == [], report.lines()
