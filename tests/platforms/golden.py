"""Every stack's plan files, user data and manifests, kept as golden text files beside its platform's
tests (``tests/platforms/<platform>/golden/<stack>/``), secrets hidden as the plan hides them.

A change to a node's cloud-config or to a manifest then shows in review as a diff of these files, and a
refactoring shows none. After a change meant to alter them, write them again and read the diff:

    python -m tests.platforms.golden [STACK ...]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from hybrid_infra import platforms
from hybrid_infra.offline.plan import run_plan, write_plan
from tests.conftest import STACKS
from tests.platforms.test_contract import stacks_using

HERE = Path(__file__).parent
FOLDERS = ("nodes", "manifests")


def golden_dirs() -> dict[str, Path]:
    """Each stack's golden folder, by stack name."""
    return {stack: HERE / platform / "golden" / stack for platform in platforms.names() for stack in stacks_using(platform)}


def plan_files(stack: str) -> dict[str, str]:
    """The stack's plan files as ``hybrid-infra plan`` writes them, by path relative to the plan folder."""
    with tempfile.TemporaryDirectory() as out:
        root = Path(out)
        write_plan(run_plan(STACKS, stack), root, show_secrets=False)
        return {
            str(path.relative_to(root)): path.read_text()
            for folder in FOLDERS
            for path in sorted((root / folder).iterdir())
        }


def golden_files(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): path.read_text() for name in FOLDERS for path in sorted((folder / name).glob("*"))
    }


def write_golden(stack: str, folder: Path) -> None:
    for name in FOLDERS:
        shutil.rmtree(folder / name, ignore_errors=True)
    for relative, text in plan_files(stack).items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def main(stacks: list[str]) -> None:
    folders = golden_dirs()
    for stack in stacks or sorted(folders):
        if stack not in folders:
            sys.exit(f"{stack}: no stack file in {STACKS} for a registered platform")
        write_golden(stack, folders[stack])
        print(f"{stack}: {folders[stack]}")


if __name__ == "__main__":
    main(sys.argv[1:])
