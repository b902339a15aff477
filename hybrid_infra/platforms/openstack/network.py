"""OpenStack network: the node network (created, or an existing one reused) and one security group per role."""

from __future__ import annotations

import re

import pulumi
import pulumi_openstack as openstack

from ...config.cluster import ClusterSpec
from ...topology import ROLES, FirewallRule, Role, firewall_rules
from ..contract import look_up
from .config import OpenStackSpec

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _rule_name(rule: FirewallRule) -> str:
    ports = f"{rule.ports[0]}" if rule.ports and rule.ports[0] == rule.ports[1] else (
        f"{rule.ports[0]}-{rule.ports[1]}" if rule.ports else "any"
    )
    source = rule.source.replace("/", "_")
    return f"{rule.protocol}-{ports}-from-{source}"


class OpenStackNetwork(pulumi.ComponentResource):
    """The node network (created, or an existing one reused) and one security group per role."""

    network_id: pulumi.Input[str]
    """ID of the network the nodes attach to."""
    subnet_id: pulumi.Input[str]
    """ID of the subnet node addresses come from."""
    security_group_ids: dict[Role, pulumi.Output[str]]
    """Security group of each role."""
    external_network_id: str | None
    """ID of the external network, when one is configured (floating IPs come from it)."""

    def __init__(
        self,
        name: str,
        cluster: ClusterSpec,
        spec: OpenStackSpec,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("hybrid-infra:index:OpenStackNetwork", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # The look-ups first, before anything of the network is registered: one that fails is one line.
        self.external_network_id = self._look_up_external(spec)
        if spec.network.existing is not None:
            self.network_id, self.subnet_id = self._look_up_existing(
                spec.network.existing, spec.network.existing_subnet, cluster.network.node_cidr
            )
        else:
            network = openstack.networking.Network(
                f"{name}-network", name=cluster.name, admin_state_up=True, opts=child
            )
            subnet = openstack.networking.Subnet(
                f"{name}-subnet",
                name=cluster.name,
                network_id=network.id,
                cidr=cluster.network.node_cidr,
                ip_version=4,
                dns_nameservers=spec.network.dns_nameservers or None,
                opts=child,
            )
            router = openstack.networking.Router(
                f"{name}-router", name=cluster.name, external_network_id=self.external_network_id, opts=child
            )
            openstack.networking.RouterInterface(
                f"{name}-router-interface", router_id=router.id, subnet_id=subnet.id, opts=child
            )
            self.network_id = network.id
            self.subnet_id = subnet.id

        groups: dict[str, openstack.networking.SecGroup] = {
            role: openstack.networking.SecGroup(
                f"{name}-{role}",
                name=f"{cluster.name}-{role}",
                description=f"{cluster.name} Kubernetes {role} nodes",
                opts=child,
            )
            for role in ROLES
        }
        for rule in firewall_rules(cluster, spec.ssh_allowed_cidrs):
            openstack.networking.SecGroupRule(
                f"{name}-{rule.role}-{_rule_name(rule)}",
                description=rule.description,
                direction="ingress",
                ethertype="IPv4",
                protocol=rule.protocol,
                port_range_min=rule.ports[0] if rule.ports else None,
                port_range_max=rule.ports[1] if rule.ports else None,
                remote_group_id=groups[rule.source].id if rule.from_role else None,
                remote_ip_prefix=None if rule.from_role else rule.source,
                security_group_id=groups[rule.role].id,
                opts=pulumi.ResourceOptions(parent=groups[rule.role]),
            )
        self.security_group_ids = {role: groups[role].id for role in ROLES}
        self.register_outputs(
            {
                "networkId": self.network_id,
                "subnetId": self.subnet_id,
                "securityGroupIds": self.security_group_ids,
                "externalNetworkId": self.external_network_id,
            }
        )

    def _look_up_external(self, spec: OpenStackSpec) -> str | None:
        """The ID of the external network the section names, if any."""
        if spec.external_network is None:
            return None
        name = spec.external_network
        return look_up(
            "openstack.externalNetwork",
            f"the look-up of the external network {name!r}",
            lambda: openstack.networking.get_network(name=name, external=True, opts=pulumi.InvokeOptions(parent=self)),
        ).id

    def _look_up_existing(self, existing: str, subnet: str | None, node_cidr: str) -> tuple[str, str]:
        """The IDs of the reused network (by ID or name) and of its subnet for the nodes: the one named,
        or the one with the node network's CIDR."""
        invoke = pulumi.InvokeOptions(parent=self)
        if _UUID.match(existing):
            found_network = look_up(
                "openstack.network.existing",
                f"the look-up of the network with ID {existing!r}",
                lambda: openstack.networking.get_network(network_id=existing, opts=invoke),
            )
        else:
            found_network = look_up(
                "openstack.network.existing",
                f"the look-up of the network {existing!r}",
                lambda: openstack.networking.get_network(name=existing, opts=invoke),
            )
        network_id = found_network.id
        if subnet is None:
            found = look_up(
                "cluster.network.nodeCidr",
                f"the look-up of the subnet {node_cidr} in network {existing!r}",
                lambda: openstack.networking.get_subnet(network_id=network_id, cidr=node_cidr, opts=invoke),
            )
        elif _UUID.match(subnet):
            found = look_up(
                "openstack.network.existingSubnet",
                f"the look-up of the subnet with ID {subnet!r}",
                lambda: openstack.networking.get_subnet(subnet_id=subnet, opts=invoke),
            )
        else:
            found = look_up(
                "openstack.network.existingSubnet",
                f"the look-up of the subnet {subnet!r} in network {existing!r}",
                lambda: openstack.networking.get_subnet(network_id=network_id, name=subnet, opts=invoke),
            )
        return network_id, found.id

