"""Fraud proofs: a peer's signed lie, made checkable by anyone (pure).

A :class:`FraudProof` holds a peer's signed receipt, the output the peer
claimed (leaf indices, record digests, extra bytes: exactly what the
receipt's result digest covers), the query arguments, and evidence: records
of the shard proven against the shard root *named in the receipt*.
:func:`verify_fraud_proof` returns a short string naming the lie, or raises
:class:`~note_compute.errors.InvalidProof` when the proof does not prove one.

Eligibility: what may convict (``specs/compute.md`` section 5.0)
------------------------------------------------------------------
A proof convicts only if it shows that the peer's own signed output
contradicts **well-formed data** (:mod:`.wellformed`), and only in one of
three ways, none of which depends on what the program is like:

1. **program-independent lies** (any evidence): a claimed index outside the
   shard (``claimed-index-outside-shard``), or a claimed digest that is not
   the digest of the proven record at that index (``forged-record``);
2. **exact re-execution** on the very input the peer signed over, so *every*
   deterministic ABI-v1 program is eligible, subset-stable or not, the
   attacker's own included:

   ``range``   the receipt covers a sort-key range; the evidence is the
               key-range proof for that range, i.e. every record the
               program saw, and ``blob``, the content address of the whole
               shard, which the verifier loads (:func:`shard_needed`) and
               checks: exactly ``count`` records hashing to the receipt's
               ``shard_root``, canonical and strictly increasing by
               ``(key, bytes)``. On a well-formed shard the window is the
               only one for its range, so the peer ran on exactly these
               records (in a malformed shard one range can have two windows
               that both verify: such data convicts nobody);
   ``shard``   the receipt covers a whole shard; the verifier re-runs the
               program on *the whole shard*, which it loads itself from the
               content address ``blob`` the proof names (checked: exactly
               ``count`` records hashing to the receipt's ``shard_root``, in
               strict order); :func:`shard_needed` tells the caller what to
               fetch;
   ``subset``  with evidence proving every leaf ``0..count-1``: the same as
               ``shard`` with the records inline (small shards).

   Re-running must not reproduce the signed result digest; the lie is named
   ``hidden-match``, ``non-match-returned``, ``forged-record``,
   ``wrong-order`` or ``wrong-output`` (indices right, ``extra`` wrong).

A ``subset`` proof with partial evidence that would need the program to be
subset-stable (``P(T) != claim`` for a sample T) **never convicts**
(reason ``ineligible``): an attacker can publish a program that is not
subset-stable, declared or not, and frame every honest peer that ran it. A
client that finds such a mismatch turns it into a ``shard`` proof
(:func:`shard_proof`). Data that is not well formed never convicts either
(reason ``malformed-dataset``): it is the publisher's fault
(:class:`~.wellformed.PublisherFault`).

Every signed value is compared by canonical encoding (:mod:`.strict`).
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import encoding
from ..errors import InvalidEncoding, InvalidProof, NoteError, RemoteProtocolError
from ..merkle import (
    BatchProof,
    KeyRangeProof,
    merkle_root,
    verify_batch,
    verify_key_range,
)
from ..sandbox.abi import pack_input, unpack_output
from ..wire.fraud import KIND_RANGE, KIND_SHARD, KIND_SUBSET, KINDS, MAX_FRAUD_PROOF, parse_fraud_proof
from .dataset import fast_key_of_record
from .keys import normalize_bound
from .protocol import Receipt, args_digest, digest_of_claim, record_digests
from .strict import same
from .wellformed import MALFORMED, MalformedDataset, check_order

__all__ = ["DEFAULT_FUEL", "KINDS", "KIND_RANGE", "KIND_SHARD", "KIND_SUBSET", "MAX_FRAUD_PROOF",
           "OUTPUT_NOT_REPRODUCED", "Evidence", "FraudProof", "claim_omitted", "shard_needed", "shard_proof",
           "verify_fraud_proof", "without_claim"]

OUTPUT_NOT_REPRODUCED = "output-not-reproduced"
DEFAULT_FUEL = 2_000_000_000


def _not_fraud(msg: str, reason: str = "not-fraud") -> InvalidProof:
    return InvalidProof(f"not a proof of fraud: {msg}", reason=reason)


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
    """Receipt + claimed output + proven records (see the module docstring).

    ``blob`` (kind ``shard`` only) is the content address of the shard blob
    the verifier loads and re-runs the program on.
    """

    kind: str
    receipt: bytes
    args: bytes
    indices: list[int]
    digests: list[bytes]
    extra: bytes
    evidence: list[Evidence] = field(default_factory=list)
    range_proof: bytes = b""
    blob: bytes = b""

    @property
    def peer(self) -> bytes:
        """The accused peer's node id (from the receipt)."""
        return Receipt.decode(self.receipt).peer

    def encode(self) -> bytes:
        value: dict[str, Any] = {"type": "fraud", "v": 1, "kind": self.kind, "receipt": self.receipt,
                                 "args": self.args, "indices": list(self.indices), "digests": list(self.digests),
                                 "extra": self.extra, "evidence": [e.to_value() for e in self.evidence],
                                 "range_proof": self.range_proof}
        if self.kind == KIND_SHARD or self.blob:
            value["blob"] = self.blob
        return encoding.encode(value)

    @property
    def address(self) -> bytes:
        """Content address (SHA-256 of the encoding)."""
        return hashlib.sha256(self.encode()).digest()

    @classmethod
    def decode(cls, data: bytes) -> FraudProof:
        """Strict decode, checked by :data:`note_compute.wire.fraud.FRAUD_PROOF`; raises InvalidEncoding /
        InvalidProof (reason ``malformed``)."""
        try:
            m = parse_fraud_proof(encoding.decode(data, max_size=MAX_FRAUD_PROOF, max_depth=6))
        except RemoteProtocolError as exc:
            raise InvalidProof(f"malformed fraud proof: {exc.message}", reason="malformed") from None
        ev = [Evidence(e["indices"], e["records"], e["proof"]) for e in m["evidence"]]
        return cls(m["kind"], m["receipt"], m["args"], m["indices"], m["digests"], m["extra"], ev, m["range_proof"],
                   m.get("blob", b""))


