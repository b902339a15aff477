"""AWS's answers on the simulated cloud: private addresses allocated in order from each subnet, load
balancer names, Elastic IPs, and the look-ups of zones, images, subnets and the partition.

The simulated region offers four zones, ``<region>a`` to ``<region>d``. Of Canonical's images it holds
the Ubuntu LTS server images of the names Canonical publishes; an image of any other owner is taken to
exist. Subnets reused by ID lie in the stack's ``existingVpcId``, cut from the node network in the order
the stack names them. Type tokens are strings here, so the simulated cloud needs no AWS SDK.
"""

from __future__ import annotations

import fnmatch
import hashlib
import ipaddress
import uuid
from typing import TYPE_CHECKING, Any

import pulumi

from ..contract import LookupFailed
from .config import CANONICAL_OWNER, subnet_layout

if TYPE_CHECKING:
    from ...offline.cloud import SimulatedCloud
    from .config import AwsSpec

ZONE_LETTERS = "abcd"
ELASTIC_RANGE = ipaddress.ip_network("203.0.113.0/24")
"""Documentation range (RFC 5737) standing in for Amazon's public addresses."""
UBUNTU_RELEASES = {"jammy-22.04": "hvm-ssd", "noble-24.04": "hvm-ssd-gp3", "resolute-26.04": "hvm-ssd-gp3"}
"""Canonical's image names, ubuntu/images/<volume>/ubuntu-<release>-<arch>-server-<serial> (kubernetes/kops
v1.36.2, docs/operations/images.md); the serial here is the simulated cloud's own."""
SIMULATED_SERIAL = "20260101"
NO_IMAGE = "Your query returned no results. Please change your search criteria and try again."
"""What the provider answers when no image matches."""
ACCOUNT = "111122223333"
"""The simulated account, the example account ID of AWS's documentation."""
DEPLOYER = f"arn:aws:iam::{ACCOUNT}:role/deployer"
"""The role the simulated deployment runs as, in a session of its own."""


def canonical_images() -> list[str]:
    return [
        f"ubuntu/images/{volume}/ubuntu-{release}-{arch}-server-{SIMULATED_SERIAL}"
        for release, volume in UBUNTU_RELEASES.items()
        for arch in ("amd64", "arm64")
    ]


def _region_of(zone: str) -> str:
    return zone[:-1]


