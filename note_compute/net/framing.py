"""Length-prefixed canonical-CBOR frames (pure, no I/O).

Theory of operation
-------------------
A frame on a ``/note/1.0.0`` stream is::

    +----------------------+--------------------------------------+
    | length: uint32 (BE)  | payload: `length` bytes of canonical |
    |                      | CBOR, a map (see specs/transport.md) |
    +----------------------+--------------------------------------+

The receiver checks ``length`` against its cap *before* buffering the
payload, so a peer announcing a 4 GiB frame costs us four bytes, not four
gigabytes. A zero length is refused (the empty string is not CBOR). The
payload is decoded with :func:`note_compute.encoding.decode`, which refuses
anything non-canonical; the top-level value must be a map.

:class:`FrameDecoder` is incremental in the style of h11: feed it whatever
bytes arrived (any split, any number of frames) and it returns the complete
frames so far. The first bad frame raises
:class:`~note_compute.errors.RemoteProtocolError` with a ``reason``; after
that the byte stream has lost its framing and the decoder refuses further
input (the caller resets the stream).
"""

from __future__ import annotations

import struct
from typing import Any

from .. import encoding
from ..errors import InvalidEncoding, LocalProtocolError, RemoteProtocolError

__all__ = [
    "HEADER_SIZE",
    "MAX_FRAME_SIZE",
    "MAX_REQUEST_FRAME_SIZE",
    "MAX_DEPTH",
    "encode_frame",
    "decode_payload",
    "FrameDecoder",
]

HEADER_SIZE = 4
MAX_FRAME_SIZE = 4 * 1024 * 1024
"""Default cap on one frame's payload (replies may carry a few blob chunks)."""
MAX_REQUEST_FRAME_SIZE = 1024 * 1024 + 16 * 1024
"""Cap on a request a node accepts from a peer: one maximal store entry (1 MiB) plus its envelope."""
MAX_DEPTH = 16
"""CBOR nesting cap for frames: messages are shallow maps."""

_HEADER = struct.Struct(">I")


def encode_frame(msg: dict[str, Any], *, max_size: int = MAX_FRAME_SIZE) -> bytes:
    """Encode ``msg`` (a map) as one frame. Raises LocalProtocolError if it is over ``max_size``."""
    if not isinstance(msg, dict):
        raise LocalProtocolError("a frame carries a CBOR map", reason="not-a-map")
    try:
        payload = encoding.encode(msg)
    except InvalidEncoding as exc:
        raise LocalProtocolError(f"message cannot be encoded: {exc}", reason="unencodable") from exc
    if len(payload) > max_size:
        raise LocalProtocolError(
            f"frame payload is {len(payload)} bytes, over the {max_size}-byte cap", reason="frame-too-large"
        )
    return _HEADER.pack(len(payload)) + payload


def decode_payload(payload: bytes, *, max_size: int = MAX_FRAME_SIZE) -> dict[str, Any]:
    """Decode one frame payload (without header); raises RemoteProtocolError."""
    if len(payload) > max_size:
        raise RemoteProtocolError(
            f"frame payload is {len(payload)} bytes, over the {max_size}-byte cap", reason="frame-too-large"
        )
    try:
        value = encoding.decode(payload, max_size=max_size, max_depth=MAX_DEPTH)
    except InvalidEncoding as exc:
        raise RemoteProtocolError(f"bad frame payload: {exc.message}", reason=f"frame-{exc.reason}") from exc
    if not isinstance(value, dict):
        raise RemoteProtocolError(
            f"frame payload is a {type(value).__name__}, expected a map", reason="frame-not-a-map"
        )
    return value


class FrameDecoder:
    """Incremental frame decoder: ``feed(bytes) -> list[dict]``.

    ``max_size`` caps each payload and is checked from the 4-byte header,
    before any payload is buffered. After a :class:`RemoteProtocolError` the
    decoder is *broken* and every later ``feed`` raises again (reason
    ``"decoder-broken"``).
    """

    __slots__ = ("max_size", "_buf", "_need", "_broken")

    def __init__(self, max_size: int = MAX_FRAME_SIZE) -> None:
        if not 0 < max_size < 2**32:
            raise ValueError("max_size must be in 1 .. 2**32 - 1")
        self.max_size = max_size
        self._buf = bytearray()
        self._need: int | None = None  # payload length once a header was read
        self._broken = False

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._buf)

    @property
    def at_boundary(self) -> bool:
        """True when no partial frame is buffered (a clean place for EOF)."""
        return not self._buf and self._need is None

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        """Add received bytes; return every frame completed by them, in order."""
        if self._broken:
            raise RemoteProtocolError("stream framing was already broken", reason="decoder-broken")
        self._buf += data
        frames: list[dict[str, Any]] = []
        try:
            while True:
                if self._need is None:
                    if len(self._buf) < HEADER_SIZE:
                        break
                    (n,) = _HEADER.unpack_from(self._buf)
                    if n == 0:
                        raise RemoteProtocolError("zero-length frame", reason="frame-empty")
                    if n > self.max_size:
                        raise RemoteProtocolError(
                            f"peer announced a {n}-byte frame, over the {self.max_size}-byte cap",
                            reason="frame-too-large",
                        )
                    del self._buf[:HEADER_SIZE]
                    self._need = n
                if len(self._buf) < self._need:
                    break
                payload = bytes(self._buf[: self._need])
                del self._buf[: self._need]
                self._need = None
                frames.append(decode_payload(payload, max_size=self.max_size))
        except RemoteProtocolError:
            self._broken = True
            self._buf.clear()
            raise
        return frames

    def eof(self) -> None:
        """Signal end of stream; raises RemoteProtocolError if a frame was cut short."""
        if not self.at_boundary and not self._broken:
            self._broken = True
            raise RemoteProtocolError("stream ended inside a frame", reason="frame-truncated")
