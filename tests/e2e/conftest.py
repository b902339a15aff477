"""The e2e tier: the project's artifacts given to the real programs, built by ``make tools`` into
``.tools/bin`` from the Go modules pinned in ``tools/``. ``make e2e`` builds them first; a missing
binary fails the test (never a skip): docs/testing.md says what each test proves."""

from __future__ import annotations

import functools

import pytest

from hybrid_infra.offline.plan import run_plan, user_data
from tests.conftest import ROOT, STACKS, written_files

TOOLS = ROOT / ".tools" / "bin"


def tool(name: str) -> str:
    path = TOOLS / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: make e2e builds it (make tools)")
    return str(path)


def stacks() -> list[str]:
    return sorted(path.name.removeprefix("Pulumi.").removesuffix(".yaml") for path in STACKS.glob("Pulumi.*.yaml"))


@functools.cache
def node_files(stack: str) -> dict[str, dict[str, str]]:
    """Every node's files as its cloud-config writes them (secrets included), by node name and path."""
    return {name: written_files(str(getattr(text, "value", text))) for name, text in user_data(run_plan(STACKS, stack)).items()}
