"""vSphere's answers on the simulated cloud: inventory look-ups with managed object IDs, a template
with one thin disk, and VMs whose guest reports the address their cloud-init meta-data gives (or one
from the port group's network, as DHCP would).

Type tokens are strings here, so the simulated cloud needs no vSphere SDK.
"""

from __future__ import annotations

import base64
import gzip
import ipaddress
from typing import TYPE_CHECKING, Any

from ... import yamltext

if TYPE_CHECKING:
    from ...offline.cloud import SimulatedCloud

TEMPLATE_DISK_GIB = 10
"""The disk of Ubuntu's cloud image as an OVA."""


def _guestinfo(inputs: dict[str, Any], key: str) -> str | None:
    extra = inputs.get("extraConfig") or {}
    value = extra.get(f"guestinfo.{key}")
    if not value:
        return None
    if extra.get(f"guestinfo.{key}.encoding") in ("gzip+base64", "gz+b64"):
        return gzip.decompress(base64.b64decode(value)).decode()
    return str(value)


class VSphereAnswers:
    def __init__(self, cloud: SimulatedCloud):
        self.cloud = cloud
        self.resources = {"vsphere:index/virtualMachine:VirtualMachine": self._virtual_machine}
        self.calls = {
            "vsphere:index/getDatacenter:getDatacenter": self._get_datacenter,
            "vsphere:index/getComputeCluster:getComputeCluster": self._get_compute_cluster,
            "vsphere:index/getResourcePool:getResourcePool": self._get_resource_pool,
            "vsphere:index/getDatastore:getDatastore": self._get_datastore,
            "vsphere:index/getDatastoreCluster:getDatastoreCluster": self._get_datastore_cluster,
            "vsphere:index/getNetwork:getNetwork": self._get_network,
            "vsphere:index/getVirtualMachine:getVirtualMachine": self._get_virtual_machine,
        }

    def _moid(self, kind: str, name: str) -> str:
        """A managed object ID as vCenter writes them (``datastore-1042``), stable for the stack."""
        return f"{kind}-{self.cloud.rng('moid', f'{kind}/{name}').randint(1000, 9999)}"

    def _virtual_machine(self, resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        network = yamltext.load(_guestinfo(inputs, "metadata") or "{}").get("network") or {}
        static = [
            address
            for nic in (network.get("ethernets") or {}).values()
            for address in nic.get("addresses") or []
        ]
        if static:
            address = str(ipaddress.IPv4Interface(static[0]).ip)
        else:
            networks = [nic["networkId"] for nic in inputs.get("networkInterfaces") or []]
            address = self.cloud.allocate(networks[0])
        return {
            "uuid": resource_id,
            "moid": self._moid("vm", name),
            "defaultIpAddress": address,
            "guestIpAddresses": [address],
            "powerState": "on",
        }

    def _get_datacenter(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"id": self._moid("datacenter", args["name"]), "name": args["name"], "virtualMachines": []}

    def _get_compute_cluster(self, args: dict[str, Any]) -> dict[str, Any]:
        key = f"{args.get('datacenterId')}/{args['name']}"
        return {
            "id": self._moid("domain-c", key),
            "name": args["name"],
            "datacenterId": args.get("datacenterId"),
            "resourcePoolId": self._moid("resgroup", key),
        }

    def _get_resource_pool(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"id": self._moid("resgroup", f"{args.get('parentResourcePoolId')}/{args['name']}")}

    def _get_datastore(self, args: dict[str, Any]) -> dict[str, Any]:
        key = f"{args.get('datacenterId')}/{args['name']}"
        return {"id": self._moid("datastore", key), "name": args["name"], "datacenterId": args.get("datacenterId")}

    def _get_datastore_cluster(self, args: dict[str, Any]) -> dict[str, Any]:
        key = f"{args.get('datacenterId')}/{args['name']}"
        return {"id": self._moid("group-p", key), "name": args["name"], "datastores": []}

    def _get_network(self, args: dict[str, Any]) -> dict[str, Any]:
        network_id = self._moid("dvportgroup", f"{args.get('datacenterId')}/{args['name']}")
        # DHCP hands out addresses of the stack's node network on this port group.
        self.cloud.add_network(network_id, self.cloud.node_cidr)
        return {"id": network_id, "name": args["name"], "type": "DistributedVirtualPortgroup"}

    def _get_virtual_machine(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self.cloud.resource_id("template", f"{args.get('datacenterId')}/{args['name']}"),
            "name": args["name"],
            "guestId": "ubuntu64Guest",
            "firmware": "efi",
            "scsiType": "pvscsi",
            "networkInterfaceTypes": ["vmxnet3"],
            "disks": [
                {
                    "label": "Hard disk 1",
                    "size": TEMPLATE_DISK_GIB,
                    "thinProvisioned": True,
                    "eagerlyScrub": False,
                    "unitNumber": 0,
                }
            ],
        }


def answers(cloud: SimulatedCloud) -> VSphereAnswers:
    return VSphereAnswers(cloud)
