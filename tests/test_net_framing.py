"""Frame encoder / incremental decoder: round trips, every refusal, fuzzing."""

from __future__ import annotations

import struct

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from note_compute.errors import LocalProtocolError, RemoteProtocolError
from note_compute.net.framing import (
    HEADER_SIZE,
    MAX_FRAME_SIZE,
    FrameDecoder,
    decode_payload,
    encode_frame,
)


def raw_frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


# -- round trips ---------------------------------------------------------------

messages = st.dictionaries(
    st.text(max_size=8),
    st.one_of(
        st.integers(min_value=-(2**63), max_value=2**63),
        st.binary(max_size=64),
        st.text(max_size=16),
        st.booleans(),
        st.none(),
        st.lists(st.integers(min_value=0, max_value=1000), max_size=4),
    ),
    max_size=6,
)


@given(st.lists(messages, min_size=1, max_size=5), st.data())
@settings(max_examples=150, deadline=None)
def test_any_split_of_a_stream_gives_back_the_frames(msgs: list[dict], data: st.DataObject) -> None:
    stream = b"".join(encode_frame(m) for m in msgs)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    dec = FrameDecoder()
    out: list[dict] = []
    prev = 0
    for c in [*cuts, len(stream)]:
        out.extend(dec.feed(stream[prev:c]))
        prev = c
    assert out == msgs
    assert dec.at_boundary
    dec.eof()  # clean end


def test_header_is_big_endian_length() -> None:
    frame = encode_frame({"a": 1})
    payload = cbor2.dumps({"a": 1}, canonical=True)
    assert frame == len(payload).to_bytes(4, "big") + payload


def test_byte_by_byte_feed() -> None:
    frame = encode_frame({"op": "ping", "n": 7})
    dec = FrameDecoder()
    got = []
    for i in range(len(frame)):
        got += dec.feed(frame[i : i + 1])
        if i < len(frame) - 1:
            assert got == []
    assert got == [{"op": "ping", "n": 7}]


# -- refusals ------------------------------------------------------------------


def test_oversize_refused_from_header_before_buffering() -> None:
    dec = FrameDecoder(max_size=100)
    with pytest.raises(RemoteProtocolError) as e:
        dec.feed(struct.pack(">I", 101))  # only the header: no payload needed to refuse
    assert e.value.reason == "frame-too-large"
    assert dec.buffered == 0
    assert "101" in str(e.value) and "100" in str(e.value)


def test_huge_announced_length_costs_nothing() -> None:
    dec = FrameDecoder()
    with pytest.raises(RemoteProtocolError) as e:
        dec.feed(b"\xff\xff\xff\xff" + b"x" * 10)
    assert e.value.reason == "frame-too-large"


def test_exactly_max_size_accepted() -> None:
    msg = {"b": b""}
    base = len(encode_frame(msg)) - HEADER_SIZE
    pad = 200 - base - 1  # one more byte of length header for a 1..23 -> 24..255 bytes string
    msg = {"b": b"x" * pad}
    payload_len = len(encode_frame(msg)) - HEADER_SIZE
    dec = FrameDecoder(max_size=payload_len)
    assert dec.feed(encode_frame(msg)) == [msg]
    with pytest.raises(RemoteProtocolError):
        FrameDecoder(max_size=payload_len - 1).feed(encode_frame(msg))


def test_zero_length_refused() -> None:
    with pytest.raises(RemoteProtocolError) as e:
        FrameDecoder().feed(b"\x00\x00\x00\x00")
    assert e.value.reason == "frame-empty"


@pytest.mark.parametrize(
    "payload, reason",
    [
        (b"\xa1\x61a\x18\x01", "frame-non-canonical"),  # 1 encoded in two bytes
        (b"\xbf\x61a\x01\xff", "frame-indefinite"),  # indefinite-length map
        (b"\x83\x01\x02\x03", "frame-not-a-map"),  # an array
        (b"\xa1\x61a\xc1\x01", "frame-tag"),  # a tag
        (b"\xa1\x61a\xfb\x3f\xf0\x00\x00\x00\x00\x00\x00", "frame-float"),  # float 1.0, long form
        (b"\xa1\x61a\xf9\x3c\x00", "frame-float"),  # canonical float, refused anyway
        (b"\xa1\x61a", "frame-truncated"),
        (b"\xa1\x61a\x01\x01", "frame-trailing-data"),
        (b"\xff\xff", "frame-malformed"),
    ],
)
def test_bad_payloads_refused_with_reason(payload: bytes, reason: str) -> None:
    dec = FrameDecoder()
    with pytest.raises(RemoteProtocolError) as e:
        dec.feed(raw_frame(payload))
    assert e.value.reason == reason, (e.value.reason, str(e.value))
    assert e.value.code == "remote-protocol"


