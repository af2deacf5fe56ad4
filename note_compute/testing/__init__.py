"""Test doubles shipped with the package: an in-memory ring network on a virtual clock."""

from .sim import SimNetwork, SimNode

__all__ = ["SimNetwork", "SimNode"]
