"""Fixtures shared by the test modules (a module may override one by defining its own)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from note_compute.compute.evidence import FRAUD_EVIDENCE
from note_compute.sandbox import Sandbox
from note_compute.store import Store

# Property tests draw the same examples on every run ("ci", the default), so the suite fails only
# on a change, never on a new random draw; `make fuzz` draws fresh random ones on each run to
# look for new cases (each one found is then fixed and pinned with @example).
settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("fuzz", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


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


@pytest.fixture
def cli_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[Any], Path]:
    """``cli_network(net)``: every command's ``open_client`` yields the in-memory ``net``; returns the NOTE_HOME
    set for the test (under ``tmp_path``)."""
    from note_compute import client as client_module

    def attach(network: Any) -> Path:
        @asynccontextmanager
        async def fake_open_client(bootstrap: Any = None, **kw: Any) -> AsyncIterator[Any]:
            yield network

        monkeypatch.setattr(client_module, "open_client", fake_open_client)
        home = tmp_path / "home"
        monkeypatch.setenv("NOTE_HOME", str(home))
        return home

    return attach
