"""The plan at a glance: report.md with its Mermaid diagram, and the summary as JSON for CI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hybrid_infra.offline.plan import Redactor, plan_summary, run_plan
from hybrid_infra.offline.report import mermaid, render_report
from tests.conftest import STACKS


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hybrid_infra", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def planned(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("report") / "dev"
    return out, cli("plan", "dev", "--stacks", str(STACKS), "--out", str(out), "--format", "json")


def test_json_format_prints_the_summary_alone(planned):
    out, result = planned
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    assert (facts["stack"], facts["platform"], facts["kubernetesVersion"]) == ("dev", "openstack", "1.35.8")
    assert facts["endpoint"]["url"] == "https://203.0.113.10:6443" and facts["endpoint"]["public"] is True
    assert [(p["name"], p["nodes"], p["size"], p["machine"]) for p in facts["pools"]] == [
        ("control-plane", 3, "medium", "m1.medium"),
        ("general", 3, "large", "m1.large"),
        ("virt", 2, "virt", "v1.xlarge.kvm"),
    ]
    assert facts["nodeCount"] == len(facts["nodes"]) == 8
    assert {"name": "Cinder CSI", "version": "2.35.0"} in facts["versions"]
    assert facts["kubevirt"] == {
        "version": "v1.9.0",
        "cdiVersion": "v1.66.0",
        "pools": ["virt"],
        "emulation": False,
        "liveMigration": False,
        "virtualMachines": ["erp", "win-app", "reports"],
    }
    assert [app["name"] for app in facts["workloads"]["containers"]] == ["web"]
    assert facts["workloads"]["virtualMachines"][0]["allowFrom"] == ["web"]
    assert (out / "plan.json").is_file() and (out / "report.md").is_file()


def test_the_summary_holds_the_estimated_time_to_ready_of_the_plans_critical_path(planned):
    _, result = planned
    ready = json.loads(result.stdout)["timeToReady"]
    plan = run_plan(STACKS, "dev")
    assert ready == json.loads(json.dumps(plan.time_to_ready.facts()))
    assert (ready["target"], ready["seconds"], ready["minutes"]) == ("KubeVirt Available", 1062, 17.7)
    assert ready["seconds"] == sum(step["seconds"] for step in ready["chain"]) == plan.time_to_ready.seconds
    assert [step["name"] for step in ready["chain"]] == [step.resource.name for step in plan.time_to_ready.steps]
    assert ready["chain"][-1] == {"name": "dev-kubevirt-kubevirt", "type": "kubernetes:kubevirt.io/v1:KubeVirt", "seconds": 300}
    assert ready["slowest"] == [
        {"name": "dev-cluster-ready", "seconds": 330},
        {"name": "dev-kubevirt-kubevirt", "seconds": 300},
        {"name": "dev-cluster-endpoint-lb", "seconds": 120},
    ]
    assert ready["durations"] == "hybrid_infra/offline/durations.yaml"


def test_report_has_the_summary_and_the_mermaid_diagram(planned):
    out, _ = planned
    report = (out / "report.md").read_text()
    assert report.startswith("# Plan of stack dev\n")
    assert "Kubernetes 1.35.8 on openstack: 8 nodes in 3 pools; API at https://203.0.113.10:6443" in report
    assert (
        "\nEstimated time to KubeVirt Available: a chain of 12 resources, about 17.7 min (modelled from "
        "hybrid_infra/offline/durations.yaml); slowest: dev-cluster-ready 5.5 min, dev-kubevirt-kubevirt 5.0 min, "
        "dev-cluster-endpoint-lb 2.0 min.\n"
    ) in report
    for row in ("| virt | worker | 2 | virt | v1.xlarge.kvm |", "| erp | default | 2 | 8Gi |", "| containers | web |"):
        assert row in report
    block = re.search(r"^```mermaid\n(.*?)^```$", report, re.S | re.M)
    assert block is not None
    assert block.group(1).splitlines() == mermaid(json.loads(cli_summary()))


def cli_summary() -> str:
    plan = run_plan(STACKS, "dev")
    return json.dumps(plan_summary(plan, Redactor(plan.simulation, show_secrets=False)))


def test_the_diagram_goes_from_pools_to_cluster_to_add_ons_to_workloads():
    facts = json.loads(cli_summary())
    lines = mermaid(facts)
    assert lines[0] == "flowchart LR"
    defined = set()
    edges = []
    depth = 0
    for line in lines[1:]:
        text = line.strip()
        if text.startswith("subgraph "):
            depth += 1
        elif text == "end":
            depth -= 1
        elif node := re.fullmatch(r'(\w+)\["([^"\[\]]*)"\]', text):
            assert node.group(1) not in defined, node.group(1)
            defined.add(node.group(1))
        elif edge := re.fullmatch(r"(\w+) (?:-->|-\.->\|[^|]+\|) (\w+)", text):
            edges.append((edge.group(1), edge.group(2)))
        else:
            assert text.startswith("direction "), text
        assert depth >= 0
    assert depth == 0
    assert all(a in defined and b in defined for a, b in edges), edges
    assert {("pool_virt", "cluster"), ("cluster", "addon_cilium"), ("addon_cilium", "addon_metadata_policy")} <= set(edges)
    assert {("addon_metadata_policy", "app_web"), ("addon_KubeVirt", "vm_erp"), ("addon_CDI", "vm_erp")} <= set(edges)
    # The containers and the VMs sit side by side in the workloads, an app allowed to reach the VM.
    assert ("app_web", "vm_erp") in edges


def test_report_is_text_from_the_summary_alone():
    facts = json.loads(cli_summary())
    assert render_report(facts) == render_report(json.loads(json.dumps(facts)))
    facts["workloads"] = {"containers": [], "virtualMachines": []}
    facts["kubevirt"] = None
    report = render_report(facts)
    assert "## KubeVirt" not in report and "## Workloads" not in report and "```mermaid" in report


def test_plan_json_records_the_options_that_decide_a_resources_lifecycle():
    import json
    import tempfile
    from pathlib import Path

    from hybrid_infra.offline.plan import run_plan, write_plan
    from tests.conftest import STACKS

    with tempfile.TemporaryDirectory() as out:
        write_plan(run_plan(STACKS, "prod"), Path(out), show_secrets=False)
        resources = json.loads((Path(out) / "plan.json").read_text())["resources"]
    machines = [r for r in resources if r["type"] == "vsphere:index/virtualMachine:VirtualMachine"]
    assert machines and all(r["deleteBeforeReplace"] for r in machines)
    assert all(r["replaceOnChanges"] == [] and r["customTimeouts"] == {} for r in machines)
    assert not any(r["deleteBeforeReplace"] for r in resources if r["type"].startswith("kubernetes:"))
