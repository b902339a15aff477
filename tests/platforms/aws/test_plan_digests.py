"""The aws plan's user data and manifests, byte for byte: a refactoring must not change a node's cloud-config.

When a change is meant to alter them, regenerate ``aws-plan.sha256`` and say why in the commit:
    hybrid-infra plan aws --out build/aws && (cd build/aws && find nodes manifests -type f | sort | xargs sha256sum)
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from hybrid_infra.offline.plan import run_plan, write_plan
from tests.conftest import STACKS

DIGESTS = Path(__file__).parent / "aws-plan.sha256"


def test_aws_plan_files_are_unchanged(tmp_path):
    write_plan(run_plan(STACKS, "aws"), tmp_path, show_secrets=False)
    written = {
        str(path.relative_to(tmp_path)): hashlib.sha256(path.read_bytes()).hexdigest()
        for folder in ("nodes", "manifests")
        for path in sorted((tmp_path / folder).iterdir())
    }
    expected = {name: digest for digest, name in (line.split() for line in DIGESTS.read_text().splitlines())}
    assert written == expected
