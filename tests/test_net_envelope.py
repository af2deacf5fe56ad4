"""The request/reply envelope (pure): parsing refusals and error round trips."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from note_compute.errors import (
    Equivocation,
    InternalError,
    NoteError,
    NotFound,
    RemoteProtocolError,
    StaleRecord,
)
from note_compute.wire.envelope import (
    MAX_REQUEST_ID,
    error_reply,
    fatal_frame,
    hello_addr,
    parse_reply,
    parse_request,
    raise_if_error,
    reply_frame,
    request_frame,
)

B58 = "12D3KooWExample"


def test_request_round_trip_and_refusals() -> None:
    assert parse_request(request_frame(7, {"op": "x"})) == (7, {"op": "x"})
    assert parse_request(request_frame(MAX_REQUEST_ID, {}))[0] == MAX_REQUEST_ID
    for bad in [
        {"id": 0, "req": {}},
        {"id": -1, "req": {}},
        {"id": MAX_REQUEST_ID + 1, "req": {}},
        {"id": True, "req": {}},
        {"id": "1", "req": {}},
        {"id": 1, "req": [1]},
        {"id": 1},
        {"req": {}},
        {"id": 1, "req": {}, "extra": 1},
    ]:
        with pytest.raises(RemoteProtocolError) as e:
            parse_request(bad)
        assert e.value.reason == "bad-envelope"


def test_reply_must_match_the_request_id() -> None:
    assert parse_reply(reply_frame(3, {"ok": 1}), 3) == {"ok": 1}
    for bad in [reply_frame(4, {}), {"id": 3}, {"id": 3, "rep": 5}, {"id": 3, "rep": {}, "x": 0}, {}]:
        with pytest.raises(RemoteProtocolError) as e:
            parse_reply(bad, 3)
        assert e.value.reason == "bad-envelope"


def test_fatal_frame_becomes_a_protocol_error() -> None:
    with pytest.raises(RemoteProtocolError) as e:
        parse_reply(fatal_frame(RemoteProtocolError("bad", reason="frame-empty")), 1)
    assert e.value.reason == "peer-fatal" and "frame-empty" in str(e.value)
    with pytest.raises(RemoteProtocolError) as e:
        parse_reply({"fatal": {"code": 1}}, 1)
    assert e.value.reason == "peer-fatal"


@pytest.mark.parametrize(
    "exc", [NotFound("gone", reason="no-entry"), StaleRecord("old"), Equivocation("two", reason="equivocation"),
            InternalError("x", reason="handler-crashed"), NoteError("plain")]
)
def test_error_replies_round_trip_to_the_same_class(exc: NoteError) -> None:
    with pytest.raises(type(exc)) as e:
        raise_if_error(error_reply(exc))
    assert type(e.value) is type(exc)
    assert (e.value.message, e.value.reason) == (exc.message, exc.reason)


def test_unknown_code_gives_a_plain_note_error() -> None:
    with pytest.raises(NoteError) as e:
        raise_if_error({"error": {"code": "from-the-future", "message": "m", "reason": None}})
    assert type(e.value) is NoteError and e.value.message == "m"


@pytest.mark.parametrize(
    "err", [5, {"message": "m"}, {"code": 1}, {"code": "x", "message": 2}, {"code": "x", "reason": 3}]
)
def test_malformed_error_reply(err: object) -> None:
    with pytest.raises(RemoteProtocolError) as e:
        raise_if_error({"error": err})
    assert e.value.reason == "bad-error-reply"


def test_plain_reply_passes() -> None:
    assert raise_if_error({"ok": True}) == {"ok": True}


def test_hello_address_must_name_the_authenticated_peer() -> None:
    good = f"/ip4/10.0.0.1/tcp/4001/p2p/{B58}"
    assert hello_addr({"v": 1, "addr": good}, B58) == good
    assert hello_addr({"v": 1, "addr": "/ip4/10.0.0.1/tcp/4001/p2p/12D3KooWOther"}, B58) is None
    assert hello_addr({"v": 1, "addr": "/ip4/1.2.3.4/tcp/1" + "/x" * 300 + f"/p2p/{B58}"}, B58) is None
    assert hello_addr({"v": 1, "addr": 5}, B58) is None
    assert hello_addr("not a map", B58) is None


@given(st.dictionaries(st.text(max_size=4), st.integers() | st.text(max_size=4) | st.none(), max_size=4))
@settings(max_examples=200, deadline=None)
def test_fuzz_envelopes_parse_or_raise_typed(frame: dict) -> None:
    for parse in (parse_request, lambda f: parse_reply(f, 1)):
        try:
            parse(frame)
        except RemoteProtocolError:
            pass
