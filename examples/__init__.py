"""Example apps built on note_compute (the shop, the dating app) and the demo."""
