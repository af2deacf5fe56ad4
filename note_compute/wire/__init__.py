"""Every message on the wire, declared once as data (pure: no trio, no libp2p, no wasmtime).

- :mod:`.schema`: the schema type and the one validator (fixed refusal order, typed errors);
- :mod:`.envelope`: frames on a stream (hello, request, reply, fatal) and the error reply;
- :mod:`.ring`: ``ring.*`` requests and replies;
- :mod:`.storage`: ``store.*`` requests and replies, entry kinds, the entry size cap;
- :mod:`.compute`: ``compute.*`` requests and replies, the receipt body;
- :mod:`.fraud`: the fraud proof map;
- :mod:`.record`: the signed record map (shape and field checks).

Clients and servers both build and parse with these modules; the byte
layout of each is frozen in ``specs/vectors/wire_samples.json``.
"""

from __future__ import annotations

from . import compute, envelope, fraud, record, ring, schema, storage

__all__ = ["compute", "envelope", "fraud", "record", "ring", "schema", "storage"]
