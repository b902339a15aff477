from __future__ import annotations

import base64
import copy
import datetime
import gzip
from typing import Any

import pytest

from hybrid_infra.offline.plan import load_stack
from hybrid_infra.offline.simulate import Secret, Simulation
from hybrid_infra.platform import program
from hybrid_infra.stack import parse_stack_config
from hybrid_infra.testing import simulate
from tests.conftest import STACKS, secret_keys

VIRTUAL_MACHINE = "vsphere:index/virtualMachine:VirtualMachine"
ANTI_AFFINITY = "vsphere:index/computeClusterVmAntiAffinityRule:ComputeClusterVmAntiAffinityRule"


def load_prod_config() -> dict[str, Any]:
    """The prod stack's config as the plan sees it (encrypted values replaced by stand-ins)."""
    return copy.deepcopy(load_stack(STACKS, "prod").values)


@pytest.fixture
def prod_config() -> dict[str, Any]:
    """The prod stack's config, a fresh copy to change in a test."""
    return load_prod_config()


def run(config: dict[str, Any], preview: bool = False) -> Simulation:
    return simulate(
        program, stack="prod", config=config, secret_keys=secret_keys(config), spec=parse_stack_config(config), preview=preview
    )


def shown(value: Any) -> Any:
    """A value with its secret wrappers taken off, at every depth."""
    if isinstance(value, Secret):
        return shown(value.value)
    if isinstance(value, dict):
        return {key: shown(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shown(item) for item in value]
    return value


def machines(result: Simulation) -> dict[str, dict[str, Any]]:
    """Every VM's inputs, secrets shown, by VM name."""
    return {r.inputs["name"]: shown(r.inputs) for r in result.of_type(VIRTUAL_MACHINE)}


def guestinfo(inputs: dict[str, Any], key: str) -> str:
    """A guestinfo value of a VM, decoded as its ``.encoding`` says."""
    extra = inputs["extraConfig"]
    assert extra[f"guestinfo.{key}.encoding"] == "gzip+base64"
    return gzip.decompress(base64.b64decode(extra[f"guestinfo.{key}"])).decode()


def ca_bundle(common_name: str = "CA vcenter.example.com") -> str:
    """A self-signed CA certificate in PEM, such as vCenter's VMCA root."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.derive_private_key(7, ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def with_ca_bundle(config: dict[str, Any], bundle: str) -> dict[str, Any]:
    provider = config["hybrid-infra:vsphere"]["cloudProvider"]
    del provider["thumbprint"]
    provider["caBundle"] = bundle
    return config
