"""Nothing a program imports reaches ``hybrid_infra.offline`` (the simulated cloud, the runner and its
runtime, the plan writers): only the command line and the testing helpers do, and the bench."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "hybrid_infra"
OFFLINE = "hybrid_infra.offline"
ALLOWED = {"hybrid_infra.cli", "hybrid_infra.testing"}
SIMULATED_ANSWERS = {f"hybrid_infra.platforms.{name}.simulated" for name in ("aws", "openstack", "vsphere")}
"""Each platform's answers on the simulated cloud: part of it, loaded by ``hybrid_infra.offline.cloud``
alone (``platforms.simulated_answers``), never by a program; they raise its ``LookupFailed``
(docs/architecture.md). They belong under the rule's exceptions until that class lives elsewhere."""


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, relative imports resolved, ``TYPE_CHECKING`` ones included."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def offline_importers() -> set[str]:
    return {
        module_name(path)
        for path in PACKAGE.rglob("*.py")
        if not module_name(path).startswith(OFFLINE)
        and any(module == OFFLINE or module.startswith(OFFLINE + ".") for module in imported_modules(path))
    }


def test_only_the_command_line_and_the_testing_helpers_import_the_offline_package():
    assert offline_importers() - SIMULATED_ANSWERS == ALLOWED


def test_the_simulated_answers_are_loaded_by_the_simulated_cloud_alone():
    importers = {
        module_name(path)
        for path in PACKAGE.rglob("*.py")
        if any(module.endswith(".simulated") for module in imported_modules(path))
    }
    askers = {
        module_name(path)
        for path in PACKAGE.rglob("*.py")
        if path != PACKAGE / "platforms" / "__init__.py"
        and any(
            isinstance(node, ast.Attribute) and node.attr == "simulated_answers"
            or isinstance(node, ast.Name) and node.id == "simulated_answers"
            or isinstance(node, ast.alias) and node.name == "simulated_answers"
            for node in ast.walk(ast.parse(path.read_text()))
        )
    }
    assert importers == set()
    assert askers == {"hybrid_infra.offline.cloud"}


def test_the_rule_sees_relative_imports():
    assert "hybrid_infra.offline.simulate" in imported_modules(PACKAGE / "testing.py")
    assert "hybrid_infra.offline.cloud" in imported_modules(PACKAGE / "platforms" / "openstack" / "simulated.py")
