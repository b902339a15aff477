"""The lab's program, run as `pulumi up` and `pulumi preview` would run it, on the simulated cloud."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from hybrid_infra import POOL_LABEL
from hybrid_infra.testing import Secret, Simulation, Unknown, simulate
from tests.conftest import VALIDATE_VERSION, cloud_init_schema
from tests.openapi import CDI_SCHEMA, KUBEVIRT_SCHEMA, check_openapi

kubernetes_validate = pytest.importorskip("kubernetes_validate")

PROJECT_DIR = Path(__file__).resolve().parent.parent
PROJECT = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["name"]
STACK = "dev"
VIRTUAL_MACHINE = "kubernetes:kubevirt.io/v1:VirtualMachine"
VSPHERE_VM = "vsphere:index/virtualMachine:VirtualMachine"
VIRT_TOLERATION = {"key": "hybrid-infra.io/virtualization", "operator": "Equal", "value": "true", "effect": "NoSchedule"}


def stand_in(key: str) -> str:
    return f"stand-in-for-{key}"


def stack_config(**changes: Any) -> tuple[dict[str, Any], list[str]]:
    """The stack file's config, each encrypted value replaced by a stand-in of its own, and the secret keys."""
    config = yaml.safe_load((PROJECT_DIR / f"Pulumi.{STACK}.yaml").read_text())["config"]
    config.update({f"{PROJECT}:{key}": value for key, value in changes.items()})
    secret_keys = [key for key, value in config.items() if isinstance(value, dict) and "secure" in value]
    return {key: stand_in(key) if key in secret_keys else value for key, value in config.items()}, secret_keys


def run(preview: bool = False, **changes: Any) -> Simulation:
    config, secret_keys = stack_config(**changes)
    return simulate(
        lambda: runpy.run_path(str(PROJECT_DIR / "__main__.py"), run_name="__main__"),
        stack=STACK,
        project=PROJECT,
        config=config,
        secret_keys=secret_keys,
        preview=preview,
    )


@pytest.fixture(scope="module")
def up() -> Simulation:
    return run()


