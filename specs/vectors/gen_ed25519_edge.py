#!/usr/bin/env python3
"""Generate specs/vectors/ed25519_edge.json: which Ed25519 signatures a note client accepts.

Run from the repository root:  python specs/vectors/gen_ed25519_edge.py [--check]

RFC 8032 leaves several checks to the verifier, and common libraries differ
(see "Taming the many EdDSAs", Chalkias, Garillot, Nikolaenko, 2020, and its
test suite novifinancial/ed25519-speccheck). note_compute verifies with
libsodium's ``crypto_sign_open`` (through PyNaCl); ``specs/records.md``
section 3.2 makes that rule normative. This script builds one signature for
each edge of the rule, with a small Edwards25519 implementation written here
from RFC 8032 section 5.1 (it shares no code with libsodium or note_compute),
and records for each:

* ``cofactorless`` / ``cofactored``: whether ``[S]B = R + [k]A`` and
  ``[8][S]B = [8]R + [8][k]A`` hold, computed here (points decoded leniently,
  y reduced mod p, so every encoding has a point);
* ``pynacl``: what libsodium (PyNaCl) answers: this is the normative result,
  the ``expected`` field;
* ``cryptography``: what pyca/cryptography (OpenSSL) answers, an independent
  common verifier: where it differs from ``expected``, an implementation
  built on it accepts records the nodes refuse (or the reverse).

The script refuses to write if its own arithmetic disagrees with libsodium on
the baseline vector, or if a vector meant to test one rule does not hold the
equation it was built for. ``--check`` regenerates in memory and exits 1 if
the committed file differs.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from specs.vectors import vectorgen  # noqa: E402

OUT = Path(__file__).resolve().parent / "ed25519_edge.json"

# --- Edwards25519 from RFC 8032 section 5.1 (extended coordinates) -------------
P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
Point = tuple[int, int, int, int]
IDENTITY: Point = (0, 1, 1, 0)


def add(p: Point, q: Point) -> Point:
    a = (p[1] - p[0]) * (q[1] - q[0]) % P
    b = (p[1] + p[0]) * (q[1] + q[0]) % P
    c = 2 * p[3] * q[3] * D % P
    d = 2 * p[2] * q[2] % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def mul(s: int, p: Point) -> Point:
    q = IDENTITY
    while s > 0:
        if s & 1:
            q = add(q, p)
        p = add(p, p)
        s >>= 1
    return q


def neg(p: Point) -> Point:
    return (-p[0] % P, p[1], p[2], -p[3] % P)


def equal(p: Point, q: Point) -> bool:
    return (p[0] * q[2] - q[0] * p[2]) % P == 0 and (p[1] * q[2] - q[1] * p[2]) % P == 0


def recover_x(y: int, sign: int) -> int | None:
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if (x & 1) != sign:
        x = P - x
    return x


def decode_lenient(s: bytes) -> Point | None:
    """RFC 8032 5.1.3 decoding, except that y >= p is reduced instead of refused."""
    y = int.from_bytes(s, "little")
    sign, y = y >> 255, (y & ((1 << 255) - 1)) % P
    x = recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % P)


def encode(p: Point) -> bytes:
    zinv = pow(p[2], P - 2, P)
    x, y = p[0] * zinv % P, p[1] * zinv % P
    return int.to_bytes(y | ((x & 1) << 255), 32, "little")


GY = 4 * pow(5, P - 2, P) % P
B: Point = (recover_x(GY, 0) or 0, GY, 1, (recover_x(GY, 0) or 0) * GY % P)


def h_scalar(*parts: bytes) -> int:
    return int.from_bytes(hashlib.sha512(b"".join(parts)).digest(), "little") % L


def secret_scalar(seed: bytes) -> tuple[int, bytes]:
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, h[32:]


def equations(pk: bytes, msg: bytes, sig: bytes) -> tuple[bool, bool]:
    """(cofactorless, cofactored) with lenient decoding; S taken as an integer (not reduced)."""
    a_pt, r_pt = decode_lenient(pk), decode_lenient(sig[:32])
    if a_pt is None or r_pt is None:
        return False, False
    s = int.from_bytes(sig[32:], "little")
    k = h_scalar(sig[:32], pk, msg)
    lhs = mul(s, B)
    rhs = add(r_pt, mul(k, a_pt))
    return equal(lhs, rhs), equal(mul(8, lhs), mul(8, rhs))


def order_of(p: Point) -> int:
    for n in (1, 2, 4, 8):
        if equal(mul(n, p), IDENTITY):
            return n
    return 0  # not small order


# The eight points of order dividing 8 (canonical encodings) and the two
# non-canonical encodings libsodium also lists (y = p, y = p + 1).
SMALL_ORDER = {
    "identity (order 1)": "0100000000000000000000000000000000000000000000000000000000000000",
    "order 2 (y = -1)": "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "order 4 (y = 0, x even)": "0000000000000000000000000000000000000000000000000000000000000000",
    "order 4 (y = 0, x odd)": "0000000000000000000000000000000000000000000000000000000000000080",
    "order 8 (a)": "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "order 8 (b)": "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "order 8 (c)": "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "order 8 (d)": "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
}
NONCANON_IDENTITY = "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"  # y = p + 1

SEED = hashlib.sha256(b"note-compute/test-vectors/ed25519-edge/key").digest()


def _grind(prefix: bytes, ok: Any) -> bytes:
    """The first message prefix || counter (4 bytes BE) for which ok(msg) holds."""
    for i in range(1 << 16):
        msg = prefix + i.to_bytes(4, "big")
        if ok(msg):
            return msg
    raise RuntimeError("grinding failed")


def _nonce(label: bytes) -> int:
    return h_scalar(b"note-compute/test-vectors/ed25519-edge/nonce", label)


def build_cases() -> list[dict[str, Any]]:
    a, prefix = secret_scalar(SEED)
    a_pt = mul(a, B)
    pk = encode(a_pt)
    cases: list[dict[str, Any]] = []

    def sign_with(r_pt: Point, r_scalar: int, msg: bytes, r_bytes: bytes | None = None) -> bytes:
        rb = r_bytes if r_bytes is not None else encode(r_pt)
        k = h_scalar(rb, pk, msg)
        return rb + int.to_bytes((r_scalar + k * a) % L, 32, "little")

    # 0. Baseline: an ordinary RFC 8032 signature.
    msg = b"note-compute ed25519 edge: baseline"
    r = h_scalar(prefix, msg)
    cases.append({"name": "baseline", "rule": "valid", "public_key": pk, "message": msg,
                  "signature": sign_with(mul(r, B), r, msg)})

    # 1. Small-order A (each of the 8), R = [r]B of prime order, S = r, with the
    #    message ground so that [k]A = identity: the cofactorless equation holds.
    for label, hexa in SMALL_ORDER.items():
        apk = bytes.fromhex(hexa)
        ap = decode_lenient(apk)
        assert ap is not None
        n = order_of(ap)
        r = _nonce(apk)
        rb = encode(mul(r, B))
        m = _grind(b"small-order A: ", lambda mm, apk=apk, rb=rb, n=n: h_scalar(rb, apk, mm) % n == 0)
        cases.append({"name": f"small-order A: {label}", "rule": "small-order-A", "public_key": apk,
                      "message": m, "signature": rb + int.to_bytes(r, 32, "little")})

    # 2. The publisher's trick: A = identity, R = identity, S = 0 verifies any
    #    message under the cofactorless equation. As a signed record it is
    #    the one in the "record" section below.
    ident = bytes.fromhex(SMALL_ORDER["identity (order 1)"])
    cases.append({"name": "small-order A and R: identity, S = 0 (verifies every message)",
                  "rule": "small-order-A", "public_key": ident, "message": b"any message at all",
                  "signature": ident + bytes(32)})

    # 3. Small-order R with an honest key: R = identity, S = k*a (only R is small order).
    msg = b"note-compute ed25519 edge: small-order R"
    cases.append({"name": "small-order R: identity, honest key", "rule": "small-order-R", "public_key": pk,
                  "message": msg, "signature": sign_with(IDENTITY, 0, msg)})

    # 4. Non-canonical S: a valid signature with S + L (and S + 2L, S + 15L < 2^256).
    msg = b"note-compute ed25519 edge: non-canonical S"
    r = h_scalar(prefix, msg)
    good = sign_with(mul(r, B), r, msg)
    s = int.from_bytes(good[32:], "little")
    for mult in (1, 15):
        if s + mult * L < 1 << 256:
            cases.append({"name": f"non-canonical S: S + {mult}L", "rule": "non-canonical-S", "public_key": pk,
                          "message": msg, "signature": good[:32] + int.to_bytes(s + mult * L, 32, "little")})

    # 5. Non-canonical A: the identity written with y = p + 1. Every encoding
    #    with y >= p that a signature can be made for is small order (the
    #    others have no known discrete log), so this also trips small-order-A.
    apk = bytes.fromhex(NONCANON_IDENTITY)
    r = _nonce(apk)
    cases.append({"name": "non-canonical A: identity as y = p + 1", "rule": "non-canonical-A", "public_key": apk,
                  "message": b"non-canonical A", "signature": encode(mul(r, B)) + int.to_bytes(r, 32, "little")})
    # ... and a non-canonical A of large order (y = p + y0): no signature can
    # be made for it; every verifier refuses, libsodium before any arithmetic.
    for y0 in range(2, 19):
        cand = int.to_bytes(P + y0, 32, "little")
        pt = decode_lenient(cand)
        if pt is not None and order_of(pt) == 0:
            cases.append({"name": f"non-canonical A: y = p + {y0} (large order)", "rule": "non-canonical-A",
                          "public_key": cand, "message": b"non-canonical A",
                          "signature": encode(B) + int.to_bytes(1, 32, "little")})
            break

    # 6. Non-canonical R: the identity R written as y = p + 1, honest key.
    msg = b"note-compute ed25519 edge: non-canonical R"
    cases.append({"name": "non-canonical R: identity as y = p + 1", "rule": "non-canonical-R", "public_key": pk,
                  "message": msg, "signature": sign_with(IDENTITY, 0, msg, r_bytes=bytes.fromhex(NONCANON_IDENTITY))})

    # 7. Mixed-order R: R = [r]B + T8; S = r + k*a. Only the cofactored equation holds.
    t8 = decode_lenient(bytes.fromhex(SMALL_ORDER["order 8 (a)"]))
    assert t8 is not None
    msg = b"note-compute ed25519 edge: mixed-order R"
    r = _nonce(msg)
    r_pt = add(mul(r, B), t8)
    cases.append({"name": "mixed-order R: valid only under the cofactored equation", "rule": "cofactorless",
                  "public_key": pk, "message": msg, "signature": sign_with(r_pt, r, msg)})

    # 8. Mixed-order A = [a]B + T8 (not small order): when 8 | k the cofactorless
    #    equation holds and libsodium accepts; otherwise only the cofactored one.
    am = add(a_pt, t8)
    apk = encode(am)
    r = _nonce(apk)
    rb = encode(mul(r, B))

    def sig_for(m: bytes) -> bytes:
        return rb + int.to_bytes((r + h_scalar(rb, apk, m) * a) % L, 32, "little")

    m0 = _grind(b"mixed-order A, 8 | k: ", lambda mm: h_scalar(rb, apk, mm) % 8 == 0)
    cases.append({"name": "mixed-order A, 8 divides k: cofactorless holds", "rule": "mixed-order-A",
                  "public_key": apk, "message": m0, "signature": sig_for(m0)})
    m1 = _grind(b"mixed-order A, 8 does not divide k: ", lambda mm: h_scalar(rb, apk, mm) % 8 != 0)
    cases.append({"name": "mixed-order A, 8 does not divide k: only cofactored holds", "rule": "cofactorless",
                  "public_key": apk, "message": m1, "signature": sig_for(m1)})
    return cases


def pynacl_accepts(pk: bytes, msg: bytes, sig: bytes) -> bool:
    import nacl.bindings
    import nacl.exceptions

    try:
        nacl.bindings.crypto_sign_open(sig + msg, pk)
        return True
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError):
        return False


def cryptography_accepts(pk: bytes, msg: bytes, sig: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(pk).verify(sig, msg)
        return True
    except (InvalidSignature, ValueError):
        return False


def record_case() -> dict[str, Any]:
    """A signed record whose authority is the identity point and whose signature
    (R = identity, S = 0) holds for every body under the cofactorless equation."""
    from note_compute import domains, encoding
    from note_compute.crypto import authority_of

    ident = bytes.fromhex(SMALL_ORDER["identity (order 1)"])
    url = f"note://{authority_of(ident)}/anything"
    body = {"u": url, "s": "1", "c": "1700000000", "v": b"forged by nobody"}
    wire = encoding.encode({"u": url, "s": 1, "c": 1_700_000_000, "v": b"forged by nobody", "sig": ident + bytes(32)})
    signed = domains.SIG_RECORD + encoding.encode({"u": url, "s": 1, "c": 1_700_000_000, "v": b"forged by nobody"})
    return {
        "name": "record signed for the identity authority (R = identity, S = 0)",
        "url": url,
        "fields": {k: (v.hex() if isinstance(v, bytes) else v) for k, v in body.items()},
        "encoded": wire.hex(),
        "cofactorless": equations(ident, signed, ident + bytes(32))[0],
        "pynacl": pynacl_accepts(ident, signed, ident + bytes(32)),
        "cryptography": cryptography_accepts(ident, signed, ident + bytes(32)),
        "expected": "refuse",
    }


def build() -> dict[str, Any]:
    cases = build_cases()
    out = []
    for c in cases:
        pk, msg, sig = c["public_key"], c["message"], c["signature"]
        cl, cf = equations(pk, msg, sig)
        nacl_ok = pynacl_accepts(pk, msg, sig)
        out.append({
            "name": c["name"],
            "rule": c["rule"],
            "public_key": pk.hex(),
            "message": msg.hex(),
            "signature": sig.hex(),
            "cofactorless": cl,
            "cofactored": cf,
            "pynacl": nacl_ok,
            "cryptography": cryptography_accepts(pk, msg, sig),
            "expected": "accept" if nacl_ok else "refuse",
        })
    # Self-checks: our arithmetic agrees with libsodium on the baseline, and each
    # vector holds the equation it was built for.
    base = out[0]
    assert base["pynacl"] and base["cofactorless"] and base["cofactored"], "baseline disagrees with libsodium"
    assert secret_scalar(SEED)[0] and encode(mul(secret_scalar(SEED)[0], B)) == _nacl_pk(SEED)
    for v in out:
        if v["rule"] in ("small-order-A", "small-order-R", "mixed-order-A") or v["name"].startswith(
            "non-canonical A: identity"
        ):
            assert v["cofactorless"], v["name"]
        if v["rule"] == "cofactorless":
            assert v["cofactored"] and not v["cofactorless"], v["name"]
    return {
        "_provenance": {
            "generator": "specs/vectors/gen_ed25519_edge.py",
            "command": "python specs/vectors/gen_ed25519_edge.py",
            "spec": "specs/records.md section 3.2 (Ed25519 verification rule)",
            "independent_checks": "cofactorless/cofactored computed by the generator's own Edwards25519 code "
            "(RFC 8032 5.1, lenient decoding); 'pynacl' is libsodium's crypto_sign_open (the normative rule); "
            "'cryptography' is pyca/cryptography's Ed25519PublicKey.verify (OpenSSL), recorded to show where a "
            "common library disagrees",
            "see_also": "novifinancial/ed25519-speccheck (Chalkias et al., 'Taming the many EdDSAs', 2020)",
            "fields": "hex byte strings; 'expected' is what every note client MUST answer",
        },
        "honest_key_seed": SEED.hex(),
        "signatures": out,
        "record": record_case(),
    }


def _nacl_pk(seed: bytes) -> bytes:
    import nacl.signing

    return bytes(nacl.signing.SigningKey(seed).verify_key)


def render() -> str:
    return vectorgen.json_text(build())


if __name__ == "__main__":
    sys.exit(vectorgen.run(OUT, render))
