"""note_compute: verifiable computation on a decentralized web.

Sites publish signed WebAssembly programs and signed, Merkle-committed data
into the Note ring (a Chord-style DHT on libp2p); any peer runs a site's
program against the data it holds and answers with results plus proofs.
"""

__version__ = "0.1.0"
