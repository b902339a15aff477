"""The plan at a glance: a summary of the stack (pools, nodes, endpoint, versions, KubeVirt and its
VMs, workloads, the estimated time to a ready platform) as data, and ``report.md``, which shows it
with a Mermaid diagram.

Pure: the validated spec, the plan's stack outputs and its critical path's facts in, data and text out. The summary is one
JSON object with camelCase keys; a new fact is a new key in :func:`summary` and, to show it, a
line in :func:`render_report`. ``hybrid-infra plan --format json`` prints it as it is.
"""

from __future__ import annotations

import json
from typing import Any

from ..config.cluster import API_PORT
from ..stack import StackSpec
from ..topology import node_groups
from .critical_path import summary_line

NOT_KNOWN = "-"


def _version(text: str) -> dict[str, str]:
    """``"Cinder CSI 2.34.1"`` -> name and version."""
    name, _, version = text.rpartition(" ")
    return {"name": name, "version": version}


def summary(
    stack: str,
    spec: StackSpec,
    outputs: dict[str, Any],
    resources: int,
    time_to_ready: dict[str, Any],
    artifacts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """What the plan of ``stack`` builds; ``outputs`` are the stack outputs as the plan shows them,
    ``time_to_ready`` the facts of its critical path (``CriticalPath.facts``), ``artifacts`` what
    ``pulumi up`` fetches, each with its lock state (``Artifact.facts``)."""
    cluster = spec.cluster
    addons = spec.addons
    section = spec.platform_section
    endpoint = outputs.get("endpoint", NOT_KNOWN)
    pools = []
    for group in node_groups(cluster):
        placement = spec.sections[group.platform or spec.platform].placement(group)
        pools.append(
            {
                "name": group.name,
                "role": group.role,
                "nodes": group.count,
                "size": group.size,
                "machine": placement.machine,
                "faultDomains": list(placement.fault_domains),
                "virtualization": group.virtualization,
                "labels": dict(group.labels),
                "taints": [str(taint) for taint in group.taints],
            }
        )
    nodes = outputs.get("nodes")
    cni = {"name": cluster.cni, "version": getattr(addons.charts, cluster.cni).version}
    platform_versions = [_version(text) for text in section.versions()]
    kubevirt = None
    if spec.virtualization:
        kubevirt = {
            "version": addons.kubevirt.version,
            "cdiVersion": addons.cdi.version,
            "pools": [pool["name"] for pool in pools if pool["virtualization"]],
            "emulation": addons.kubevirt.use_emulation,
            "liveMigration": addons.storage_class.read_write_many,
            "virtualMachines": [vm.name for vm in spec.workloads.virtual_machines],
        }
    # Each add-on with the ones it comes right after, as HybridPlatform orders them.
    network = [cni["name"], "metadata policy"]
    installed = [
        {**cni, "after": []},
        {"name": network[1], "version": None, "after": network[:1]},
    ]
    if addons.multus.enabled:
        installed.append({"name": "Multus", "version": addons.multus.version, "after": network[1:]})
    installed += [{**version, "after": network[1:]} for version in platform_versions]
    if kubevirt is not None:
        before = [version["name"] for version in platform_versions] or network[1:]
        installed += [
            {"name": "KubeVirt", "version": kubevirt["version"], "after": before},
            {"name": "CDI", "version": kubevirt["cdiVersion"], "after": before},
        ]
    installed.append({"name": "system-upgrade-controller", "version": addons.system_upgrade.version, "after": network[1:]})
    return {
        "stack": stack,
        "platform": spec.platform,
        "kubernetesVersion": cluster.kubernetes_version,
        "endpoint": {
            "address": endpoint,
            "port": API_PORT,
            "url": f"https://{endpoint}:{API_PORT}",
            "type": cluster.endpoint.type,
            "public": cluster.endpoint.public,
            "allowedCidrs": list(cluster.endpoint.allowed_cidrs),
        },
        "networks": {
            "nodes": cluster.network.node_cidr,
            "pods": cluster.network.pod_cidr,
            "services": cluster.network.service_cidr,
        },
        "nodeCount": sum(pool["nodes"] for pool in pools),
        "pools": pools,
        "nodes": nodes if isinstance(nodes, list) else [],
        "versions": [{"name": "Kubernetes", "version": cluster.kubernetes_version}, cni, *platform_versions],
        "addons": installed,
        "kubevirt": kubevirt,
        "workloads": {
            "containers": [
                {"name": app.name, "namespace": app.namespace, "image": app.image, "replicas": app.replicas, "port": app.port}
                for app in spec.workloads.containers
            ],
            "virtualMachines": [
                {
                    "name": vm.name,
                    "namespace": vm.namespace,
                    "cpu": vm.cpu,
                    "memory": vm.memory,
                    "disk": {"source": vm.disk.source, "size": vm.disk.size},
                    "ports": [f"{port.port}/{port.protocol}" for port in vm.ports],
                    "allowFrom": list(vm.allow_from),
                }
                for vm in spec.workloads.virtual_machines
            ],
        },
        "resources": resources,
        "timeToReady": time_to_ready,
        "artifacts": list(artifacts or []),
    }


def summary_json(facts: dict[str, Any]) -> str:
    return json.dumps(facts, indent=2, sort_keys=True) + "\n"


# --- report.md ---------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    text = ", ".join(map(str, value)) if isinstance(value, list) else "" if value is None else str(value)
    return (text or NOT_KNOWN).replace("|", "\\|")


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return lines + [""]


def _objects(artifact: dict[str, Any]) -> str:
    """How many objects an artifact registers, where the plan knows."""
    if artifact["objects"] is not None:
        return str(artifact["objects"])
    return "rendered by Helm at `pulumi up`" if artifact["kind"] == "chart" else "read at `pulumi up`"


def _pool_notes(pool: dict[str, Any]) -> list[str]:
    notes = ["virtualization"] if pool["virtualization"] else []
    notes += [f"{key}={value}" for key, value in sorted(pool["labels"].items())]
    return notes + list(pool["taints"])


def render_report(facts: dict[str, Any]) -> str:
    """``report.md``: the summary's facts in tables, and the Mermaid diagram."""
    endpoint = facts["endpoint"]
    visibility = "public" if endpoint["public"] else "private"
    clients = f"; clients {', '.join(endpoint['allowedCidrs'])}" if endpoint["allowedCidrs"] else ""
    lines = [
        f"# Plan of stack {facts['stack']}",
        "",
        f"Kubernetes {facts['kubernetesVersion']} on {facts['platform']}: {facts['nodeCount']} nodes in "
        f"{len(facts['pools'])} pools; API at {endpoint['url']} ({endpoint['type']}, {visibility}{clients}); "
        f"{facts['resources']} resources.",
        "",
        f"Networks: nodes {facts['networks']['nodes']}, pods {facts['networks']['pods']}, "
        f"services {facts['networks']['services']}.",
        "",
        "Estimated " + summary_line(facts["timeToReady"]) + ".",
        "",
        "## Pools",
        "",
    ]
    lines += _table(
        ["pool", "role", "nodes", "size", "machine", "fault domains", "notes"],
        [
            [p["name"], p["role"], p["nodes"], p["size"], p["machine"], p["faultDomains"], _pool_notes(p)]
            for p in facts["pools"]
        ],
    )
    if facts["nodes"]:
        lines += ["## Nodes", ""]
        lines += _table(
            ["node", "pool", "role", "address", "fault domain"],
            [[n["name"], n["pool"], n["role"], n["address"], n["faultDomain"]] for n in facts["nodes"]],
        )
    lines += ["## Versions", ""]
    lines += _table(["component", "version"], [[v["name"], v["version"]] for v in facts["versions"]])
    lines += ["## Add-ons", ""]
    lines += _table(
        ["add-on", "version", "after"], [[a["name"], a["version"], a["after"] or "the cluster"] for a in facts["addons"]]
    )
    kubevirt = facts["kubevirt"]
    workloads = facts["workloads"]
    if kubevirt is not None:
        lines += [
            "## KubeVirt",
            "",
            f"KubeVirt {kubevirt['version']} and CDI {kubevirt['cdiVersion']}; VMs run on the virtualization pools "
            f"({', '.join(kubevirt['pools'])}) "
            + ("emulated in software (slow, for tests only)" if kubevirt["emulation"] else "with KVM")
            + "; live migration "
            + ("on (ReadWriteMany storage)." if kubevirt["liveMigration"] else "off (the storage is not ReadWriteMany)."),
            "",
        ]
        if workloads["virtualMachines"]:
            lines += _table(
                ["virtual machine", "namespace", "cores", "memory", "disk", "ports", "reachable from"],
                [
                    [vm["name"], vm["namespace"], vm["cpu"], vm["memory"], f"{vm['disk']['source']} ({vm['disk']['size']})"]
                    + [vm["ports"], vm["allowFrom"] or "any pod"]
                    for vm in workloads["virtualMachines"]
                ],
            )
    if workloads["containers"] or workloads["virtualMachines"]:
        lines += ["## Workloads", "", "Containers and virtual machines side by side, on one cluster.", ""]
        rows = [
            ["containers", app["name"], app["namespace"], app["image"], f"{app['replicas']} replicas", app["port"]]
            for app in workloads["containers"]
        ]
        rows += [
            ["virtual machine", vm["name"], vm["namespace"], vm["disk"]["source"], f"{vm['cpu']} cores, {vm['memory']}"]
            + [vm["ports"]]
            for vm in workloads["virtualMachines"]
        ]
        lines += _table(["kind", "name", "namespace", "runs", "size", "ports"], rows)
    if facts.get("artifacts"):
        lines += [
            "## Artifacts",
            "",
            "What `pulumi up` fetches, and the digest it must have: `locked` by the stack's lock file "
            "(`hybrid-infra lock`), or `unlocked` (fetched unverified).",
            "",
        ]
        lines += _table(
            ["key", "artifact", "version", "from", "lock", "objects"],
            [
                [a["key"], f"{a['kind']} {a['name']}", a["version"], a["source"], a["lock"], _objects(a)]
                for a in facts["artifacts"]
            ],
        )
    lines += ["## Diagram", "", "```mermaid", *mermaid(facts), "```", ""]
    return "\n".join(lines)


def _label(*lines: str) -> str:
    """A quoted Mermaid label; quotes and angle brackets as entities, lines joined by <br/>."""
    escaped = [line.replace("&", "&amp;").replace('"', "#quot;").replace("<", "&lt;").replace(">", "&gt;") for line in lines]
    return '["' + "<br/>".join(escaped) + '"]'


def _node_id(kind: str, name: str) -> str:
    return f"{kind}_" + "".join(char if char.isalnum() else "_" for char in name)


def mermaid(facts: dict[str, Any]) -> list[str]:
    """Platform pools -> cluster -> add-ons -> workloads, the containers beside the VMs."""
    lines = ["flowchart LR", f'    subgraph platform["{facts["platform"]} pools"]', "        direction TB"]
    for pool in facts["pools"]:
        detail = f"{pool['nodes']} × {pool['size']} ({pool['machine']})"
        lines.append(f"        {_node_id('pool', pool['name'])}{_label(pool['name'], detail, *_pool_notes(pool))}")
    lines.append("    end")
    nodes = f"{facts['nodeCount']} nodes"
    lines.append(f"    cluster{_label('Kubernetes ' + facts['kubernetesVersion'], facts['endpoint']['url'], nodes)}")
    for pool in facts["pools"]:
        lines.append(f"    {_node_id('pool', pool['name'])} --> cluster")
    lines += ['    subgraph addons["add-ons"]', "        direction TB"]
    for addon in facts["addons"]:
        label = _label(addon["name"], *([addon["version"]] if addon["version"] else []))
        lines.append(f"        {_node_id('addon', addon['name'])}{label}")
    for addon in facts["addons"]:
        for before in addon["after"]:
            lines.append(f"        {_node_id('addon', before)} --> {_node_id('addon', addon['name'])}")
    lines.append("    end")
    for addon in facts["addons"]:
        if not addon["after"]:
            lines.append(f"    cluster --> {_node_id('addon', addon['name'])}")
    workloads = facts["workloads"]
    if workloads["containers"] or workloads["virtualMachines"]:
        lines += ['    subgraph workloads["workloads, side by side"]', "        direction LR"]
        if workloads["containers"]:
            lines += ['        subgraph containers["containers"]']
            for app in workloads["containers"]:
                detail = f"{app['replicas']} × {app['image']}"
                lines.append(f"            {_node_id('app', app['name'])}{_label(app['name'], detail)}")
            lines.append("        end")
        if workloads["virtualMachines"]:
            lines += ['        subgraph vms["virtual machines"]']
            for vm in workloads["virtualMachines"]:
                detail = f"{vm['cpu']} cores, {vm['memory']}, disk {vm['disk']['size']}"
                lines.append(f"            {_node_id('vm', vm['name'])}{_label(vm['name'], detail)}")
            lines.append("        end")
        lines.append("    end")
        names = {addon["name"] for addon in facts["addons"]}
        # Containers need the pod network; VMs KubeVirt and CDI (and Multus for extra networks).
        for app in workloads["containers"]:
            lines.append(f"    {_node_id('addon', 'metadata policy')} --> {_node_id('app', app['name'])}")
        for vm in workloads["virtualMachines"]:
            for before in [name for name in ("KubeVirt", "CDI", "Multus") if name in names]:
                lines.append(f"    {_node_id('addon', before)} --> {_node_id('vm', vm['name'])}")
            for source in vm["allowFrom"]:
                ports = ", ".join(vm["ports"]) or "any port"
                lines.append(f"    {_node_id('app', source)} -.->|{ports}| {_node_id('vm', vm['name'])}")
    return lines
