"""Every stack in stacks/, scaled to 3 control-plane nodes and a given number of workers.

The first pool takes the workers the other pools do not hold, so the cluster has exactly the number
asked for. The node and pod networks are widened (never narrowed) until the nodes fit: the node
network holds the nodes and four addresses (network, broadcast, gateway, API endpoint), the pod
network a /24 per node. A platform section that names something per node (vSphere's static address
ranges, OpenStack's server group quota) is fitted to the new pools (``benchmarks.resize``); everything
else stays as the stack has it.
"""

from __future__ import annotations

import ipaddress
import math
from pathlib import Path
from typing import Any

import yaml

from hybrid_infra.config.cluster import CONTROL_PLANE_POOL
from hybrid_infra.platforms import names
from hybrid_infra.stack import NAMESPACE

from . import resize

CONTROL_PLANE_NODES = 3
STACK_FILE = "Pulumi.{stack}.yaml"
CLUSTER_KEY = f"{NAMESPACE}:cluster"


def discover(stacks_dir: Path) -> list[str]:
    """Every stack file's name, so a platform added later (with its stack) is measured too."""
    prefix, suffix = STACK_FILE.split("{stack}")
    return sorted(path.name[len(prefix) : -len(suffix)] for path in stacks_dir.glob(STACK_FILE.format(stack="*")))


def _widened(cidr: str, prefix: int) -> str:
    network = ipaddress.ip_network(cidr, strict=False)
    return str(network.supernet(new_prefix=prefix)) if prefix < network.prefixlen else str(network)


def scaled(document: dict[str, Any], workers: int) -> dict[str, Any]:
    """A copy of a stack file's document with 3 control-plane nodes and ``workers`` workers."""
    document = yaml.safe_load(yaml.safe_dump(document))
    cluster = document["config"][CLUSTER_KEY]
    cluster.setdefault("controlPlane", {})["count"] = CONTROL_PLANE_NODES
    pools = cluster.setdefault("pools", [])
    if not pools:
        pools.append({"name": "workers", "count": 0, "size": cluster["controlPlane"]["size"]})
    others = sum(int(pool.get("count", 0)) for pool in pools[1:])
    if others >= workers:
        raise ValueError(f"the pools after the first hold {others} workers; {workers} cannot be reached")
    pools[0]["count"] = workers - others
    nodes = CONTROL_PLANE_NODES + workers
    network = cluster.setdefault("network", {})
    network["nodeCidr"] = _widened(network.get("nodeCidr", "10.20.0.0/24"), 32 - math.ceil(math.log2(nodes + 4)))
    network["podCidr"] = _widened(network.get("podCidr", "10.244.0.0/16"), 24 - math.ceil(math.log2(nodes)))
    counts = {CONTROL_PLANE_POOL: CONTROL_PLANE_NODES, **{pool["name"]: int(pool.get("count", 0)) for pool in pools}}
    for platform in names():
        key = f"{NAMESPACE}:{platform}"
        if key in document["config"]:
            document["config"][key] = resize.section(platform, document["config"][key], counts, network["nodeCidr"])
    return document


def write_scaled(project: Path, stack: str, workers: int, directory: Path) -> Path:
    """Write the scaled stack to ``directory/stacks`` beside links to the rest of the project, so files a
    stack names relative to the project (manifests) are found; returns the stacks directory."""
    stacks = directory / "stacks"
    stacks.mkdir(parents=True, exist_ok=True)
    for entry in project.iterdir():
        link = directory / entry.name
        if entry.name not in ("stacks", "build", ".venv", ".git") and not link.exists():
            link.symlink_to(entry)
    source = project / "stacks" / STACK_FILE.format(stack=stack)
    document = scaled(yaml.safe_load(source.read_text()), workers)
    (stacks / STACK_FILE.format(stack=stack)).write_text(yaml.safe_dump(document, sort_keys=False))
    return stacks
