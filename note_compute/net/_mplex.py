"""py-libp2p 0.8.1 mplex with bulk-sized frames (a muxer class for ``_p2p.build_host``).

Why. py-libp2p's mplex splits every stream write into 4,076-byte frames
(go-mplex's write ``ChunkSize``) and each frame becomes its own Noise message:
one encryption, one lock, one socket write, and on the other side one Noise
read, two byte-at-a-time varint reads and a hand-off to the reading task
through a channel of depth 1, which the muxer's read loop also slices into
4,096-byte pieces. A 256 KiB blob chunk is 65 frames, and the per-frame
Python work, not the bytes, bounds a connection's throughput (about 10 MB/s
on one core; ``benchmarks/bench_transfer.py``).

What changes. Writes go out in frames of up to :data:`FRAME_BODY` bytes,
sized so that one mplex frame (header, length and body) fits one Noise
message; received messages are handed to the stream whole. The wire format
is mplex's own: a frame body may be up to 1 MiB (go-mplex's and py-libp2p's
``MaxMessageSize``), so every mplex implementation reads these frames; only
their number changes. Everything else (stream ids, flags, the receive
timeout that resets a stream whose reader stalls, close and reset) is
py-libp2p's.
"""

from __future__ import annotations

from typing import Any

import trio

__all__ = ["FRAME_BODY", "bulk_mplex"]

FRAME_BODY = 65_519 - 16
"""Largest frame body written: a Noise message's plaintext (65,519) less room for the frame header and length."""


def bulk_mplex(base: type[Any]) -> type[Any]:
    """``base`` (py-libp2p's ``Mplex`` or a subclass) writing and delivering :data:`FRAME_BODY`-sized frames."""
    from libp2p.stream_muxer.mplex import mplex as _mplex_mod
    from libp2p.stream_muxer.mplex.exceptions import MplexStreamClosed, MplexUnavailable
    from libp2p.stream_muxer.mplex.mplex_stream import MplexStream

    receive_timeout = getattr(_mplex_mod, "RECEIVE_TIMEOUT_SECS", 5)
    channel_size = _mplex_mod.MPLEX_MESSAGE_CHANNEL_SIZE
    log = _mplex_mod.logger

    class BulkMplexStream(MplexStream):
        async def _do_write(self, data: bytes) -> None:
            async with self.rw_lock.write_lock():
                if self.event_local_closed.is_set():
                    raise MplexStreamClosed("cannot write to a closed stream")
                flag = self._get_header_flag("message")
                offset = 0
                while True:  # an empty write still sends one (empty) frame, as py-libp2p does
                    piece = data if len(data) <= FRAME_BODY else data[offset:offset + FRAME_BODY]
                    await self.muxed_conn.send_message(flag, piece, self.stream_id)
                    offset += len(piece)
                    if offset >= len(data):
                        return

    class BulkMplex(base):  # type: ignore[misc]
        async def _initialize_stream(self, stream_id: Any, name: str) -> Any:
            send_channel, receive_channel = trio.open_memory_channel[bytes](channel_size)
            stream = BulkMplexStream(name, stream_id, self, receive_channel)
            async with self.streams_lock:
                self.streams[stream_id] = stream
                self.streams_msg_channels[stream_id] = send_channel
            return stream

        async def _handle_message(self, stream_id: Any, message: bytes) -> None:
            # As py-libp2p's, but the message goes to the reader whole (it is at most 1 MiB,
            # already in memory), not in 4 KiB slices each waiting for the reader in turn.
            async with self.streams_lock:
                stream = self.streams.get(stream_id)
                send_channel = self.streams_msg_channels.get(stream_id)
            if stream is None or send_channel is None:
                log.warning("Received message for non-existent stream: %s", stream_id)
                return
            async with stream.close_lock:
                if stream.event_remote_closed.is_set():
                    log.warning("Received data from remote after stream was closed by them. (len = %d)",
                                len(message))
                    return
            try:
                with trio.fail_after(receive_timeout):
                    await send_channel.send(message)
            except trio.TooSlowError:
                log.warning("message channel of stream %s timed out waiting for reader: stream is reset", stream_id)
                await stream.reset()
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                raise MplexUnavailable from None

    BulkMplex.__name__ = BulkMplex.__qualname__ = base.__name__  # py-libp2p reports muxers by class name
    return BulkMplex
