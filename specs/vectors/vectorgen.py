"""What every generator here shares: a vector file's JSON text and the write / ``--check`` command line.

Each ``gen_X.py`` defines ``render() -> str`` (the file's exact text, usually
:func:`json_text` of its ``build()``) and ends with::

    if __name__ == "__main__":
        sys.exit(vectorgen.run(OUT, render))

so that, from the repository root::

    python specs/vectors/gen_X.py          # rewrites X.json
    python specs/vectors/gen_X.py --check  # exit 1 if X.json is not byte for byte what the generator writes

Generators import it as ``specs.vectors.vectorgen`` (a namespace package:
the repository root is on ``sys.path``). Loaded by ``tests/test_vectors_loaded.py``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["json_text", "run"]


def json_text(value: Any, *, indent: int = 1, sort_keys: bool = False, ensure_ascii: bool = True) -> str:
    """A vector file's text: ``json.dumps`` with the file's layout, and a final newline."""
    return json.dumps(value, indent=indent, sort_keys=sort_keys, ensure_ascii=ensure_ascii) + "\n"


def run(out: Path, render: Callable[[], str], argv: Sequence[str] | None = None) -> int:
    """Write ``render()`` to ``out``, or with ``--check`` compare: 0 if identical, 1 (and a message) if not."""
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if "--check" in args:
        if not out.exists() or out.read_text() != text:
            print(f"{out.name} is out of date: re-run the generator deliberately", file=sys.stderr)
            return 1
        print(f"{out.name} is up to date")
        return 0
    out.write_text(text)
    print(f"wrote {out}")
    return 0
