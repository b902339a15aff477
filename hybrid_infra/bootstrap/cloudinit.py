"""Pure: the cloud-config each node boots with."""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from ..platforms.base import NodeGroup


@dataclass(frozen=True)
class NodeIdentity:
    cluster: str
    pool: str
    role: str
    name: str


def node_identities(group: NodeGroup) -> list[NodeIdentity]:
    return [NodeIdentity(group.cluster, group.name, group.role, name) for name in group.node_names]


def render_cloud_config(node: NodeIdentity) -> str:
    """The node's hostname and a file naming its cluster, pool and role."""
    document = {
        "hostname": node.name,
        "preserve_hostname": False,
        "write_files": [
            {
                "path": "/etc/hybrid-infra/node.yaml",
                "permissions": "0644",
                "content": yaml.safe_dump(
                    {"cluster": node.cluster, "pool": node.pool, "role": node.role, "name": node.name},
                    sort_keys=False,
                ),
            }
        ],
    }
    return "#cloud-config\n" + yaml.safe_dump(document, sort_keys=False, width=4096)
