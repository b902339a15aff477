"""vSphere network: the port group every node attaches to, and each node's addressing.

vSphere creates no firewall for the nodes (``topology.firewall_rules`` lists what the network must
allow). Static addresses follow a plan that depends on nothing but the node: node ``i`` of a pool
takes the ``i``-th address of that pool's own range, so scaling any pool never moves another node.
The control plane always has static addresses; with ``dhcp``, a worker pool without a range takes DHCP's.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pulumi
import pulumi_vsphere as vsphere

from ...config.cluster import ClusterSpec
from ...topology import NodeGroup
from ..contract import look_up
from .config import VSphereNetworkSpec, VSphereStaticSpec, range_bounds

NIC_ADAPTER = "vmxnet3"
"""Every node's one NIC: VMware's paravirtual adapter, whose Linux driver has the same name."""
INTERFACE = "node"
"""The network config's name for that NIC, matched by its driver (netplan, as Ubuntu renders it)."""


def static_address(static: VSphereStaticSpec, group: NodeGroup, index: int) -> str:
    """The address of node ``index`` of ``group``: the ``index``-th of the pool's range."""
    first, last = range_bounds(static.ranges[group.name])
    address = first + index
    if address > last:
        raise ValueError(f"{group.node_name(index)}: the range {static.ranges[group.name]} of pool {group.name!r} is full")
    return str(address)


def network_config(spec: VSphereNetworkSpec, node_cidr: str, address: str | None) -> dict[str, Any]:
    """cloud-init network config version 2 for one node: its static ``address``, or DHCP when None.

    The default route is written as ``0.0.0.0/0``, which netplan and the cloud-init releases
    before ``to: default`` both read.
    """
    nic: dict[str, Any] = {"match": {"driver": NIC_ADAPTER}}
    static = spec.static
    if address is None or static is None:
        nic["dhcp4"] = True
    else:
        prefix = ipaddress.IPv4Network(node_cidr).prefixlen
        nic["dhcp4"] = False
        nic["addresses"] = [f"{address}/{prefix}"]
        nic["routes"] = [{"to": "0.0.0.0/0", "via": static.gateway}]
        nameservers: dict[str, list[str]] = {"addresses": list(static.dns_servers)}
        if static.search_domains:
            nameservers["search"] = list(static.search_domains)
        nic["nameservers"] = nameservers
    return {"version": 2, "ethernets": {INTERFACE: nic}}


class VSphereNetwork(pulumi.ComponentResource):
    """The port group the nodes attach to, found by name, and the node addressing of the section."""

    network_id: str
    """Managed object ID of the port group."""

    def __init__(
        self,
        name: str,
        cluster: ClusterSpec,
        spec: VSphereNetworkSpec,
        datacenter: str,
        datacenter_id: str,
        opts: pulumi.ResourceOptions | None = None,
    ):
        """``datacenter``: the name of the datacenter whose ID is ``datacenter_id``."""
        super().__init__("hybrid-infra:index:VSphereNetwork", name, None, opts)
        self.cluster = cluster
        self.spec = spec
        self.network_id = look_up(
            "vsphere.network.portGroup",
            f"the look-up of the port group {spec.port_group!r} in datacenter {datacenter!r}",
            lambda: vsphere.get_network(
                name=spec.port_group, datacenter_id=datacenter_id, opts=pulumi.InvokeOptions(parent=self)
            ),
        ).id
        self.register_outputs({"networkId": self.network_id})

    def address(self, group: NodeGroup, index: int) -> str | None:
        """The static address of a node, or None when its pool takes DHCP's (a worker pool without a range)."""
        if self.spec.static is None or self.spec.uses_dhcp(group.name):
            return None
        return static_address(self.spec.static, group, index)

    def config(self, group: NodeGroup, index: int) -> dict[str, Any]:
        """The node's cloud-init network config."""
        return network_config(self.spec, self.cluster.network.node_cidr, self.address(group, index))
