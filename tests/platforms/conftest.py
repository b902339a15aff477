from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hybrid_infra import platforms
from hybrid_infra.stack import stack_model

FAKE_STACKS = Path(__file__).parent / "fake"


@pytest.fixture
def fake_platform(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The fake platform, registered as a platform package is: one registry line."""
    monkeypatch.setitem(platforms.REGISTRY, "fake", platforms.PlatformPackage("tests.platforms.fake", sdk="tests"))
    stack_model.cache_clear()
    yield "fake"
    stack_model.cache_clear()