def test_decoder_stays_broken_after_an_error() -> None:
    dec = FrameDecoder()
    with pytest.raises(RemoteProtocolError):
        dec.feed(raw_frame(b"\x83\x01\x02\x03"))
    with pytest.raises(RemoteProtocolError) as e:
        dec.feed(encode_frame({"ok": 1}))
    assert e.value.reason == "decoder-broken"


def test_good_frames_before_a_bad_one_are_lost_with_the_stream() -> None:
    # The error aborts the whole feed: callers reset the stream, so nothing half-done is served.
    dec = FrameDecoder()
    with pytest.raises(RemoteProtocolError):
        dec.feed(encode_frame({"ok": 1}) + raw_frame(b"\x01"))


def test_deep_nesting_refused() -> None:
    v: object = 1
    for _ in range(40):
        v = [v]
    payload = cbor2.dumps({"a": v}, canonical=True)
    with pytest.raises(RemoteProtocolError) as e:
        FrameDecoder().feed(raw_frame(payload))
    assert e.value.reason in ("frame-too-deep", "frame-malformed")


def test_eof_inside_a_frame() -> None:
    dec = FrameDecoder()
    assert dec.feed(encode_frame({"a": 1})[:-1]) == []
    with pytest.raises(RemoteProtocolError) as e:
        dec.eof()
    assert e.value.reason == "frame-truncated"


def test_encode_refuses_oversize_and_non_maps_locally() -> None:
    with pytest.raises(LocalProtocolError) as e:
        encode_frame({"b": b"x" * 200}, max_size=100)
    assert e.value.reason == "frame-too-large"
    with pytest.raises(LocalProtocolError):
        encode_frame([1, 2])  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError) as e:
        encode_frame({"s": {1, 2}})  # a set is not encodable
    assert e.value.reason == "unencodable"


def test_decode_payload_cap() -> None:
    with pytest.raises(RemoteProtocolError) as e:
        decode_payload(cbor2.dumps({"b": b"x" * 50}, canonical=True), max_size=10)
    assert e.value.reason == "frame-too-large"


def test_bad_max_size() -> None:
    with pytest.raises(ValueError):
        FrameDecoder(max_size=0)
    with pytest.raises(ValueError):
        FrameDecoder(max_size=2**32)


# -- fuzz ----------------------------------------------------------------------


@given(st.binary(max_size=300), st.integers(1, 64))
@settings(max_examples=600, deadline=None)
def test_fuzz_any_bytes_give_frames_or_a_typed_error(data: bytes, chunk: int) -> None:
    dec = FrameDecoder(max_size=256)
    try:
        for i in range(0, len(data), chunk):
            for frame in dec.feed(data[i : i + chunk]):
                assert isinstance(frame, dict)
                # anything accepted is canonical: it re-encodes to the same bytes
                assert len(encode_frame(frame)) - HEADER_SIZE <= 256
    except RemoteProtocolError as exc:
        assert exc.reason and exc.reason.startswith(("frame-", "decoder-"))


@given(st.binary(min_size=1, max_size=200))
@settings(max_examples=400, deadline=None)
def test_fuzz_framed_garbage_payloads(payload: bytes) -> None:
    dec = FrameDecoder()
    try:
        frames = dec.feed(raw_frame(payload))
    except RemoteProtocolError as exc:
        assert exc.reason and exc.reason.startswith("frame-")
    else:
        assert len(frames) == 1 and isinstance(frames[0], dict)
        assert encode_frame(frames[0]) == raw_frame(payload)  # only canonical bytes pass


@given(messages, st.binary(min_size=1, max_size=40))
@settings(max_examples=200, deadline=None)
def test_fuzz_valid_frame_then_garbage(msg: dict, garbage: bytes) -> None:
    dec = FrameDecoder()
    assert dec.feed(encode_frame(msg)) == [msg]
    try:
        dec.feed(garbage)
    except RemoteProtocolError:
        pass
    assert MAX_FRAME_SIZE == 4 * 1024 * 1024