def claim_omitted(proof: FraudProof) -> bool:
    """True for a re-execution proof (``range`` / ``shard`` naming a blob) that leaves the claimed output out.

    Re-execution compares the re-run's digest with the receipt's signed
    ``result`` directly, so the claim (indices, digests, extra: ~35 bytes per
    returned index) is needed only to *name* the lie; leaving it out
    (all three empty) keeps a proof about a large answer under the evidence
    cap. An empty claim that does hash to the signed result is the real claim.
    """
    return (proof.kind in (KIND_RANGE, KIND_SHARD) and len(proof.blob) == 32 and not proof.indices
            and not proof.digests and proof.extra == b"")


def without_claim(proof: FraudProof) -> FraudProof:
    """The same re-execution proof with its claimed output left out (:func:`claim_omitted`)."""
    if proof.kind not in (KIND_RANGE, KIND_SHARD) or len(proof.blob) != 32:
        raise ValueError("only a range or shard proof naming its blob can leave its claim out")
    return FraudProof(proof.kind, proof.receipt, proof.args, [], [], b"", [], b"", proof.blob)


def shard_needed(proof: FraudProof) -> bytes | None:
    """The shard blob address a verifier must load before :func:`verify_fraud_proof` (kinds ``range`` and
    ``shard``), or None."""
    return proof.blob if proof.kind in (KIND_RANGE, KIND_SHARD) and proof.blob else None


def shard_proof(proof: FraudProof, blob: bytes) -> FraudProof:
    """The same accusation, checkable on the whole shard stored at ``blob``: a ``range`` proof naming the
    blob, or (whole-shard receipts) a ``shard`` proof without evidence."""
    if proof.kind == KIND_RANGE:  # the verifier cuts the window from the shard: no key-range proof needed
        return FraudProof(KIND_RANGE, proof.receipt, proof.args, list(proof.indices), list(proof.digests),
                          proof.extra, [], b"", blob)
    return FraudProof(KIND_SHARD, proof.receipt, proof.args, list(proof.indices), list(proof.digests), proof.extra,
                      [], b"", blob)


