"""The request/reply envelope: now declared in :mod:`note_compute.wire.envelope` (re-exported here)."""

from __future__ import annotations

from ..wire.envelope import (
    ENVELOPE_OVERHEAD,
    MAX_HELLO_ADDR,
    MAX_REQUEST_ID,
    error_reply,
    fatal_frame,
    hello_addr,
    hello_frame,
    parse_reply,
    parse_request,
    raise_if_error,
    reply_frame,
    request_frame,
)

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
