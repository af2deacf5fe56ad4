"""Acting on evidence someone else found: check any stored fraud proof against a peer, at a bounded cost.

A client (or a node storing evidence) needs no list of trusted reporters and
no prior use of the program: :class:`AccusationChecker` takes the encoded
proofs the ring holds against a peer and convicts on the first one that
:func:`~.fraud.verify_fraud_proof` accepts, loading what the proof names:

* the program binary by its hash (``receipt.program``), from the caller's
  cache of resolved programs or as the content-addressed chunk at that hash
  (``get_value``; binaries up to one 256 KiB blob chunk), checked by hash;
* the whole shard (``proof.blob``) for ``range`` and ``shard`` proofs
  (``get_blob``; checked against the receipt's root and count by the verifier).

Cost bound (``specs/compute.md`` 5.2). Per call, at most
:data:`MAX_CHECKS` proofs are checked, each at most once per checker's life
(proofs that do not convict are remembered by hash and skipped), and each
check costs at most: one program fetch (<= 256 KiB, cached by hash), one
shard fetch (<= 16 MiB decoded; 240 KiB by default), and one program run
with the program's fuel when the caller knows it, else
:data:`~.fraud.DEFAULT_FUEL`. Proofs are taken in the order given
(first-seen order of the evidence set): the accused cannot reorder them.

No trio import: the fetchers are plain async callables.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from ..errors import NoteError, NotFound
from .dataset import decode_shard
from .fraud import DEFAULT_FUEL, FraudProof, shard_needed, verify_fraud_proof
from .protocol import Receipt

__all__ = ["MAX_CHECKS", "AccusationChecker"]

MAX_CHECKS = 4
"""Most unseen proofs checked per :meth:`AccusationChecker.first_conviction` call."""
MAX_REFUTED = 4096


class AccusationChecker:
    """Convict a peer on any valid stored proof (see the module docstring)."""

    def __init__(self, sandbox: Any, *, get_value: Callable[[bytes], Awaitable[bytes]] | None,
                 get_blob: Callable[[bytes], Awaitable[bytes]] | None,
                 programs: Callable[[], dict[bytes, tuple[bytes, int]]] | None = None,
                 max_checks: int = MAX_CHECKS) -> None:
        """``programs()`` returns the binaries the caller already holds: ``{hash: (wasm, fuel)}``."""
        self.sandbox = sandbox
        self.get_value = get_value
        self.get_blob = get_blob
        self.programs = programs
        self.max_checks = max_checks
        self.refuted: set[bytes] = set()
        self._binaries: dict[bytes, bytes] = {}
        self.checked = 0  # proofs checked in this checker's life (for the cost figures)

    async def _program(self, phash: bytes) -> tuple[bytes, int]:
        known = self.programs() if self.programs is not None else {}
        if phash in known:
            return known[phash]
        if phash not in self._binaries:
            if self.get_value is None:
                raise NotFound("no way to fetch a program binary by hash", reason="program-binary")
            wasm = await self.get_value(phash)
            if hashlib.sha256(wasm).digest() != phash:
                raise NotFound("the fetched program binary does not hash to the receipt's program",
                               reason="program-binary")
            self._binaries[phash] = wasm
        return self._binaries[phash], DEFAULT_FUEL

    async def check(self, proof: FraudProof) -> str:
        """Verify one proof with everything it names; return the lie or raise a NoteError."""
        wasm, fuel = await self._program(Receipt.decode(proof.receipt)["program"])
        shard = None
        blob = shard_needed(proof)
        if blob is not None:
            if self.get_blob is None:
                raise NotFound("no way to fetch the shard a proof names", reason="shard-blob")
            shard = decode_shard(await self.get_blob(blob))
        self.checked += 1
        return verify_fraud_proof(proof, self.sandbox, wasm, fuel=fuel, shard=shard)

    async def first_conviction(
        self, peer_id: bytes, proofs: Iterable[bytes | FraudProof]
    ) -> tuple[FraudProof, str] | None:
        """The first proof (in the order given) that convicts ``peer_id``, or None; at most ``max_checks`` checked."""
        budget = self.max_checks
        for item in proofs:
            if budget <= 0:
                break
            try:
                proof = item if isinstance(item, FraudProof) else FraudProof.decode(item)
                if proof.peer != peer_id or proof.address in self.refuted:
                    continue
            except NoteError:
                continue
            budget -= 1
            try:
                return proof, await self.check(proof)
            except NoteError:
                if len(self.refuted) < MAX_REFUTED:
                    self.refuted.add(proof.address)
        return None
