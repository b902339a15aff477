"""While a plan runs, provider subpackages load only the modules the program uses, and every name gives
the object the SDK's own ``__init__`` gives."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hybrid_infra.offline import provider_modules
from hybrid_infra.offline.provider_modules import GeneratedInit
from hybrid_infra.offline.simulate import offline_runtime
from tests.conftest import ROOT

STACKS = sorted(path.name.split(".")[1] for path in (ROOT / "stacks").glob("Pulumi.*.yaml"))

# Runs a stack's plan in a fresh interpreter (so no provider SDK is imported before the run starts) and
# reports, for every subpackage loaded lazily, how many of its modules were imported.
_PLAN_AND_COUNT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from hybrid_infra.offline import provider_modules
    from hybrid_infra.offline.plan import run_plan
    from hybrid_infra.offline.simulate import offline_runtime

    with offline_runtime():
        run_plan(Path(sys.argv[1]), sys.argv[2])
    lazy = [
        name for name, module in list(sys.modules.items())
        if getattr(getattr(getattr(module, "__spec__", None), "loader", None), "init", None) is not None
    ]
    print(json.dumps({
        name: {
            "origin": sys.modules[name].__spec__.origin,
            "loaded": sum(1 for other in sys.modules if other.startswith(name + ".")),
            "completed": "__getattr__" not in vars(sys.modules[name]),
        }
        for name in lazy
    }))
    """
)


@pytest.fixture(scope="module")
def lazily_loaded() -> dict[str, dict[str, dict]]:
    found = {}
    for stack in STACKS:
        result = subprocess.run(
            [sys.executable, "-c", _PLAN_AND_COUNT, str(ROOT / "stacks"), stack],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
        )
        found[stack] = json.loads(result.stdout)
    return found


def test_each_plan_imports_only_the_provider_modules_it_uses(lazily_loaded):
    for stack, packages in lazily_loaded.items():
        assert "pulumi_kubernetes.core.v1" in packages, stack
        modules = 0
        for name, seen in packages.items():
            init = GeneratedInit.read(seen["origin"])
            assert init is not None
            # No name the program used sent the subpackage back to its whole __init__.
            assert not seen["completed"], f"{stack}: {name} ran its whole __init__"
            modules += len(init.star)
        loaded = sum(seen["loaded"] for seen in packages.values())
        assert loaded < modules / 3, (stack, loaded, modules)


def test_every_name_gives_the_object_the_sdks_init_gives(lazily_loaded):
    """For each subpackage the plans load lazily, every module's star exports are the package's own
    (no later module re-exports a name), and the modules ``sources`` names first define it."""
    packages = sorted({name: seen["origin"] for found in lazily_loaded.values() for name, seen in found.items()}.items())
    assert packages
    for name, origin in packages:
        init = GeneratedInit.read(origin)
        assert init is not None
        package = importlib.import_module(name)
        # Loaded in full before any submodule is imported here: a lazily imported package (the SDK's
        # lazy_import) that sees its submodules imported first keeps those modules over the names
        # its star imports bind.
        assert package._utilities
        for source in init.star:
            module = importlib.import_module(f"{name}.{source}")
            for exported in getattr(module, "__all__", ()):
                assert getattr(package, exported) is getattr(module, exported), f"{name}.{exported}"
        for exported in [key for key in vars(package) if not key.startswith("_")]:
            value = getattr(package, exported)
            if isinstance(value, type(sys)):
                continue
            for source in init.sources(exported):
                module = sys.modules[f"{name}.{source}"]
                if exported in getattr(module, "__all__", ()):
                    assert getattr(module, exported) is value, f"{name}.{exported} from {source}"
                    break


def test_a_name_the_rules_miss_and_dir_run_the_whole_init(tmp_path):
    script = textwrap.dedent(
        """
        import sys
        from hybrid_infra.offline import provider_modules
        provider_modules.install()
        import pulumi_kubernetes as k8s
        v1 = k8s.core.v1
        secret = v1.Secret
        few = sum(1 for name in sys.modules if name.startswith("pulumi_kubernetes.core.v1."))
        assert secret.__module__ == "pulumi_kubernetes.core.v1.Secret", secret.__module__
        assert "Service" not in vars(v1)
        names = dir(v1)
        assert "Service" in names and "ServiceSpecArgs" in names, names[:5]
        all_ = sum(1 for name in sys.modules if name.startswith("pulumi_kubernetes.core.v1."))
        assert "__getattr__" not in vars(v1)
        try:
            v1.NoSuchKind
        except AttributeError as error:
            assert "NoSuchKind" in str(error)
        else:
            raise AssertionError("no AttributeError")
        print(few, all_)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    few, everything = map(int, result.stdout.split())
    assert few < 10 < everything


def test_only_generated_subpackages_qualify(tmp_path):
    generated = tmp_path / "generated.py"
    generated.write_text(
        "# coding=utf-8\nimport builtins as _builtins\nfrom .. import _utilities\nimport typing\n"
        "from ._enums import *\nfrom .instance import *\nfrom ._inputs import *\nfrom . import outputs\n"
    )
    init = GeneratedInit.read(str(generated))
    assert init is not None and init.star == ["_enums", "instance", "_inputs"] and init.plain == ["outputs"]
    assert init.sources("InstanceArgs") == ["instance", "_inputs", "_enums"]
    assert init.sources("InstanceCpuOptionsArgs") == ["_inputs", "_enums"]
    handwritten = tmp_path / "handwritten.py"
    handwritten.write_text(generated.read_text() + "if typing.TYPE_CHECKING:\n    pass\n")
    assert GeneratedInit.read(str(handwritten)) is None
    assert GeneratedInit.read(str(tmp_path / "missing.py")) is None
    assert provider_modules.FINDER.find_spec("pulumi.runtime", None) is None
    assert provider_modules.FINDER.find_spec("yaml.loader", None) is None
    assert provider_modules.FINDER.find_spec("pulumi_kubernetes", None) is None  # top-level packages: as usual


def test_the_runner_installs_the_finder_for_a_run_only():
    assert provider_modules.FINDER not in sys.meta_path
    with offline_runtime():
        assert sys.meta_path[0] is provider_modules.FINDER
    assert provider_modules.FINDER not in sys.meta_path
    assert Path(provider_modules.__file__).is_file()
