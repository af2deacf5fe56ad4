"""Client-side verification of compute answers (pure; the sandbox is a parameter).

Order of checks for one shard answer (:func:`verify_answer`):

1. shape (:func:`~.protocol.parse_query_response`);
2. the receipt's signature and ``peer == sha256(key)`` (and, when the
   transport tells us, that it is the peer we asked);
3. every receipt field against the request and the manifest (program hash,
   dataset URL and seq, shard index, root and count, sort key, argument hash,
   range);
4. the signed result digest against the returned output (indices, record
   digests, extra). From here on the peer has *signed* its claim: a
   :class:`Claim` is attached to any later failure so the client can turn it
   into a fraud proof;
5. the proofs: a batch inclusion proof for the returned records, or the
   key-range proof whose leaves are exactly the records in the range.

Steps 2 and 3 run on the receipt just decoded from the reply: the signature
is checked over the body bytes received (strict decoding proved them the
canonical encoding, so nothing is re-encoded) and the fields are compared
with :func:`.strict.same_decoded` (canonical equality without encoding when
the types match); any mismatch is re-checked by :func:`check_receipt`, so
the error raised is always the one the full check raises. Nothing is
remembered from one reply to the next.

:func:`check_output` then re-runs the program: on the exact range records
(range queries: deterministic completeness) or on the returned records plus
an audit sample (predicate queries, see :mod:`.audit`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import (
    InvalidEncoding,
    InvalidProof,
    InvalidRecord,
    InvalidSignature,
    NoteError,
    RemoteProtocolError,
)
from ..merkle import BatchProof, KeyRangeProof, verify_batch, verify_key_range
from ..sandbox.abi import pack_input, unpack_output
from .dataset import Manifest, fast_key_of_record
from .fraud import KIND_RANGE, KIND_SHARD, KIND_SUBSET, Evidence, FraudProof, without_claim
from .keys import normalize_bound
from .protocol import (
    QueryRequest,
    QueryResponse,
    Receipt,
    args_digest,
    digest_of_claim,
    parse_query_response,
    record_digests,
)
from .strict import same, same_decoded

__all__ = [
    "Claim",
    "OtherRange",
    "SignedStatement",
    "UnsignedOutput",
    "OutputMismatch",
    "ShardAnswer",
    "UnprovenClaim",
    "check_declared_bounds",
    "check_output",
    "check_receipt",
    "covers_shard",
    "receipt_proof",
    "run_program",
    "verify_answer",
]


@dataclass
class Claim:
    """What a peer signed: receipt + claimed output (indices, digests, extra)."""

    receipt: Receipt
    indices: list[int]
    digests: list[bytes]
    extra: bytes
    args: bytes

    def fraud(self, kind: str, *, evidence: list[Evidence] | None = None, range_proof: bytes = b"") -> FraudProof:
        return FraudProof(kind, self.receipt.encode(), self.args, list(self.indices), list(self.digests), self.extra,
                          list(evidence or []), range_proof)


@dataclass
class ShardAnswer:
    """A verified answer for one shard."""

    shard: int
    peer: bytes
    claim: Claim
    records: list[bytes]                 # the returned records, program order
    proof: bytes = b""                   # batch proof for them (predicate queries)
    range_start: int | None = None
    range_records: list[bytes] | None = None
    range_proof: bytes = b""
    size: int = 0                        # reply size in bytes (set by the client)
    audited: int = 0
    sample: list[Evidence] | None = None  # audit sample (verified, in request-sized chunks), kept for re-checks
    extra_fields: dict[str, Any] = field(default_factory=dict)

    @property
    def indices(self) -> list[int]:
        return self.claim.indices


class UnprovenClaim(InvalidProof):
    """The peer signed a claim whose records do not verify (``.claim`` holds it)."""

    code = "invalid-proof"

    def __init__(self, message: str, *, claim: Claim, reason: str | None = None) -> None:
        super().__init__(message, reason=reason)
        self.claim = claim


class OutputMismatch(InvalidProof):
    """Re-running the program disagrees with the peer's signed claim (``.fraud`` proves it)."""

    code = "invalid-proof"

    def __init__(self, message: str, *, fraud: FraudProof, reason: str | None = None) -> None:
        super().__init__(message, reason=reason)
        self.fraud = fraud


