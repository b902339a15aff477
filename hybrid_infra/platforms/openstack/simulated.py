"""OpenStack's answers on the simulated cloud: fixed IPs allocated in order from the subnet's CIDR,
load balancer VIPs and floating IPs, image, flavor, network and subnet look-ups.

Type tokens are strings here, so the simulated cloud needs no OpenStack SDK.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ...offline.cloud import SimulatedCloud

FLOATING_RANGE = ipaddress.ip_network("203.0.113.0/24")
"""Documentation range (RFC 5737) standing in for the external network."""


class OpenStackAnswers:
    def __init__(self, cloud: SimulatedCloud):
        self.cloud = cloud
        self._port_addresses: dict[str, str] = {}
        self._floating_next = 10
        self.resources = {
            "openstack:networking/subnet:Subnet": self._subnet,
            "openstack:networking/port:Port": self._port,
            "openstack:loadbalancer/loadBalancer:LoadBalancer": self._load_balancer,
            "openstack:networking/floatingIp:FloatingIp": self._floating_ip,
            "openstack:compute/instance:Instance": self._instance,
        }
        self.calls = {
            "openstack:images/getImage:getImage": self._get_image,
            "openstack:compute/getFlavor:getFlavor": self._get_flavor,
            "openstack:networking/getNetwork:getNetwork": self._get_network,
            "openstack:networking/getSubnet:getSubnet": self._get_subnet,
        }

    def _subnet(self, resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        network = self.cloud.add_network(resource_id, inputs["cidr"])
        return {
            "gatewayIp": str(network.network_address + 1),
            "allocationPools": [{"start": str(network.network_address + 2), "end": str(network.broadcast_address - 1)}],
            "enableDhcp": True,
        }

    def _port(self, resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        fixed = []
        for request in inputs.get("fixedIps") or []:
            address = request.get("ipAddress") or self.cloud.allocate(request["subnetId"])
            fixed.append({"subnetId": request["subnetId"], "ipAddress": address})
        addresses = [entry["ipAddress"] for entry in fixed]
        if addresses:
            self._port_addresses[resource_id] = addresses[0]
        mac = hashlib.sha256(resource_id.encode()).hexdigest()
        return {
            "fixedIps": fixed,
            "allFixedIps": addresses,
            "macAddress": "fa:16:3e:" + ":".join(mac[i : i + 2] for i in range(0, 6, 2)),
        }

    def _load_balancer(self, resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        address = inputs.get("vipAddress") or self.cloud.allocate(inputs["vipSubnetId"])
        return {"vipAddress": address, "vipPortId": self.cloud.resource_id("vip-port", name)}

    def _floating_ip(self, resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        address = str(FLOATING_RANGE.network_address + self._floating_next)
        self._floating_next += 1
        return {"address": address}

    def _instance(self, resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        ports = [network.get("port") for network in inputs.get("networks") or []]
        address = next((self._port_addresses[port] for port in ports if port in self._port_addresses), "")
        return {"accessIpV4": address, "powerState": "active"}

    def _get_image(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"id": self.cloud.resource_id("image", args["name"]), "name": args["name"], "minDiskGb": 0}

    def _get_flavor(self, args: dict[str, Any]) -> dict[str, Any]:
        name = args.get("name") or args["flavorId"]
        return {"id": self.cloud.resource_id("flavor", name), "name": name, "vcpus": 4, "ram": 8192, "disk": 0}

    def _get_network(self, args: dict[str, Any]) -> dict[str, Any]:
        key = args.get("networkId") or args["name"]
        return {
            "id": args.get("networkId") or self.cloud.resource_id("network", key),
            "name": args.get("name") or key,
            "external": bool(args.get("external")),
        }

    def _get_subnet(self, args: dict[str, Any]) -> dict[str, Any]:
        key = args.get("subnetId") or args.get("name") or args.get("cidr")
        subnet_id = args.get("subnetId") or self.cloud.resource_id("subnet", f"{args.get('networkId')}/{key}")
        cidr = args.get("cidr") or self.cloud.node_cidr
        self.cloud.add_network(subnet_id, cidr)
        return {"id": subnet_id, "cidr": cidr, "networkId": args.get("networkId") or "", "name": args.get("name") or ""}


def answers(cloud: SimulatedCloud) -> OpenStackAnswers:
    return OpenStackAnswers(cloud)