class AwsAnswers:
    def __init__(self, cloud: SimulatedCloud):
        self.cloud = cloud
        self._subnet_zones: dict[str, str] = {}
        self._elastic_next = 10
        self.resources = {
            "aws:ec2/subnet:Subnet": self._subnet,
            "aws:ec2/instance:Instance": self._instance,
            "aws:ec2/eip:Eip": self._elastic_ip,
            "aws:ec2/natGateway:NatGateway": self._nat_gateway,
            "aws:lb/loadBalancer:LoadBalancer": self._load_balancer,
            "aws:lb/targetGroup:TargetGroup": self._target_group,
            "aws:iam/role:Role": self._role,
            "aws:iam/instanceProfile:InstanceProfile": self._named,
            "aws:kms/key:Key": self._kms_key,
            "aws:secretsmanager/secret:Secret": self._secret,
            "aws:secretsmanager/secretVersion:SecretVersion": self._secret_version,
        }
        self.calls = {
            "aws:index/getAvailabilityZones:getAvailabilityZones": self._get_availability_zones,
            "aws:index/getPartition:getPartition": self._get_partition,
            "aws:ec2/getAmi:getAmi": self._get_ami,
            "aws:ec2/getSubnet:getSubnet": self._get_subnet,
            "aws:index/getCallerIdentity:getCallerIdentity": self._get_caller_identity,
            "aws:iam/getSessionContext:getSessionContext": self._get_session_context,
        }

    @property
    def _section(self) -> AwsSpec | None:
        return getattr(self.cloud.spec, "aws", None)

    def _hex(self, kind: str, name: str, length: int = 17) -> str:
        return hashlib.sha256(f"{self.cloud.resource_id(kind, name)}".encode()).hexdigest()[:length]

    def _subnet(self, resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        self.cloud.add_network(resource_id, inputs["cidrBlock"])
        # AWS keeps a subnet's first four addresses (network, router, DNS, one for later): .2 and .3 go.
        self.cloud.allocate(resource_id)
        self.cloud.allocate(resource_id)
        self._subnet_zones[resource_id] = inputs["availabilityZone"]
        return {"arn": f"arn:aws:ec2:{_region_of(inputs['availabilityZone'])}::subnet/{resource_id}"}

    def _instance(self, resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        address = self.cloud.allocate(inputs["subnetId"])
        zone = self._subnet_zones[inputs["subnetId"]]
        region = _region_of(zone)
        domain = "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"
        return {
            "privateIp": address,
            "privateDns": f"ip-{address.replace('.', '-')}.{domain}",
            "availabilityZone": zone,
            "instanceState": "running",
        }

    def _elastic_ip(self, resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        address = str(ELASTIC_RANGE.network_address + self._elastic_next)
        self._elastic_next += 1
        return {"publicIp": address, "allocationId": f"eipalloc-{self._hex('eip', name)}"}

    def _nat_gateway(self, resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        return {"privateIp": self.cloud.allocate(inputs["subnetId"])}

    def _load_balancer(self, resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        zone = self._subnet_zones.get((inputs.get("subnets") or [""])[0], "us-east-1a")
        suffix = self._hex("load-balancer", name, 16)
        return {
            "dnsName": f"{inputs['name']}-{suffix}.elb.{_region_of(zone)}.amazonaws.com",
            "arn": f"arn:aws:elasticloadbalancing:{_region_of(zone)}::loadbalancer/net/{inputs['name']}/{suffix}",
        }

    def _target_group(self, resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        return {"arn": f"arn:aws:elasticloadbalancing:::targetgroup/{inputs['name']}/{self._hex('target-group', name, 16)}"}

    def _named(self, resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        # Pulumi names the resource after itself with a random suffix when no name is given.
        return {"name": inputs.get("name") or f"{name}-{self._hex('name', name, 7)}"}

    def _role(self, resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        named = self._named(resource_id, name, inputs)
        return {**named, "arn": f"arn:aws:iam::{ACCOUNT}:role/{named['name']}"}

    def _kms_key(self, resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        key_id = str(uuid.UUID(self._hex("kms-key", name, 32)))
        return {"keyId": key_id, "arn": f"arn:aws:kms:{self._region}:{ACCOUNT}:key/{key_id}"}

    def _secret(self, resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        # Secrets Manager appends six random characters to the ARN; the ID is the ARN.
        arn = f"arn:aws:secretsmanager:{self._region}:{ACCOUNT}:secret:{inputs['name']}-{self._hex('secret', name, 6)}"
        return {"arn": arn}

    def _secret_version(self, resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        return {"versionId": str(uuid.UUID(self._hex("secret-version", name, 32))), "arn": inputs["secretId"]}

    @property
    def _region(self) -> str:
        return pulumi.Config("aws").get("region") or "us-east-1"

    def _get_caller_identity(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "accountId": ACCOUNT,
            "arn": DEPLOYER.replace(":iam::", ":sts::").replace(":role/", ":assumed-role/") + "/pulumi",
            "userId": "AROAEXAMPLEDEPLOYER:pulumi",
        }

    def _get_session_context(self, args: dict[str, Any]) -> dict[str, Any]:
        arn = args["arn"]
        if ":assumed-role/" not in arn:
            return {"arn": arn, "issuerArn": arn}
        role, session = arn.split(":assumed-role/", 1)[1].split("/", 1)
        return {"arn": arn, "issuerArn": f"arn:aws:iam::{ACCOUNT}:role/{role}", "issuerName": role, "sessionName": session}

    def _get_availability_zones(self, args: dict[str, Any]) -> dict[str, Any]:
        region = args.get("region") or "us-east-1"
        names = [f"{region}{letter}" for letter in ZONE_LETTERS]
        return {"id": region, "names": names, "zoneIds": [f"{region}-az{i}" for i in range(1, len(names) + 1)]}

    def _get_partition(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"id": "aws", "partition": "aws", "dnsSuffix": "amazonaws.com", "reverseDnsPrefix": "com.amazonaws"}

    def _get_ami(self, args: dict[str, Any]) -> dict[str, Any]:
        owners = args.get("owners") or []
        patterns = [value for entry in args.get("filters") or [] if entry["name"] == "name" for value in entry["values"]]
        if CANONICAL_OWNER in owners:
            found = sorted(name for name in canonical_images() if all(fnmatch.fnmatchcase(name, p) for p in patterns))
            if not found:
                raise LookupFailed(NO_IMAGE)
            name = found[-1]
        else:
            name = patterns[0].replace("*", SIMULATED_SERIAL) if patterns else "image"
        return {
            "id": f"ami-{self._hex('image', name)}",
            "name": name,
            "ownerId": owners[0] if owners else "self",
            "architecture": "arm64" if "arm64" in name else "x86_64",
            "state": "available",
        }

    def _get_subnet(self, args: dict[str, Any]) -> dict[str, Any]:
        subnet_id, section = args["id"], self._section
        if section is not None:
            network = section.network
            for half, ids in enumerate((network.private_subnet_ids, network.public_subnet_ids)):
                if subnet_id in ids:
                    index = ids.index(subnet_id)
                    cidr = subnet_layout(self.cloud.node_cidr, len(ids))[half][index]
                    zone = f"{args.get('region') or 'us-east-1'}{ZONE_LETTERS[index % len(ZONE_LETTERS)]}"
                    self.cloud.add_network(subnet_id, cidr)
                    for _ in range(2):
                        self.cloud.allocate(subnet_id)
                    self._subnet_zones[subnet_id] = zone
                    return {"id": subnet_id, "vpcId": network.existing_vpc_id, "cidrBlock": cidr, "availabilityZone": zone}
        raise LookupFailed(f"no subnet with ID {subnet_id!r}")


def answers(cloud: SimulatedCloud) -> AwsAnswers:
    return AwsAnswers(cloud)