class SignedStatement(RemoteProtocolError):
    """A valid receipt by the peer asked that is not an answer to the query (refused: a failure to answer)
    but still a signed statement: its ``result`` digest is the output of the query it names.
    :func:`receipt_proof` turns it into a re-execution proof, which convicts only if that digest is false."""

    def __init__(self, message: str, *, receipt: Receipt, reason: str) -> None:
        super().__init__(message, reason=reason)
        self.receipt = receipt


class OtherRange(SignedStatement):
    """A receipt for this query except its range (reason ``receipt-range``): judged on the range it names."""

    def __init__(self, message: str, *, receipt: Receipt) -> None:
        super().__init__(message, receipt=receipt, reason="receipt-range")


class UnsignedOutput(SignedStatement):
    """A receipt for this query whose ``result`` is not the digest of the returned output (reason
    ``receipt-mismatch``): the output is not signed, but the digest is, and a false digest is a lie."""

    def __init__(self, message: str, *, receipt: Receipt) -> None:
        super().__init__(message, receipt=receipt, reason="receipt-mismatch")


def receipt_proof(exc: SignedStatement, msg: Any, req: QueryRequest, blob: bytes) -> FraudProof:
    """The re-execution proof for a signed statement that is not an answer (``range`` for a range receipt,
    ``shard`` for a whole-shard one), checked on the shard at ``blob``. The claimed output is read from the
    reply when it hashes to the signed result (the returned records, or the carried leaves of a key-range
    proof), else left out (:func:`.fraud.claim_omitted`): re-execution needs only the signed digest."""
    receipt = exc.receipt
    kind = KIND_RANGE if receipt["range"] is not None else KIND_SHARD
    claim: tuple[list[int], list[bytes], bytes] | None = None
    try:
        indices, extra = list(msg["indices"]), msg["extra"]
        if "records" in msg:
            recs = list(msg["records"])
        else:
            krp = KeyRangeProof.decode(msg["range_proof"])
            if not all(0 <= i - krp.first < len(krp.leaves) for i in indices):
                raise IndexError("a claimed index outside the carried leaves")
            recs = [krp.leaves[i - krp.first] for i in indices]
        digests = record_digests(recs)
        if len(recs) == len(indices) and same(digest_of_claim(indices, digests, extra), receipt["result"]):
            claim = (indices, digests, extra)
    except (NoteError, KeyError, IndexError, TypeError, ValueError):
        claim = None
    if claim is None:
        return without_claim(FraudProof(kind, receipt.encode(), req.args, [], [], b"", [], b"", blob))
    return FraudProof(kind, receipt.encode(), req.args, claim[0], claim[1], claim[2], [], b"", blob)


def _bad(msg: str, reason: str) -> RemoteProtocolError:
    return RemoteProtocolError(msg, reason=reason)


def _wanted(req: QueryRequest, manifest: Manifest) -> dict[str, Any]:
    """What a receipt for ``req`` must sign, field by field (in the order they are checked), range aside."""
    info = manifest.shards[req.shard]
    return {"program": req.program_hash, "dataset": req.dataset, "seq": manifest.seq, "shard": req.shard,
            "shard_root": info.root, "count": info.count, "sort_key": list(manifest.sort_key),
            "args": args_digest(req.args)}


def check_receipt(receipt: Receipt, req: QueryRequest, manifest: Manifest, *, peer_id: bytes | None = None) -> None:
    """Check the signature and every field against the request and manifest (raises)."""
    receipt.verify()
    want = _wanted(req, manifest)
    for name, value in want.items():
        # By canonical encoding, never Python equality (True == 1, 1 == 1.0): the fraud check reads strictly.
        if not same(receipt[name], value):
            raise _bad(f"receipt {name} does not match the request/manifest", f"receipt-{name.replace('_', '-')}")
    if peer_id is not None and receipt.peer != peer_id:
        raise InvalidSignature("receipt is signed by another peer than the one asked", reason="peer-id")
    if not same(receipt["range"], req.range):  # last: everything else is this query's, only the range differs
        raise OtherRange("receipt range does not match the request: a signed statement about another range",
                         receipt=receipt)


