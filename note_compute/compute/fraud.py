"""Fraud proofs: a peer's signed lie, made checkable by anyone (pure).

A :class:`FraudProof` holds a peer's signed receipt, the output the peer
claimed (leaf indices, record digests, extra bytes: exactly what the
receipt's result digest covers), the query arguments, and evidence: records
of the shard proven against the shard root *named in the receipt*.
:func:`verify_fraud_proof` re-runs the public program on that evidence and
returns a short string naming the lie, or raises
:class:`~note_compute.errors.InvalidProof` (reason ``not-fraud``) when the
proof does not prove one. It never convicts an honest receipt.

Two kinds (``specs/compute.md`` section 5):

``range``
    The receipt covers a sort-key range query; the evidence is a key-range
    proof for that range over the receipt's shard root, i.e. *every* record
    the program had to see. Re-running it must reproduce the signed result
    digest bit for bit; any difference is a lie (hidden match, injected or
    altered record, wrong program, wrong extra output).
``subset``
    The receipt covers a whole-shard (predicate) query; the evidence is a set
    T of proven records that includes every index the peer claimed. Lies it
    proves: a claimed digest that is not the proven leaf's digest (forged
    record); a claimed index outside the shard; or ``P(T) != claimed
    indices``. The last rests on the *subset-stability* rule programs used
    for predicate queries must follow (filter, then sort, then limit, ties
    by input order all qualify): if ``C = P(S)`` and ``C <= T <= S`` then
    ``P(T) = C``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from .. import encoding
from ..errors import InvalidEncoding, InvalidProof, NoteError
from ..merkle import BatchProof, KeyRangeProof, verify_batch, verify_key_range
from ..sandbox.abi import pack_input, unpack_output
from .dataset import fast_key_of_record
from .keys import normalize_bound
from .protocol import Receipt, args_digest, digest_of_claim, record_digests

__all__ = ["FraudProof", "Evidence", "verify_fraud_proof", "KIND_RANGE", "KIND_SUBSET", "MAX_FRAUD_PROOF",
           "DEFAULT_FUEL"]

KIND_RANGE = "range"
KIND_SUBSET = "subset"
MAX_FRAUD_PROOF = 8 * 1024 * 1024
DEFAULT_FUEL = 2_000_000_000


def _not_fraud(msg: str) -> InvalidProof:
    return InvalidProof(f"not a proof of fraud: {msg}", reason="not-fraud")


@dataclass(frozen=True)
class Evidence:
    """Records at ``indices`` of the receipt's shard with one batch proof."""

    indices: list[int]
    records: list[bytes]
    proof: bytes

    def to_value(self) -> dict[str, Any]:
        return {"indices": list(self.indices), "records": list(self.records), "proof": self.proof}


@dataclass(frozen=True)
class FraudProof:
    """Receipt + claimed output + proven records (see the module docstring)."""

    kind: str
    receipt: bytes
    args: bytes
    indices: list[int]
    digests: list[bytes]
    extra: bytes
    evidence: list[Evidence] = field(default_factory=list)
    range_proof: bytes = b""

    @property
    def peer(self) -> bytes:
        """The accused peer's node id (from the receipt)."""
        return Receipt.decode(self.receipt).peer

    def encode(self) -> bytes:
        return encoding.encode({"type": "fraud", "v": 1, "kind": self.kind, "receipt": self.receipt,
                                "args": self.args, "indices": list(self.indices), "digests": list(self.digests),
                                "extra": self.extra, "evidence": [e.to_value() for e in self.evidence],
                                "range_proof": self.range_proof})

    @property
    def address(self) -> bytes:
        """Content address (SHA-256 of the encoding)."""
        return hashlib.sha256(self.encode()).digest()

    @classmethod
    def decode(cls, data: bytes) -> FraudProof:
        """Strict structural decode; raises InvalidEncoding / InvalidProof (reason ``malformed``)."""
        v = encoding.decode(data, max_size=MAX_FRAUD_PROOF, max_depth=6)

        def need(cond: bool, what: str) -> None:
            if not cond:
                raise InvalidProof(f"malformed fraud proof: {what}", reason="malformed")

        need(isinstance(v, dict) and set(v) == {"type", "v", "kind", "receipt", "args", "indices", "digests", "extra",
                                                "evidence", "range_proof"}, "fields")
        need(v["type"] == "fraud" and v["v"] == 1 and v["kind"] in (KIND_RANGE, KIND_SUBSET), "type/kind")
        need(all(type(v[f]) is bytes for f in ("receipt", "args", "extra", "range_proof")), "byte fields")
        need(isinstance(v["indices"], list) and all(type(i) is int and i >= 0 for i in v["indices"]), "indices")
        need(isinstance(v["digests"], list) and len(v["digests"]) == len(v["indices"])
             and all(type(d) is bytes and len(d) == 32 for d in v["digests"]), "digests")
        need(isinstance(v["evidence"], list), "evidence")
        ev = []
        for e in v["evidence"]:
            need(isinstance(e, dict) and set(e) == {"indices", "records", "proof"}, "evidence fields")
            need(isinstance(e["indices"], list) and isinstance(e["records"], list)
                 and len(e["indices"]) == len(e["records"]) and type(e["proof"]) is bytes, "evidence shape")
            need(all(type(i) is int and i >= 0 for i in e["indices"]) and all(type(r) is bytes for r in e["records"]),
                 "evidence items")
            ev.append(Evidence(e["indices"], e["records"], e["proof"]))
        return cls(v["kind"], v["receipt"], v["args"], v["indices"], v["digests"], v["extra"], ev, v["range_proof"])