def _load(shard: Sequence[bytes] | None, receipt: Receipt, kind: str) -> list[bytes]:
    if shard is None:
        raise InvalidProof(f"a {kind} proof is checked on the whole shard it names: load the blob first",
                           reason="need-shard")
    records = list(shard)
    if len(records) != receipt["count"] or not same(merkle_root(records), receipt["shard_root"]):
        raise _not_fraud("the loaded shard is not the one the receipt names")
    return records


def _run(sandbox: Any, wasm: bytes, args: bytes, records: list[bytes], fuel: int) -> tuple[list[int], bytes]:
    try:
        result = sandbox.run(wasm, pack_input(args, records), fuel=fuel)
        return unpack_output(result.output, len(records))
    except NoteError as exc:
        raise _not_fraud(f"re-running the program failed: {exc}") from exc


def _name_lie(proof: FraudProof, got: list[int], true_digests: list[bytes], extra: bytes, signed: bytes) -> str:
    """What differs between the true output and the signed claim (which are known to differ)."""
    if claim_omitted(proof) and not same(digest_of_claim([], [], b""), signed):
        return OUTPUT_NOT_REPRODUCED  # no claim to compare with, only the signed digest the re-run missed
    if set(got) - set(proof.indices):
        return "hidden-match"
    if set(proof.indices) - set(got):
        return "non-match-returned"
    claimed = dict(zip(proof.indices, proof.digests, strict=False))
    if any(not same(claimed[i], d) for i, d in zip(got, true_digests, strict=False)):
        return "forged-record"
    if not same(got, list(proof.indices)):
        return "wrong-order"
    return "wrong-output"


def _rerun(proof: FraudProof, receipt: Receipt, sandbox: Any, wasm: bytes, fuel: int, inputs: list[bytes],
           first: int) -> str:
    """Exact re-execution on ``inputs`` (leaves ``first..``): a lie iff the signed digest is not reproduced."""
    rel, extra = _run(sandbox, wasm, proof.args, inputs, fuel)
    got = [first + j for j in rel]
    digests = record_digests([inputs[j] for j in rel])
    if same(digest_of_claim(got, digests, extra), receipt["result"]):
        raise _not_fraud("re-running the program on the peer's exact input reproduces the signed result")
    return _name_lie(proof, got, digests, extra, receipt["result"])


def _check_well_formed(records: Sequence[bytes], fields: list[str], first: int) -> list[Any]:
    try:
        return check_order(records, fields, first=first)
    except MalformedDataset as exc:
        raise _not_fraud(f"the data is not well formed (the publisher's fault, never a peer's): {exc.message}",
                         MALFORMED) from exc