def plain(value: Any) -> Any:
    """``value`` with every secret shown."""
    if isinstance(value, Secret):
        return plain(value.value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    # Numbers cross Pulumi's wire as floats: whole ones back to ints, as the API server reads them.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def outside_secrets(value: Any) -> list[str]:
    """Every text of ``value`` that is not inside a secret."""
    if isinstance(value, Secret):
        return []
    if isinstance(value, dict):
        return [text for item in value.values() for text in outside_secrets(item)]
    if isinstance(value, list):
        return [text for item in value for text in outside_secrets(item)]
    return [value] if isinstance(value, str) else []


def virtual_machines(result: Simulation) -> dict[str, dict[str, Any]]:
    return {vm.inputs["metadata"]["name"]: plain(vm.inputs) for vm in result.of_type(VIRTUAL_MACHINE)}


def named(result: Simulation, name: str):
    return next(r for r in result.resources if r.name == name)


def test_two_vms_that_validate_against_kubevirt_and_cdi(up):
    vms = virtual_machines(up)
    assert sorted(vms) == ["devbox", "web"]
    for vm in vms.values():
        assert vm["metadata"]["namespace"] == "lab"
        check_openapi(vm, KUBEVIRT_SCHEMA, "v1.VirtualMachine")
    disks = {dv.inputs["metadata"]["name"]: plain(dv.inputs) for dv in up.of_type("kubernetes:cdi.kubevirt.io/v1beta1:DataVolume")}
    for disk in disks.values():
        check_openapi(disk, CDI_SCHEMA, "v1beta1.DataVolume")
    sources = {name: disks[f"{name}-disk"]["spec"]["source"] for name in vms}
    assert sources == {
        "devbox": {"http": {"url": "https://cloud-images.ubuntu.com/releases/noble/release/ubuntu-24.04-server-cloudimg-amd64.img"}},
        "web": {"registry": {"url": "docker://quay.io/containerdisks/fedora:41"}},
    }


def test_the_vms_land_on_the_virt_pool_and_tolerate_its_taint(up):
    for vm in virtual_machines(up).values():
        spec = vm["spec"]["template"]["spec"]
        terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        assert terms == [{"matchExpressions": [{"key": POOL_LABEL, "operator": "In", "values": ["virt"]}]}]
        assert spec["tolerations"] == [VIRT_TOLERATION]


def test_the_vms_wait_for_kubevirt_cdi_and_their_namespace(up):
    ready = {named(up, name).urn for name in ("lab-dev-kubevirt-kubevirt", "lab-dev-cdi-cdi", "lab-dev-namespace")}
    for name in ("lab-dev-devbox-vm", "lab-dev-web-vm"):
        assert ready <= set(named(up, name).dependencies), name


def test_nested_virtualization_only_on_the_virt_pool(up):
    pools = {node["name"]: node["pool"] for node in up.outputs["nodes"]}
    nested: dict[str, set[bool]] = {}
    for machine in up.of_type(VSPHERE_VM):
        nested.setdefault(pools[machine.inputs["name"]], set()).add(machine.inputs["nestedHvEnabled"])
    assert nested == {"control-plane": {False}, "general": {False}, "virt": {True}}


def test_kubevirt_runs_the_vms_with_kvm_not_emulation(up):
    (kubevirt,) = up.of_type("kubernetes:kubevirt.io/v1:KubeVirt")
    document = plain(kubevirt.inputs)
    check_openapi(document, KUBEVIRT_SCHEMA, "v1.KubeVirt")
    assert "useEmulation" not in document["spec"]["configuration"]["developerConfiguration"]
    workloads = document["spec"]["workloads"]["nodePlacement"]
    terms = workloads["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [{"key": POOL_LABEL, "operator": "In", "values": ["virt"]}]}]
    assert not [warning for warning in up.warnings if "emulat" in warning]


def test_the_vcenter_password_reaches_the_cloud_provider_as_a_secret(up):
    password = stand_in(f"{PROJECT}:cloudProviderPassword")
    credentials = named(up, "lab-dev-vsphere-cloud-provider-cpi-credentials").inputs["stringData"]
    csi = named(up, "lab-dev-vsphere-cloud-provider-csi-config").inputs["stringData"]
    assert isinstance(credentials, Secret) and isinstance(csi, Secret)
    assert credentials.value["vcenter.lab.example.com.password"] == password
    assert f'password = "{password}"' in csi.value["csi-vsphere.conf"]


def test_the_vms_cloud_init_carries_the_password_as_a_secret(up):
    password = stand_in(f"{PROJECT}:vmPassword")
    for name in ("devbox", "web"):
        data = named(up, f"lab-dev-{name}-cloud-init").inputs["stringData"]
        assert isinstance(data, Secret)
        cloud_config = yaml.safe_load(plain(data)["userdata"])
        assert cloud_config["chpasswd"]["users"] == [{"name": "lab", "password": password, "type": "text"}]
        assert cloud_config["ssh_pwauth"] is False


def test_no_secret_appears_outside_a_secret(up):
    secrets = [stand_in(key) for key in stack_config()[1]]
    texts = [text for resource in up.resources for part in (resource.inputs, resource.outputs) for text in outside_secrets(part)]
    texts += outside_secrets(up.outputs)
    assert not [text for text in texts if any(secret in text for secret in secrets)]
    assert isinstance(up.outputs["kubeconfig"], Secret)


def test_every_vm_cloud_config_passes_cloud_init_schema(up, tmp_path):
    for name in ("devbox", "web"):
        path = tmp_path / f"{name}.user-data"
        path.write_text(plain(named(up, f"lab-dev-{name}-cloud-init").inputs["stringData"])["userdata"])
        checked = cloud_init_schema(path)
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_lab_objects_pass_kubernetes_validate_strict(up):
    found = [
        resource
        for resource in up.resources
        if resource.name.startswith(("lab-dev-devbox-", "lab-dev-web-")) and resource.type.startswith("kubernetes:core/v1:")
    ]
    found.append(named(up, "lab-dev-namespace"))
    assert sorted(r.type.rsplit(":", 1)[-1] for r in found) == ["Namespace", "Secret", "Secret", "Service", "Service"]
    for resource in found:
        kubernetes_validate.validate(plain(resource.inputs), VALIDATE_VERSION, strict=True)
    ports = {r.inputs["metadata"]["name"]: [p["port"] for p in r.inputs["spec"]["ports"]] for r in found if r.type.endswith("Service")}
    assert ports == {"devbox": [22], "web": [22, 80]}


def test_two_runs_give_the_same_resources_and_inputs(up):
    again = run()
    assert [(r.urn, plain(r.inputs)) for r in again.resources] == [(r.urn, plain(r.inputs)) for r in up.resources]


def test_preview_registers_the_same_resources_with_the_kubeconfig_unknown(up):
    preview = run(preview=True)
    assert [r.urn for r in preview.resources] == [r.urn for r in up.resources]
    # The API's VIP is chosen in the program; the kubeconfig needs the certificates Pulumi makes.
    assert preview.outputs["endpoint"] == "10.40.0.5"
    assert isinstance(plain(preview.outputs["kubeconfig"]), Unknown)


def test_the_stack_outputs(up):
    assert up.outputs["endpoint"] == "10.40.0.5"
    assert up.outputs["virtualMachines"] == ["lab/devbox", "lab/web"]
    assert [node["pool"] for node in up.outputs["nodes"]] == ["control-plane"] * 3 + ["general"] * 2 + ["virt"] * 2


def test_more_virt_nodes_than_their_addresses_stop_with_one_message_naming_the_key():
    with pytest.raises(pulumi.RunError) as caught:
        run(virtNodes=41)
    assert str(caught.value) == (
        "the lab's settings do not fit together:\n"
        "vsphere.network.static.ranges.virt: '10.40.0.40-10.40.0.79' is not allowed; it holds 40 addresses "
        "and pool 'virt' has 41 nodes"
    )
