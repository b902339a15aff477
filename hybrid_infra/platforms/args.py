"""The platform sections as typed arguments of the component provider: one field per registered
platform, as a stack file has one ``hybrid-infra:<platform>`` key each. A platform adds its field
here; the contract test checks that every registered platform has one."""

# No `from __future__ import annotations`: the analyzer of Pulumi's component provider reads the
# annotations as objects (NotRequired among them).
from typing import NotRequired, TypedDict

from .aws.args import AwsSpec
from .openstack.args import OpenStackSpec
from .vsphere.args import VSphereSpec


class PlatformSections(TypedDict):
    """The platform the nodes run on: exactly one section, with the keys of its stack section."""

    openstack: NotRequired[OpenStackSpec]
    """OpenStack (the keys of hybrid-infra:openstack)."""
    vsphere: NotRequired[VSphereSpec]
    """vSphere (the keys of hybrid-infra:vsphere)."""
    aws: NotRequired[AwsSpec]
    """AWS (the keys of hybrid-infra:aws)."""