def verify_fraud_proof(proof: FraudProof, sandbox: Any, program_wasm: bytes, *, fuel: int = DEFAULT_FUEL,
                       shard: Sequence[bytes] | None = None) -> str:
    """Check that ``proof`` proves a lie by the receipt's signer; return what the lie was.

    ``shard``: for a ``shard`` proof, the records of the blob at
    ``proof.blob`` (the caller loads them; they are checked here against the
    receipt's root and count). Raises InvalidProof with reason ``not-fraud``
    (no lie shown), ``ineligible`` (a partial-evidence proof of a
    program-dependent lie), ``malformed-dataset`` (the data is not well
    formed), ``need-shard`` (a ``shard`` proof without ``shard``); and
    InvalidSignature when the receipt's signature is bad.
    """
    try:
        receipt = Receipt.decode(proof.receipt)
    except NoteError as exc:
        raise _not_fraud(f"bad receipt: {exc}") from exc
    receipt.verify()
    if not same(hashlib.sha256(program_wasm).digest(), receipt["program"]):
        raise _not_fraud("the program binary is not the one the receipt names")
    if not same(args_digest(proof.args), receipt["args"]):
        raise _not_fraud("the arguments are not the ones the receipt names")
    if len(proof.digests) != len(proof.indices):
        raise _not_fraud("claimed output is inconsistent")
    if not same(digest_of_claim(proof.indices, proof.digests, proof.extra), receipt["result"]) \
            and not claim_omitted(proof):
        raise _not_fraud("the claimed output is not the one the receipt signs")
    root, count = receipt["shard_root"], receipt["count"]
    if proof.kind == KIND_RANGE:
        return _verify_range(proof, receipt, sandbox, program_wasm, fuel, shard)
    if receipt["range"] is not None:
        raise _not_fraud(f"a {proof.kind} proof needs a whole-shard receipt")
    if any(i >= count for i in proof.indices):
        return "claimed-index-outside-shard"
    if proof.kind == KIND_SHARD:
        records = _load(shard, receipt, KIND_SHARD)
        for i, d in zip(proof.indices, proof.digests, strict=False):
            if not same(hashlib.sha256(records[i]).digest(), d):
                return "forged-record"
        _check_well_formed(records, list(receipt["sort_key"]), 0)
        return _rerun(proof, receipt, sandbox, program_wasm, fuel, records, 0)
    proven: dict[int, bytes] = {}
    for ev in proof.evidence:
        if len(set(ev.indices)) != len(ev.indices):
            raise _not_fraud("evidence repeats an index")
        try:
            bp = BatchProof.decode(ev.proof)
            verify_batch(root, count, dict(zip(ev.indices, ev.records, strict=False)), bp)
        except (InvalidProof, InvalidEncoding) as exc:
            raise _not_fraud(f"evidence does not verify against the receipt's shard root: {exc}") from exc
        proven.update(zip(ev.indices, ev.records, strict=False))
    for i, d in zip(proof.indices, proof.digests, strict=False):
        if i in proven and not same(hashlib.sha256(proven[i]).digest(), d):
            return "forged-record"
    if len(proven) != count:
        raise _not_fraud("a partial sample convicts only of program-independent lies (forged record, index "
                         "outside the shard); a program-dependent lie needs the whole shard (a shard proof)",
                         "ineligible")
    records = [proven[i] for i in range(count)]
    _check_well_formed(records, list(receipt["sort_key"]), 0)
    return _rerun(proof, receipt, sandbox, program_wasm, fuel, records, 0)


def _window(records: list[bytes], keys: list[Any], lo: Any, hi: Any) -> tuple[int, list[bytes]]:
    """The leaves of a well-formed shard whose keys fall in ``[lo, hi)``, as :func:`.server.range_span` cuts them."""
    start = bisect.bisect_left(keys, lo)
    end = max(start, bisect.bisect_left(keys, hi))
    return start, records[start:end]


def _verify_range(proof: FraudProof, receipt: Receipt, sandbox: Any, wasm: bytes, fuel: int,
                  shard: Sequence[bytes] | None) -> str:
    """Re-execute the range the receipt *names* on the whole shard (well formed: the window is unique).

    ``range_proof`` is optional: the window is cut from the loaded shard, so a
    receipt for a range nobody asked (a ``loose`` receipt) is judged on the
    range it signs. When present, the key-range proof must verify for that range.
    """
    rng = receipt["range"]
    if rng is None:
        raise _not_fraud("a range proof needs a range receipt")
    fields = list(receipt["sort_key"])
    if not fields:
        raise _not_fraud("receipt names no sort key")
    try:
        lo = normalize_bound(rng[0], fields, upper=False)
        hi = normalize_bound(rng[1], fields, upper=True)
    except NoteError as exc:
        raise _not_fraud(f"the receipt's range is not a range: {exc}") from exc
    if hi < lo:
        raise _not_fraud("the receipt's range is empty by construction (hi < lo): no honest peer signs it")
    if proof.range_proof:
        try:
            krp = KeyRangeProof.decode(proof.range_proof)
            verify_key_range(receipt["shard_root"], receipt["count"], lo, hi, krp,
                             lambda leaf: fast_key_of_record(leaf, fields))
        except NoteError as exc:
            raise _not_fraud(f"range evidence does not verify: {exc}") from exc
        # In an unsorted shard one range can have two windows that both verify: such data convicts nobody.
        _check_well_formed(list(krp.leaves), fields, krp.first)  # cheap, before loading anything
    records = _load(shard, receipt, KIND_RANGE)
    start, leaves = _window(records, _check_well_formed(records, fields, 0), lo, hi)
    return _rerun(proof, receipt, sandbox, wasm, fuel, leaves, start)
