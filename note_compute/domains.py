"""Every domain-separation prefix in one place.

Each signature and each hash that is not plain SHA-256 of some bytes is taken
over ``PREFIX || message``. Prefixes are ASCII, end with a NUL byte, and are
never a prefix of one another, so no message signed for one purpose can be
replayed as another. Changing a prefix is a wire-format change: bump the
version in it and regenerate ``specs/vectors``.

Deliberate exceptions, fixed by the protocol:

* content addresses are plain ``SHA-256(bytes)`` (anyone can check a blob;
  they double as the names signed into receipts, manifests and records'
  refs). They are the one store address space without a prefix: every
  *derived* store address is ``SHA-256(DOMAIN || key)`` with a domain from
  :data:`ADDRESS_DOMAINS`, and a value whose bytes begin with one of those
  domains is refused, so no value's address is ever a derived address;
* Merkle hashing uses RFC 6962's one-byte prefixes (``MERKLE_LEAF`` and
  ``MERKLE_NODE`` below), so that trees match Certificate Transparency.
"""

from __future__ import annotations

# Signatures (Ed25519 over PREFIX || canonical CBOR body). Program records and
# dataset manifests are ordinary signed records (SIG_RECORD) with typed values.
SIG_RECORD = b"note-compute/v1/record\x00"
SIG_RECEIPT = b"note-compute/v1/receipt\x00"
SIG_NODE = b"note-compute/v1/node\x00"
SIG_BLS_KEY = b"note-compute/v1/bls-key\x00"  # Ed25519: a node binds its BLS12-381 key (quorum certificates)
SIG_INBOX_ITEM = b"note-compute/v1/inbox-item\x00"  # a sender signs an entry it appends to an inbox
SIG_INBOX_REMOVE = b"note-compute/v1/inbox-remove\x00"  # an inbox's owner removes entries

# BLS12-381 (py-ecc G2ProofOfPossession) message prefix for quorum certificates.
BLS_QUORUM = b"note-compute/v1/quorum\x00"

# Hashes (SHA-256 over PREFIX || bytes).
HASH_ARGS = b"note-compute/v1/args\x00"
HASH_RESULT = b"note-compute/v1/result\x00"
HASH_RECORD_BODY = b"note-compute/v1/record-body\x00"
# Store addresses derived from a key, one domain per store kind (``ADDRESS_DOMAINS``).
# Ring key of a record: SHA-256(ADDR_RECORD || normal-form URL, ASCII).
ADDR_RECORD = b"note-compute/v1/addr-record\x00"
# Ring key of the fraud evidence held against a peer: SHA-256(FRAUD_INDEX || accused node id).
FRAUD_INDEX = b"note-compute/v1/fraud-index\x00"
# Ring key of an inbox: SHA-256(INBOX || owner public key || name).
INBOX = b"note-compute/v1/inbox\x00"
# Ring key of the publisher faults indexed against a dataset: SHA-256(PUBLISHER_FAULTS || dataset URL).
PUBLISHER_FAULTS = b"note-compute/v1/publisher-faults\x00"

ADDRESS_DOMAINS = (ADDR_RECORD, FRAUD_INDEX, INBOX, PUBLISHER_FAULTS)
"""Every derived store address is SHA-256 over one of these plus its key (records, evidence, faults, inboxes);
values are SHA-256(bytes) and may not begin with one (``store.md`` section 1)."""

# RFC 6962 Merkle prefixes (one byte each, by that RFC).
MERKLE_LEAF = b"\x00"
MERKLE_NODE = b"\x01"

# Private set intersection (note_compute.psi, examples/dating). Hash-to-group is
# ristretto255 from_hash over SHA-512(PSI_HASH_TO_GROUP || element).
PSI_HASH_TO_GROUP = b"note-compute/v1/psi-hash-to-group\x00"
# The dating app's values: a signed public card, the element of an unordered pair,
# a PSI round's tag and its key material (both from the two users' X25519 secret).
SIG_DATING_CARD = b"note-compute/v1/dating-card\x00"
DATING_PAIR = b"note-compute/v1/dating-pair\x00"
DATING_ROUND = b"note-compute/v1/dating-round\x00"
DATING_PROFILE = b"note-compute/v1/dating-profile\x00"

SIGNATURE_DOMAINS = (SIG_RECORD, SIG_RECEIPT, SIG_NODE, SIG_BLS_KEY, SIG_INBOX_ITEM, SIG_INBOX_REMOVE,
                     SIG_DATING_CARD)
HASH_DOMAINS = (HASH_ARGS, HASH_RESULT, HASH_RECORD_BODY, ADDR_RECORD, FRAUD_INDEX, INBOX, PUBLISHER_FAULTS,
                PSI_HASH_TO_GROUP,
                DATING_PAIR, DATING_ROUND, DATING_PROFILE)
