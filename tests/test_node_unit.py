"""Pure parts of the node layer: message validation, ring checks, seq rule, data directory."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from note_compute.devnet import expected_replicas, ring_is_stable
from note_compute.errors import KeyStoreError, RemoteProtocolError
from note_compute.node.datadir import DataDir
from note_compute.node.storage import (
    MAX_SYNC_ENTRIES,
    parse_get,
    parse_get_reply,
    parse_put,
    parse_sync,
    parse_sync_reply,
    put_msg,
    sync_msg,
)
from note_compute.records import next_seq
from note_compute.store import Digest

K = b"\x11" * 32

# Any CBOR-like value a peer could send.
_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**64), 2**64 - 1), st.binary(max_size=40),
                  st.text(max_size=20))
_values = st.recursive(_leaf, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                       max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(st.one_of(_values, st.dictionaries(st.sampled_from(["op", "kind", "key", "data", "range", "digests", "x"]),
                                          _values, max_size=6)))
def test_parsers_raise_only_typed_errors(msg: object) -> None:
    for parse in (parse_put, parse_get, parse_sync, parse_sync_reply):
        try:
            parse(msg)
        except RemoteProtocolError:
            pass
    try:
        parse_get_reply(msg, K)
    except RemoteProtocolError:
        pass


def test_parse_put_and_sync_accept_the_schema() -> None:
    req = parse_put(put_msg("value", K, b"abc"))
    assert (req.kind, req.key, req.data) == ("value", K, b"abc")
    assert parse_get({"op": "store.get", "key": K}) == K
    d = [Digest(K, "record", 7, b"\x22" * 32)]
    s = parse_sync(sync_msg(b"\x00" * 32, b"\xff" * 32, d))
    assert s.digests == ((K, 7, b"\x22" * 32),)
    with pytest.raises(RemoteProtocolError) as ei:
        parse_sync(sync_msg(b"\x00" * 32, b"\xff" * 32, d * (MAX_SYNC_ENTRIES + 1)))
    assert ei.value.reason == "bad-digests"
    with pytest.raises(RemoteProtocolError) as ei:
        parse_put(put_msg("value", K, b"x" * (1024 * 1024 + 1)))
    assert ei.value.reason == "too-large"


def _ring(ids: list[bytes], r: int | None = 3) -> dict[bytes, dict]:
    s = sorted(ids)
    n = len(s)
    return {nid: {"successor": s[(i + 1) % n], "predecessor": s[i - 1],
                  "held": [s[(i - 3) % n], nid]} for i, nid in enumerate(s)}


def test_ring_is_stable_checks_every_pointer() -> None:
    ids = [bytes([i]) * 32 for i in (5, 9, 1, 200, 77)]
    good = _ring(ids)
    assert ring_is_stable(good) and ring_is_stable(good, 3)
    bad = dict(good)
    s = sorted(ids)
    bad[s[0]] = {**good[s[0]], "successor": s[2]}
    assert not ring_is_stable(bad)
    half = {k: {**v, "held": [k, k]} for k, v in good.items()}  # predecessors not all known yet
    assert ring_is_stable(half) and not ring_is_stable(half, 3)
    assert ring_is_stable({s[0]: {"successor": None, "predecessor": None}})
    # A successor list that still names a dead node (or skips a live one) is not stable yet.
    listed = {nid: {**v, "successors": [{"id": s[(i + k) % 5], "addr": ""} for k in (1, 2, 3)]}
              for i, (nid, v) in enumerate(sorted(good.items()))}
    assert ring_is_stable(listed, 3)
    stale = dict(listed)
    stale[s[1]] = {**listed[s[1]], "successors": [{"id": s[2], "addr": ""}, {"id": bytes(32), "addr": ""},
                                                  {"id": s[3], "addr": ""}]}
    assert ring_is_stable(stale) and not ring_is_stable(stale, 3)


def test_expected_replicas_wraps_around() -> None:
    ids = [bytes([i]) * 32 for i in (10, 20, 30, 40)]
    assert expected_replicas(ids, bytes([15]) * 32) == [ids[1], ids[2], ids[3]]
    assert expected_replicas(ids, bytes([20]) * 32) == [ids[1], ids[2], ids[3]]  # a key equal to a node id
    assert expected_replicas(ids, bytes([35]) * 32) == [ids[3], ids[0], ids[1]]
    assert expected_replicas(ids, bytes([250]) * 32) == [ids[0], ids[1], ids[2]]
    assert expected_replicas(ids[:2], bytes([1]) * 32) == [ids[0], ids[1]]


@given(st.one_of(st.none(), st.integers(0, 2**63)), st.integers(0, 2**62))
def test_next_seq_always_moves_forward(previous: int | None, now_ms: int) -> None:
    seq = next_seq(previous, now_ms)
    assert seq >= now_ms
    if previous is not None:
        assert seq > previous


def test_datadir_seed_is_private_and_stable(tmp_path: Path) -> None:
    dd = DataDir(tmp_path / "n")
    seed = dd.load_or_create_seed()
    assert len(seed) == 32
    assert stat.S_IMODE(dd.key_path.stat().st_mode) == 0o600
    assert dd.load_or_create_seed() == seed
    os.chmod(dd.key_path, 0o644)
    with pytest.raises(KeyStoreError) as ei:
        dd.load_or_create_seed()
    assert ei.value.reason == "bad-permissions"
    os.chmod(dd.key_path, 0o600)
    dd.key_path.write_bytes(b"short")
    with pytest.raises(KeyStoreError) as ei:
        dd.load_or_create_seed()
    assert ei.value.reason == "malformed"
    dd.write_info({"pid": 1, "addrs": ["/ip4/127.0.0.1/tcp/1"]})
    assert dd.read_info() == {"pid": 1, "addrs": ["/ip4/127.0.0.1/tcp/1"]}
    dd.info_path.write_text("{not json")
    assert dd.read_info() is None
    dd.remove_info()
    dd.remove_info()
    assert dd.read_info() is None
