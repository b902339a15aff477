"""Each platform's stack section fitted to a stack the bench scales (``benchmarks.scaling``).

A function per platform takes the section as a stack file writes it (camelCase keys), the nodes of
each pool of the scaled cluster (``control-plane`` among them) and its node network, and returns the
section that cluster needs, leaving the one it was given unchanged. A platform without one here names
nothing per node in its section, which stays as it is. This is the bench's business: the platform
contract (``hybrid_infra.platforms.contract``) knows nothing of it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from hybrid_infra.platforms.openstack.config import NOVA_SERVER_GROUP_MEMBERS

Section = dict[str, Any]
Resizer = Callable[[Section, dict[str, int], str], Section]


def openstack(section: Section, pools: dict[str, int], node_cidr: str) -> Section:
    """Each pool is one server group: the scaled stack states a quota that holds its largest pool."""
    largest = max(pools.values(), default=0)
    if largest <= section.get("maxServerGroupMembers", NOVA_SERVER_GROUP_MEMBERS):
        return section
    return {**section, "maxServerGroupMembers": largest}


def vsphere(section: Section, pools: dict[str, int], node_cidr: str) -> Section:
    """Static ranges laid out again, in the order of ``pools``, each the size of its pool, from the
    first host address of ``node_cidr`` on, around the gateway, the DNS servers and the API's
    address; everything else as it was. A range's first address is where its pool's node 0 sits,
    so this is for a new stack (the bench's), not for one that runs."""
    static = section.get("network", {}).get("static")
    if not static:
        return section
    network = ipaddress.IPv4Network(node_cidr)
    reserved = {ipaddress.IPv4Address(static["gateway"]), *map(ipaddress.IPv4Address, static.get("dnsServers", []))}
    if section.get("endpoint", {}).get("address"):
        reserved.add(ipaddress.IPv4Address(section["endpoint"]["address"]))
    ranges: dict[str, str] = {}
    first = network.network_address + 1
    for name, count in pools.items():
        size = max(count, 1)  # an empty pool still names a range
        last = first + size - 1
        while taken := [address for address in reserved if first <= address <= last]:
            first = max(taken) + 1
            last = first + size - 1
        if last >= network.broadcast_address:
            raise ValueError(f"{node_cidr} holds no {count} more addresses for pool {name!r}")
        ranges[name] = f"{first}-{last}"
        first = last + 1
    return {**section, "network": {**section["network"], "static": {**static, "ranges": ranges}}}


RESIZERS: dict[str, Resizer] = {"openstack": openstack, "vsphere": vsphere}
"""By platform name (``hybrid_infra.platforms.names()``)."""


def section(platform: str, section: Section, pools: dict[str, int], node_cidr: str) -> Section:
    """``platform``'s section fitted to pools of ``pools`` nodes in the node network ``node_cidr``."""
    resizer = RESIZERS.get(platform)
    return section if resizer is None else resizer(section, pools, node_cidr)
