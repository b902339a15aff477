"""OpenStack network: the node network (created, or an existing one reused) and one security group per role."""

from __future__ import annotations

import re

import pulumi
import pulumi_openstack as openstack

from ...config.cluster import ClusterSpec
from ...topology import ROLES, FirewallRule, Role, firewall_rules
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

    network_id: pulumi.Output[str]
    """ID of the network the nodes attach to."""
    subnet_id: pulumi.Output[str]
    """ID of the subnet node addresses come from."""
    security_group_ids: dict[Role, pulumi.Output[str]]
    """Security group of each role."""
    external_network_id: pulumi.Output[str] | None
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
        invoke = pulumi.InvokeOutputOptions(parent=self)
        self.external_network_id = None
        if spec.external_network is not None:
            self.external_network_id = openstack.networking.get_network_output(
                name=spec.external_network, external=True, opts=invoke
            ).id
        if spec.network.existing is None:
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
        else:
            existing = spec.network.existing
            if _UUID.match(existing):
                found = openstack.networking.get_network_output(network_id=existing, opts=invoke)
            else:
                found = openstack.networking.get_network_output(name=existing, opts=invoke)
            subnet_ref = spec.network.existing_subnet
            if subnet_ref is None:
                found_subnet = openstack.networking.get_subnet_output(
                    network_id=found.id, cidr=cluster.network.node_cidr, opts=invoke
                )
            elif _UUID.match(subnet_ref):
                found_subnet = openstack.networking.get_subnet_output(subnet_id=subnet_ref, opts=invoke)
            else:
                found_subnet = openstack.networking.get_subnet_output(network_id=found.id, name=subnet_ref, opts=invoke)
            self.network_id = found.id
            self.subnet_id = found_subnet.id

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