def _run(sandbox: Any, wasm: bytes, args: bytes, records: list[bytes], fuel: int) -> tuple[list[int], bytes]:
    try:
        result = sandbox.run(wasm, pack_input(args, records), fuel=fuel)
        return unpack_output(result.output, len(records))
    except NoteError as exc:
        raise _not_fraud(f"re-running the program failed: {exc}") from exc


def verify_fraud_proof(proof: FraudProof, sandbox: Any, program_wasm: bytes, *, fuel: int = DEFAULT_FUEL) -> str:
    """Check that ``proof`` proves a lie by the receipt's signer; return what the lie was.

    Raises InvalidProof(reason="not-fraud") when it does not, and
    InvalidSignature when the receipt's signature is bad.
    """
    try:
        receipt = Receipt.decode(proof.receipt)
    except NoteError as exc:
        raise _not_fraud(f"bad receipt: {exc}") from exc
    receipt.verify()
    if hashlib.sha256(program_wasm).digest() != receipt["program"]:
        raise _not_fraud("the program binary is not the one the receipt names")
    if args_digest(proof.args) != receipt["args"]:
        raise _not_fraud("the arguments are not the ones the receipt names")
    if len(proof.digests) != len(proof.indices):
        raise _not_fraud("claimed output is inconsistent")
    if digest_of_claim(proof.indices, proof.digests, proof.extra) != receipt["result"]:
        raise _not_fraud("the claimed output is not the one the receipt signs")
    root, count = receipt["shard_root"], receipt["count"]
    if proof.kind == KIND_RANGE:
        return _verify_range(proof, receipt, sandbox, program_wasm, fuel)
    if receipt["range"] is not None:
        raise _not_fraud("a subset proof needs a whole-shard receipt")
    if any(i >= count for i in proof.indices):
        return "claimed-index-outside-shard"
    proven: dict[int, bytes] = {}
    for ev in proof.evidence:
        try:
            bp = BatchProof.decode(ev.proof)
            verify_batch(root, count, dict(zip(ev.indices, ev.records, strict=False)), bp)
        except (InvalidProof, InvalidEncoding) as exc:
            raise _not_fraud(f"evidence does not verify against the receipt's shard root: {exc}") from exc
        if len(set(ev.indices)) != len(ev.indices):
            raise _not_fraud("evidence repeats an index")
        proven.update(zip(ev.indices, ev.records, strict=False))
    for i, d in zip(proof.indices, proof.digests, strict=False):
        if i in proven and hashlib.sha256(proven[i]).digest() != d:
            return "forged-record"
    if any(i not in proven for i in proof.indices):
        raise _not_fraud("evidence must include every record the peer claimed")
    order = sorted(proven)
    rel, _extra = _run(sandbox, program_wasm, proof.args, [proven[i] for i in order], fuel)
    got = [order[j] for j in rel]
    if got != list(proof.indices):
        hidden = set(got) - set(proof.indices)
        if hidden:
            return "hidden-match"
        if set(proof.indices) - set(got):
            return "non-match-returned"
        return "wrong-order"
    raise _not_fraud("the program's output on the evidence agrees with the claim")


def _verify_range(proof: FraudProof, receipt: Receipt, sandbox: Any, wasm: bytes, fuel: int) -> str:
    rng = receipt["range"]
    if rng is None:
        raise _not_fraud("a range proof needs a range receipt")
    fields = list(receipt["sort_key"])
    if not fields:
        raise _not_fraud("receipt names no sort key")
    try:
        lo = normalize_bound(rng[0], fields, upper=False)
        hi = normalize_bound(rng[1], fields, upper=True)
        krp = KeyRangeProof.decode(proof.range_proof)
        start, leaves = verify_key_range(receipt["shard_root"], receipt["count"], lo, hi, krp,
                                         lambda leaf: fast_key_of_record(leaf, fields))
    except NoteError as exc:
        raise _not_fraud(f"range evidence does not verify: {exc}") from exc
    leaves = list(leaves)
    rel, extra = _run(sandbox, wasm, proof.args, leaves, fuel)
    got = [start + j for j in rel]
    recs = [leaves[j] for j in rel]
    if digest_of_claim(got, record_digests(recs), extra) == receipt["result"]:
        raise _not_fraud("re-running the program reproduces the signed result")
    if set(got) - set(proof.indices):
        return "hidden-match"
    if set(proof.indices) - set(got):
        return "non-match-returned"
    claimed = dict(zip(proof.indices, proof.digests, strict=False))
    if any(claimed[i] != d for i, d in zip(got, record_digests(recs), strict=False)):
        return "forged-record"
    return "wrong-output"