def _check_received(resp: QueryResponse, req: QueryRequest, manifest: Manifest, peer_id: bytes | None) -> None:
    """:func:`check_receipt` for a receipt just strictly decoded from a reply, with the same outcome, cheaper.

    When every field matches (:func:`.strict.same_decoded`: no encoding unless the types differ), the
    signature is checked over the body bytes received (``resp.signed``: strict decoding proved them
    canonical, so they are ``encode(body)``, what :meth:`Receipt.verify` would rebuild), and the last
    two checks follow in :func:`check_receipt`'s order. Any mismatch goes to :func:`check_receipt` itself,
    which raises the error it always raised (the signature first).
    """
    receipt, body = resp.receipt, resp.receipt.body
    if resp.signed is None or not all(same_decoded(body[name], value)
                                      for name, value in _wanted(req, manifest).items()):
        check_receipt(receipt, req, manifest, peer_id=peer_id)
        return
    receipt._verify_over(resp.signed)
    if peer_id is not None and receipt.peer != peer_id:
        raise InvalidSignature("receipt is signed by another peer than the one asked", reason="peer-id")
    if not same_decoded(body["range"], req.range):
        raise OtherRange("receipt range does not match the request: a signed statement about another range",
                         receipt=receipt)


def verify_answer(req: QueryRequest, msg: Any, manifest: Manifest, *, peer_id: bytes | None = None) -> ShardAnswer:
    """Verify one peer reply for ``req`` (see the module docstring); raises a typed error."""
    ranged = req.range is not None
    resp = parse_query_response(msg, ranged=ranged)
    _check_received(resp, req, manifest, peer_id)
    info = manifest.shards[req.shard]
    if ranged:
        assert req.range is not None and resp.range_proof is not None
        lo = normalize_bound(req.range[0], manifest.sort_key, upper=False)
        hi = normalize_bound(req.range[1], manifest.sort_key, upper=True)
        key_of = _key_cache(manifest.sort_key)
        claim = None
        signed_output = False
        try:
            krp = KeyRangeProof.decode(resp.range_proof)
            # The claim the digest covers, read from the carried leaves (best effort before the proof is checked;
            # once it is, these are exactly the proven range's records, so nothing is computed twice).
            carried = krp.in_range
            inside = all(krp.start <= i < krp.start + len(carried) for i in resp.indices)
            if inside:
                recs = [carried[i - krp.start] for i in resp.indices]
                digests = record_digests(recs)
                signed_output = digest_of_claim(resp.indices, digests, resp.extra) == resp.receipt["result"]
                if signed_output:
                    claim = Claim(resp.receipt, resp.indices, digests, resp.extra, req.args)
            start, leaves = verify_key_range(info.root, info.count, lo, hi, krp, key_of)
        except (InvalidProof, InvalidEncoding) as exc:
            if claim is not None:
                raise UnprovenClaim(f"range proof does not verify: {exc.message}", claim=claim,
                                    reason=exc.reason) from exc
            raise
        check_declared_bounds(manifest, req.shard, krp, key_of=key_of)
        # verify_key_range returned (krp.start, the carried in-range leaves): ``inside`` is the proven range.
        if not inside:
            raise _bad("a returned index lies outside the proven range", "index-range")
        if claim is None or not signed_output:
            raise UnsignedOutput("the receipt's result digest does not match the returned output",
                                 receipt=resp.receipt)
        return ShardAnswer(req.shard, resp.receipt.peer, claim, recs, range_start=start, range_records=leaves,
                           range_proof=resp.range_proof)
    assert resp.records is not None and resp.proof is not None
    digests = record_digests(resp.records)
    if digest_of_claim(resp.indices, digests, resp.extra) != resp.receipt["result"]:
        raise UnsignedOutput("the receipt's result digest does not match the returned output",
                             receipt=resp.receipt)
    claim = Claim(resp.receipt, resp.indices, digests, resp.extra, req.args)
    if resp.indices:
        try:
            if any(i >= info.count for i in resp.indices):
                raise InvalidProof("a returned index lies outside the shard", reason="index-range")
            bp = BatchProof.decode(resp.proof)
            verify_batch(info.root, info.count, dict(zip(resp.indices, resp.records, strict=False)), bp)
        except (InvalidProof, InvalidEncoding) as exc:
            raise UnprovenClaim(
                f"returned records do not verify: {exc.message}", claim=claim, reason=exc.reason
            ) from exc
    elif resp.proof != b"":
        raise _bad("an empty answer carries an empty proof", "bad-reply")
    return ShardAnswer(req.shard, resp.receipt.peer, claim, list(resp.records), proof=resp.proof)


def _key_cache(sort_key: Sequence[str]) -> Callable[[bytes], Any]:
    """:func:`.dataset.fast_key_of_record` remembered per leaf bytes, for one reply's leaves (each leaf's key is
    read by the key-range check and again by :func:`check_declared_bounds`); failures are not remembered."""
    keys: dict[bytes, Any] = {}

    def key_of(leaf: bytes) -> Any:
        key = keys.get(leaf) if type(leaf) is bytes else None
        if key is None:
            key = fast_key_of_record(leaf, sort_key)
            if type(leaf) is bytes:
                keys[leaf] = key
        return key

    return key_of


