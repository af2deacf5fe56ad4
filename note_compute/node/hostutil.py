"""Open a NetHost without losing the block's exception.

``net.open_host`` cancels its own nursery while closing; a trio
``Cancelled`` raised during that clean-up can replace an exception leaving
the ``async with`` block, and the nursery then absorbs it: the caller sees
a normal exit. :func:`open_host_strict` re-raises the block's exception in
that case (reported to the net owner; remove once fixed there).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import trio

__all__ = ["open_host_strict"]


@asynccontextmanager
async def open_host_strict(seed: bytes, listen: Sequence[str], **kwargs: Any) -> AsyncIterator[Any]:
    """Like :func:`note_compute.net.open_host`, but an exception in the block always propagates."""
    from ..net import open_host

    err: BaseException | None = None
    async with open_host(seed, listen, **kwargs) as host:
        try:
            yield host
        except BaseException as exc:
            err = exc
            raise
    if err is not None and not isinstance(err, trio.Cancelled):
        raise err
