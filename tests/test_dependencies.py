"""The dependency floors in pyproject.toml admit no release that lacks what the project calls.

Each floor below was checked in the released wheels on PyPI: the feature is absent from the last
release under the floor and present in the floor's release."""

from __future__ import annotations

import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from tests.conftest import ROOT

FLOORS = {
    # Provider(upsert_existing_objects=...), which the cluster's adopting provider passes
    # (hybrid_infra/cluster.py): not in pulumi_kubernetes/provider.py of the 4.28.0 wheel, in 4.29.0's.
    "pulumi-kubernetes": ("4.28.0", "4.29.0"),
}


def requirements() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found = [Requirement(text) for text in project["dependencies"]]
    found += [Requirement(text) for extra in project["optional-dependencies"].values() for text in extra]
    return {requirement.name: requirement for requirement in found}


@pytest.mark.parametrize("package", sorted(FLOORS))
def test_the_floor_admits_no_release_without_what_the_project_uses(package):
    lacking, first = FLOORS[package]
    specifier = requirements()[package].specifier
    assert not specifier.contains(Version(lacking)), f"{package}{specifier} admits {lacking}"
    assert specifier.contains(Version(first)), f"{package}{specifier} refuses {first}"