def check_declared_bounds(manifest: Manifest, shard: int, krp: KeyRangeProof, *,
                          key_of: Callable[[bytes], Any] | None = None) -> None:
    """Every leaf a (verified) key-range proof carries lies inside the shard's declared bounds, and the
    shard's first and last leaves, when carried, sit exactly on them (raises InvalidRecord ``shard-bounds``).
    ``key_of``: the leaves' sort key (default :func:`.dataset.fast_key_of_record` on the manifest's sort key).

    A failure is the publisher's fault (its manifest mis-declares the shard), never the serving peer's:
    the answer is refused, nobody is convicted.
    """
    lo, hi = manifest.shard_range_keys(shard)
    count = manifest.shards[shard].count
    for j, leaf in enumerate(krp.leaves):
        at = krp.first + j
        key = key_of(leaf) if key_of is not None else fast_key_of_record(leaf, manifest.sort_key)
        if not lo <= key <= hi or (at == 0 and key != lo) or (at == count - 1 and key != hi):
            raise InvalidRecord(f"shard {shard} holds a record outside its declared bounds (leaf {at}): "
                                "the publisher's manifest is malformed", reason="shard-bounds")


def run_program(sandbox: Any, wasm: bytes, args: bytes, records: list[bytes], fuel: int) -> tuple[list[int], bytes]:
    """Run a program locally on ``records``; ``(indices into records, extra)``."""
    result = sandbox.run(wasm, pack_input(args, records), fuel=fuel)
    return unpack_output(result.output, len(records))


def check_output(answer: ShardAnswer, sandbox: Any, wasm: bytes, fuel: int, *,
                 sample: list[Evidence] | None = None) -> None:
    """Re-run the program and compare with the signed claim; raise OutputMismatch (with a fraud proof).

    Range answers: the program runs on exactly the proven range records and
    must reproduce the signed digest. Predicate answers: it runs on the
    returned records plus the audit ``sample`` (chunks of indices, records,
    batch proof; already verified by the caller) in leaf order and must select
    exactly the returned indices (subset stability, see :mod:`.fraud`).
    """
    claim = answer.claim
    if answer.range_records is not None:
        start = answer.range_start or 0
        rel, extra = run_program(sandbox, wasm, claim.args, answer.range_records, fuel)
        got = [start + j for j in rel]
        digests = record_digests([answer.range_records[j] for j in rel])
        if not same_decoded([claim.indices, claim.digests, claim.extra], [got, digests, extra]):
            fp = claim.fraud(KIND_RANGE, range_proof=answer.range_proof)
            raise OutputMismatch("re-running the program on the proven range disagrees with the peer",
                                 fraud=fp, reason="range-output")
        return
    pool = dict(zip(claim.indices, answer.records, strict=False))
    evidence = []
    if claim.indices:
        evidence.append(Evidence(list(claim.indices), list(answer.records), answer.proof))
    for e in sample or []:
        if e.indices:
            pool.update(zip(e.indices, e.records, strict=False))
            evidence.append(Evidence(list(e.indices), list(e.records), e.proof))
    if not pool:
        return
    order = sorted(pool)
    rel, extra = run_program(sandbox, wasm, claim.args, [pool[i] for i in order], fuel)
    got = [order[j] for j in rel]
    if not same_decoded(list(claim.indices), got):
        raise OutputMismatch("re-running the program on proven records disagrees with the peer",
                             fraud=claim.fraud(KIND_SUBSET, evidence=evidence), reason="subset-output")
    if covers_shard(answer, sample) and not same(
            digest_of_claim(got, record_digests([pool[i] for i in got]), extra), claim.receipt["result"]):
        # The records seen are the whole shard: this run *is* the peer's, so its signed output (extra
        # included, which the client never uses) must be reproduced exactly; a wrong one is a signed lie.
        raise OutputMismatch("re-running the program on the whole shard does not reproduce the signed output",
                             fraud=claim.fraud(KIND_SUBSET, evidence=evidence), reason="shard-output")


def covers_shard(answer: ShardAnswer, sample: list[Evidence] | None) -> bool:
    """True when a predicate answer's returned records plus its audit sample are every leaf of the shard."""
    seen = set(answer.claim.indices)
    for e in sample or []:
        seen.update(e.indices)
    return len(seen) == int(answer.claim.receipt["count"])
