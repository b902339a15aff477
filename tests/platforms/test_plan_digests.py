"""Every stack's plan files (user data and manifests), byte for byte: a refactoring must not change a
node's cloud-config. Each stack's digests live beside its platform's tests, as ``<stack>-plan.sha256``.

When a change is meant to alter them, regenerate the file and say why in the commit:
    hybrid-infra plan <stack> --out build/<stack> && (cd build/<stack> && find nodes manifests -type f | sort | xargs sha256sum)
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from hybrid_infra import platforms
from hybrid_infra.offline.plan import run_plan, write_plan
from tests.conftest import STACKS
from tests.platforms.test_contract import stacks_using

HERE = Path(__file__).parent
DIGESTS = [(HERE / platform / f"{stack}-plan.sha256", stack) for platform in platforms.names() for stack in stacks_using(platform)]


def test_every_stack_has_its_digests():
    assert {stack for _, stack in DIGESTS} == {p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in STACKS.glob("Pulumi.*.yaml")}


@pytest.mark.parametrize(("digests", "stack"), DIGESTS, ids=[stack for _, stack in DIGESTS])
def test_plan_files_are_unchanged(tmp_path, digests, stack):
    write_plan(run_plan(STACKS, stack), tmp_path, show_secrets=False)
    written = {
        str(path.relative_to(tmp_path)): hashlib.sha256(path.read_bytes()).hexdigest()
        for folder in ("nodes", "manifests")
        for path in sorted((tmp_path / folder).iterdir())
    }
    expected = {name: digest for digest, name in (line.split() for line in digests.read_text().splitlines())}
    assert written == expected
