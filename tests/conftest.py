"""Fixtures shared by the test modules (a module may override one by defining its own)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from note_compute.compute.evidence import FRAUD_EVIDENCE
from note_compute.sandbox import Sandbox
from note_compute.store import Store


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """One wasmtime sandbox with the default limits for the whole run (compiling is the slow part)."""
    sb = Sandbox()
    yield sb
    sb.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """An empty store (with the nodes' evidence policy) in its own data directory, closed afterwards."""
    s = Store.in_dir(tmp_path / "node", evidence=FRAUD_EVIDENCE)
    yield s
    s.close()
