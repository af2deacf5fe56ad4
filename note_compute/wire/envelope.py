"""The request/reply envelope of ``/note/1.0.0`` (pure: no trio, no libp2p).

Frames on a stream (``->`` opener to acceptor; see ``specs/transport.md``)::

    -> {"hello": {"v": 1, "addr": "<opener's listen multiaddr>/p2p/<id>"}}   optional, first
    -> {"id": N, "req": {...}}        one request at a time, N a positive int
    <- {"id": N, "rep": {...}}        the reply; {"error": {...}} inside on failure
    <- {"fatal": {"code", "message", "reason"}}   the stream broke the protocol

Every parser here raises :class:`~note_compute.errors.RemoteProtocolError`
with a reason on input a peer should not have sent.
"""

from __future__ import annotations

from typing import Any

from ..errors import NoteError, RemoteProtocolError, error_from_code

__all__ = [
    "MAX_REQUEST_ID",
    "ENVELOPE_OVERHEAD",
    "MAX_HELLO_ADDR",
    "error_reply",
    "raise_if_error",
    "hello_frame",
    "hello_addr",
    "request_frame",
    "parse_request",
    "reply_frame",
    "fatal_frame",
    "parse_reply",
]

MAX_REQUEST_ID = 2**63 - 1
ENVELOPE_OVERHEAD = 64
"""Bytes a frame cap allows on top of a message for ``{"id": N, "req"/"rep": ...}``."""
MAX_HELLO_ADDR = 512


def error_reply(exc: NoteError) -> dict[str, Any]:
    """The wire form of a typed error: ``{"error": {"code", "message", "reason"}}``."""
    return {"error": {"code": exc.code, "message": exc.message, "reason": exc.reason}}


def raise_if_error(reply: dict[str, Any]) -> dict[str, Any]:
    """Return ``reply``, or raise the typed error it carries (RemoteProtocolError if malformed).

    Fields the error reply carries beside ``"error"`` (a ``seq-mismatch``'s signed record, a
    publisher-fault proof) travel on the raised error as ``attached``, unchecked.
    """
    if "error" not in reply:
        return reply
    err = reply["error"]  # present means an error reply, whatever else the map holds (transport.md 4)
    if (
        not isinstance(err, dict)
        or not isinstance(err.get("code"), str)
        or not isinstance(err.get("message", ""), str)
        or not isinstance(err.get("reason"), (str, type(None)))
    ):
        raise RemoteProtocolError("malformed error reply", reason="bad-error-reply")
    exc = error_from_code(err["code"], err.get("message", ""), err.get("reason"))
    exc.attached = {k: v for k, v in reply.items() if k != "error"}  # e.g. a seq hint's record (unchecked)
    raise exc


def hello_frame(addr: str) -> dict[str, Any]:
    """The opener's first frame: where it can be dialled back."""
    return {"hello": {"v": 1, "addr": addr}}


def hello_addr(hello: Any, peer_b58: str) -> str | None:
    """The advertised address in a hello, if it names the authenticated peer; else None."""
    if not isinstance(hello, dict):
        return None
    addr = hello.get("addr")
    if not isinstance(addr, str) or len(addr) > MAX_HELLO_ADDR or not addr.endswith("/p2p/" + peer_b58):
        return None
    return addr


def request_frame(rid: int, msg: dict[str, Any]) -> dict[str, Any]:
    return {"id": rid, "req": msg}


def parse_request(frame: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """``(id, message)`` of a request frame."""
    rid, req = frame.get("id"), frame.get("req")
    if type(rid) is not int or not 0 < rid <= MAX_REQUEST_ID or not isinstance(req, dict) or len(frame) != 2:
        raise RemoteProtocolError("a request frame is {id: positive int, req: map}", reason="bad-envelope")
    return rid, req


def reply_frame(rid: int, reply: dict[str, Any]) -> dict[str, Any]:
    return {"id": rid, "rep": reply}


def fatal_frame(exc: NoteError) -> dict[str, Any]:
    return {"fatal": error_reply(exc)["error"]}


def parse_reply(frame: dict[str, Any], rid: int) -> dict[str, Any]:
    """The reply map of a reply frame for request ``rid`` (a fatal frame raises)."""
    if "fatal" in frame:
        try:
            raise_if_error({"error": frame["fatal"]})
        except NoteError as exc:
            raise RemoteProtocolError(f"peer closed the stream: {exc}", reason="peer-fatal") from exc
        raise RemoteProtocolError("fatal frame without an error", reason="bad-envelope")
    got, rep = frame.get("id"), frame.get("rep")
    if got != rid or type(got) is not int or not isinstance(rep, dict) or len(frame) != 2:
        raise RemoteProtocolError("reply frame needs the request's id and a map rep", reason="bad-envelope")
    return rep
