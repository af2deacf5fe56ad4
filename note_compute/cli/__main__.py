"""``python -m note_compute.cli`` = ``note-compute``."""

from . import main

main(prog_name="note-compute")
