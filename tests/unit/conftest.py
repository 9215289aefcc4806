"""Fixtures shared by unit tests of services' decisions: in-memory fakes of the ports (tests/fakes.py)."""

from __future__ import annotations

import pytest

from tests.fakes import FakeStore, FakeVertex


@pytest.fixture
def vertex() -> FakeVertex:
    return FakeVertex()


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()
