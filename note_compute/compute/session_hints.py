"""The session's newer-seq hints: followed only when proven (pure; see :mod:`.hints`).

A peer that refuses with ``seq-mismatch`` and attaches the signed dataset
record of a newer seq has proven that version exists: the session checks the
record (:func:`.hints.check_hint`) and asks the driver to move there
(``Refresh`` with the record; the query restarts on the Manifest fed back,
:attr:`~.session.QuerySession.newer`). A claim without a record that passes
(none, forged, another dataset's, an old one replayed) is ignored and
counted (``Verification.hints_ignored``): the shard simply moves on to its
next replica. A proven newer version that cannot be loaded fails the query
(never an answer from the older version).
"""

from __future__ import annotations

from typing import Any

from ..errors import NoteError
from .actions import Action, Refresh, peer_id_of
from .dataset import Manifest
from .hints import check_hint, claimed_seq, hint_of
from .result import Verification

__all__ = ["SeqHints"]


class SeqHints:
    """Mixin for :class:`~.session.QuerySession` (uses its ``manifest``, ``v``, ``newer``, ``_out``, ``_new_tag``)."""

    manifest: Manifest
    v: Verification
    newer: Manifest | None
    _out: list[Action]
    _hint: tuple[int, str] | None
    _refreshing: int | None

    def _new_tag(self, kind: str, ctx: Any) -> int:
        raise NotImplementedError

    def _seq_hint(self, exc: NoteError, peer: Any) -> None:
        """A peer refused for another seq: follow it only if it proved a newer one (``.hints``)."""
        pid = peer_id_of(peer)
        who = pid.hex()[:16] if pid else "a peer"
        data = hint_of(exc)
        if data is None:
            claimed = claimed_seq(exc)
            if claimed is not None and claimed > self.manifest.seq:  # a claim without proof: not trusted
                self.v.hints_ignored += 1
                self.v.failures.append(f"peer {who} claims dataset seq {claimed} without its signed record: ignored")
            return
        try:
            record = check_hint(data, self.manifest)
        except NoteError as bad:
            self.v.hints_ignored += 1
            self.v.failures.append(f"peer {who} sent a newer-seq hint that does not hold: {bad}; ignored")
            return
        self._want_refresh(record.seq, who, record.encode())

    def _want_refresh(self, hinted: int, who: str, record: bytes) -> None:
        if self._hint is None or hinted > self._hint[0]:
            self._hint = (hinted, who)
        if self._refreshing is None or hinted > self._refreshing:
            self._refreshing = hinted
            self._out.append(Refresh(self._new_tag("refresh", hinted), self.manifest.url, hinted, record))

    def _on_refresh(self, manifest: Manifest | None) -> None:
        self._refreshing = None
        if manifest is not None and manifest.seq > self.manifest.seq:
            self.newer = manifest
            return
        if self._hint is not None and self._hint[0] > self.manifest.seq:
            # A signed newer version exists (proven) but could not be loaded: never answer from the older one.
            self.v.suspicions.append(f"peer {self._hint[1]} proved dataset seq {self._hint[0]} exists (signed by its "
                                     f"authority), but it could not be loaded: the answer would be stale")
            self.v.ok = False
            self.v.errors.append(f"a newer dataset version (seq {self._hint[0]}) exists but could not be loaded")
            self._hint = None
