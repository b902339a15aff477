"""Legacy guests as they come: their firmware, buses and NIC, several disks from several sources, static
addresses, disks that outlive the VM, access through virtctl, and `pulumi up` waiting for imports."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from hybrid_infra.config import ConfigError
from hybrid_infra.offline.plan import Redactor, run_plan
from hybrid_infra.offline.simulate import Simulation
from hybrid_infra.stack import parse_stack_config
from hybrid_infra.testing import simulate
from hybrid_infra.workloads import VirtualMachine
from tests.conftest import STACKS
from tests.openapi import check_openapi
from tests.test_config import problems
from tests.test_kubevirt import CDI_SCHEMA, KUBEVIRT_SCHEMA, dev_manifests  # noqa: F401 (a fixture)

BASE: dict[str, Any] = {
    "name": "legacy",
    "disk": {"source": "https://images.example.com/legacy.qcow2", "size": "20Gi"},
    "memory": "4Gi",
}
VM_TYPE = "kubernetes:kubevirt.io/v1:VirtualMachine"
DV_TYPE = "kubernetes:cdi.kubevirt.io/v1beta1:DataVolume"


def build(dev_config: dict[str, Any], vm: dict[str, Any], read_write_many: bool = False) -> Simulation:
    spec = parse_stack_config(dev_config)

    def program() -> None:
        VirtualMachine("legacy", vm, spec.cluster, opts=None, read_write_many=read_write_many)

    return simulate(program, stack="test", config={})


def shown(result: Simulation, resource) -> dict[str, Any]:
    return Redactor(result, show_secrets=True).value(resource.inputs)


def rendered(dev_config: dict[str, Any], vm: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]], Simulation]:
    result = build(dev_config, vm)
    (machine,) = result.of_type(VM_TYPE)
    document = shown(result, machine)
    check_openapi(document, KUBEVIRT_SCHEMA, "v1.VirtualMachine")
    disks = [shown(result, disk) for disk in result.of_type(DV_TYPE)]
    for disk in disks:
        check_openapi(disk, CDI_SCHEMA, "v1beta1.DataVolume")
    return document, disks, result


def domain_of(document: dict[str, Any]) -> dict[str, Any]:
    return document["spec"]["template"]["spec"]["domain"]


def test_a_linux_guest_boots_bios_on_virtio(dev_config):
    document, _, _ = rendered(dev_config, BASE)
    domain = domain_of(document)
    assert domain["firmware"] == {"bootloader": {"bios": {}}}
    assert domain["devices"]["disks"][0] == {"name": "disk", "disk": {"bus": "virtio"}, "bootOrder": 1}
    assert domain["devices"]["interfaces"][0]["model"] == "virtio"
    assert "features" not in domain


def test_a_windows_guest_boots_uefi_on_sata_with_an_intel_nic_and_hyperv(dev_config):
    document, _, _ = rendered(dev_config, {**BASE, "guestOs": "windows"})
    domain = domain_of(document)
    # KubeVirt's EFI turns Secure Boot on unless told: a guest installed without it would not boot.
    assert domain["firmware"] == {"bootloader": {"efi": {"secureBoot": False}}}
    assert domain["devices"]["disks"][0]["disk"] == {"bus": "sata"}
    assert domain["devices"]["interfaces"][0]["model"] == "e1000e"
    hyperv = domain["features"]["hyperv"]
    assert {"relaxed", "vapic", "vpindex", "synic", "synictimer", "spinlocks"} <= set(hyperv)
    assert domain["clock"]["timer"]["hpet"] == {"present": False}


def test_a_legacy_linux_guest_without_virtio_drivers(dev_config):
    vm = {**BASE, "guestOs": "linux-legacy", "userData": "#cloud-config\n{}\n"}
    document, _, _ = rendered(dev_config, vm)
    disks = domain_of(document)["devices"]["disks"]
    # The cloud-init disk too: the guest reads it with the drivers it has.
    assert [d["disk"]["bus"] for d in disks] == ["sata", "sata"]
    assert domain_of(document)["devices"]["interfaces"][0]["model"] == "e1000e"
    assert domain_of(document)["firmware"] == {"bootloader": {"bios": {}}}


def test_explicit_choices_win_over_the_preset(dev_config):
    vm = {
        **BASE,
        "guestOs": "windows",
        "firmware": {"type": "efi", "secureBoot": True},
        "nicModel": "virtio",
        "macAddress": "02:1a:2b:3c:4d:5e",
        "disk": {**BASE["disk"], "bus": "scsi"},
    }
    document, _, _ = rendered(dev_config, vm)
    domain = domain_of(document)
    assert domain["firmware"] == {"bootloader": {"efi": {"secureBoot": True}}}
    assert domain["features"]["smm"] == {"enabled": True}
    assert domain["devices"]["disks"][0]["disk"] == {"bus": "scsi"}
    assert domain["devices"]["interfaces"][0]["model"] == "virtio"
    assert domain["devices"]["interfaces"][0]["macAddress"] == "02:1a:2b:3c:4d:5e"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"firmware": {"type": "bios", "secureBoot": True}}, "legacy.firmware.secureBoot: true is not allowed with firmware type bios"),
        ({"instancetype": {"name": "u1.medium"}, "cpu": 2, "memory": None}, "legacy.cpu: not allowed together with instancetype"),
        ({"instancetype": {"name": "u1.medium"}}, "legacy.memory: not allowed together with instancetype"),
        ({"memory": None}, "legacy.memory: missing; give memory"),
        ({"macAddress": "03:00:00:00:00:01"}, "legacy.macAddress: '03:00:00:00:00:01' is not allowed"),
        ({"guestOs": "solaris"}, "legacy.guestOs: 'solaris' is not allowed"),
        ({"disk": {"size": "20Gi"}}, "legacy.disk: no source given; give exactly one of source"),
        ({"disk": {"size": "20Gi", "upload": True, "source": "https://x.example/a.img"}}, "legacy.disk: source and upload given"),
        ({"disk": {"source": "docker://quay.io/a/b:1", "size": "20Gi", "checksum": "sha256:" + "0" * 64}}, "legacy.disk.checksum:"),
        ({"disk": {"source": "https://x.example/a.img", "size": "20Gi", "checksum": "sha256:abc"}}, "legacy.disk.checksum: 'sha256:abc'"),
        ({"disk": {"upload": True, "size": "20Gi"}}, "legacy.runStrategy: 'Always' is not allowed with an upload source"),
        ({"expose": {"allowedCidrs": ["203.0.113.0/24"]}}, "legacy.expose: not allowed without ports"),
        ({"dataDisks": [{"name": "disk", "size": "1Gi", "upload": True}]}, "legacy.dataDisks[0].name: 'disk' is not allowed"),
    ],
)
def test_combinations_kubevirt_refuses_are_one_line(dev_config, change, expected):
    vm = {key: value for key, value in {**BASE, **change}.items() if value is not None}
    with pytest.raises(ConfigError) as caught:
        build(dev_config, vm)
    assert len(caught.value.problems) == 1, caught.value.problems
    assert caught.value.problems[0].startswith(expected), caught.value.problems


def test_every_combination_kubevirt_refuses_is_reported_at_once(dev_config):
    vm = {
        **BASE,
        "instancetype": {"name": "u1.medium"},
        "cpu": 2,
        "firmware": {"type": "bios", "secureBoot": True},
        "disk": {"upload": True, "size": "20Gi"},
        "expose": {"allowedCidrs": ["203.0.113.0/24"]},
    }
    vm.pop("ports", None)
    with pytest.raises(ConfigError) as caught:
        build(dev_config, vm)
    assert [line.split(":")[0] for line in caught.value.problems] == [
        "legacy.cpu",
        "legacy.memory",
        "legacy.firmware.secureBoot",
        "legacy.runStrategy",
        "legacy.expose",
    ], caught.value.problems


def test_an_instancetype_and_a_preference_instead_of_cpu_and_memory(dev_config):
    vm = {key: value for key, value in BASE.items() if key != "memory"}
    vm.update({"instancetype": {"name": "u1.large"}, "preference": {"name": "windows.2k22", "kind": "namespaced"}})
    document, _, _ = rendered(dev_config, vm)
    assert document["spec"]["instancetype"] == {"kind": "VirtualMachineClusterInstancetype", "name": "u1.large"}
    assert document["spec"]["preference"] == {"kind": "VirtualMachinePreference", "name": "windows.2k22"}
    assert "cpu" not in domain_of(document) and "resources" not in domain_of(document)


def test_cpu_requests_match_the_cores_unless_overcommitted(dev_config):
    document, _, _ = rendered(dev_config, {**BASE, "cpu": 4})
    assert domain_of(document)["resources"]["requests"]["cpu"] == "4000m"
    document, _, _ = rendered(dev_config, {**BASE, "cpu": 4, "cpuOvercommit": 8})
    assert domain_of(document)["resources"]["requests"]["cpu"] == "500m"


def test_several_disks_from_several_sources(dev_config):
    vm = {
        **BASE,
        "runStrategy": "Halted",
        "disk": {"upload": True, "size": "60Gi"},
        "dataDisks": [
            {
                "name": "data",
                "source": "https://images.example.com/data.raw.xz",
                "size": "100Gi",
                "certConfigMap": "images-ca",
                "secretRef": "images-auth",
                "checksum": "sha256:" + "ab" * 32,
            },
            {"name": "kept", "pvc": {"name": "old-erp-disk", "namespace": "archive"}, "size": "40Gi"},
            {
                "name": "vmware",
                "vddk": {
                    "url": "https://vcenter.example.com",
                    "uuid": "52260566-b032-36cb-55b1-79bf29e30490",
                    "backingFile": "[datastore1] erp/erp_1.vmdk",
                    "thumbprint": ":".join(["3A"] * 20),
                    "credentials": {"username": "migrate@vsphere.local", "password": "s3cret"},
                    "initImage": "registry.example.com/vddk:8.0.3",
                },
                "size": "80Gi",
            },
        ],
    }
    document, disks, result = rendered(dev_config, vm)
    by_name = {disk["metadata"]["name"]: disk for disk in disks}
    assert list(by_name) == ["legacy-disk", "legacy-data", "legacy-kept", "legacy-vmware"]
    assert by_name["legacy-disk"]["spec"]["source"] == {"upload": {}}
    # An upload comes after `pulumi up`: it waits until the disk is ready to receive.
    assert by_name["legacy-disk"]["metadata"]["annotations"]["pulumi.com/waitFor"] == "jsonpath={.status.phase}=UploadReady"
    assert by_name["legacy-data"]["spec"]["source"] == {
        "http": {
            "url": "https://images.example.com/data.raw.xz",
            "certConfigMap": "images-ca",
            "secretRef": "images-auth",
            "checksum": "sha256:" + "ab" * 32,
        }
    }
    assert by_name["legacy-data"]["metadata"]["annotations"]["pulumi.com/waitFor"] == "jsonpath={.status.phase}=Succeeded"
    assert by_name["legacy-kept"]["spec"]["source"] == {"pvc": {"name": "old-erp-disk", "namespace": "archive"}}
    vddk = by_name["legacy-vmware"]["spec"]["source"]["vddk"]
    assert vddk["secretRef"] == "legacy-vmware-vddk" and vddk["initImageURL"] == "registry.example.com/vddk:8.0.3"
    (credentials,) = [r for r in result.of_type("kubernetes:core/v1:Secret") if r.inputs["metadata"]["name"] == "legacy-vmware-vddk"]
    assert type(credentials.inputs["stringData"]).__name__ == "Secret"
    assert shown(result, credentials)["stringData"] == {"accessKeyId": "migrate@vsphere.local", "secretKey": "s3cret"}
    volumes = {v["name"]: v["dataVolume"]["name"] for v in document["spec"]["template"]["spec"]["volumes"]}
    assert volumes == {"disk": "legacy-disk", "data": "legacy-data", "kept": "legacy-kept", "vmware": "legacy-vmware"}
    # A halted VM is not awaited; it starts once the upload is done (virtctl start).
    assert document["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}


def test_disks_outlive_the_vm_unless_the_stack_opts_in(dev_config):
    result = build(dev_config, BASE)
    (disk,) = result.of_type(DV_TYPE)
    (machine,) = result.of_type(VM_TYPE)
    # Deleted, the DataVolume orphans its claim: the disk stays in the cluster, owned by nothing.
    assert disk.inputs["metadata"]["annotations"]["pulumi.com/deletionPropagationPolicy"] == "orphan"
    assert disk.urn in machine.dependencies
    (disk,) = build(dev_config, {**BASE, "deleteDisks": True}).of_type(DV_TYPE)
    assert "pulumi.com/deletionPropagationPolicy" not in disk.inputs["metadata"]["annotations"]


def test_no_data_volume_stays_for_cdis_uninstall_guard_to_refuse(dev_config):
    # CDI refuses to be deleted while a DataVolume exists (BlockUninstallIfWorkloadsExist): a DataVolume
    # Pulumi forgot instead of deleting would stop `pulumi destroy` there.
    from hybrid_infra.addons.cdi import cdi_resource

    assert cdi_resource(parse_stack_config(dev_config))["spec"]["uninstallStrategy"] == "BlockUninstallIfWorkloadsExist"
    for vm in ({**BASE}, {**BASE, "deleteDisks": True}):
        assert not [r.name for r in build(dev_config, vm).resources if r.retain_on_delete]


def test_imports_and_the_vm_are_awaited(dev_config):
    document, (disk,), _ = rendered(dev_config, {**BASE, "importTimeoutMinutes": 600})
    assert disk["metadata"]["annotations"] == {
        "cdi.kubevirt.io/storage.bind.immediate.requested": "true",
        "pulumi.com/waitFor": "jsonpath={.status.phase}=Succeeded",
        "pulumi.com/timeoutSeconds": "36000",
        "pulumi.com/deletionPropagationPolicy": "orphan",
    }
    assert document["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"


def test_static_addresses_through_cloud_init_network_data(dev_config):
    network = "version: 2\nethernets:\n  enp1s0:\n    addresses: [10.0.2.2/24]\n    routes: [{to: default, via: 10.0.2.1}]\n"
    document, _, result = rendered(dev_config, {**BASE, "networkData": network})
    volumes = {v["name"]: v for v in document["spec"]["template"]["spec"]["volumes"]}
    assert volumes["cloudinit"]["cloudInitNoCloud"] == {
        "secretRef": {"name": "legacy-cloud-init"},
        "networkDataSecretRef": {"name": "legacy-cloud-init"},
    }
    (secret,) = [r for r in result.of_type("kubernetes:core/v1:Secret") if r.inputs["metadata"]["name"] == "legacy-cloud-init"]
    assert shown(result, secret)["stringData"]["networkdata"] == network


def test_ssh_is_forwarded_with_ssh_keys(dev_config):
    vm = {**BASE, "sshKeys": ["ssh-ed25519 AAAA ops@example.com"], "ports": [{"name": "https", "port": 443}]}
    document, _, _ = rendered(dev_config, vm)
    ports = domain_of(document)["devices"]["interfaces"][0]["ports"]
    assert {"name": "ssh", "port": 22, "protocol": "TCP"} in ports
    # Without listed ports masquerade forwards every port: nothing to add.
    document, _, _ = rendered(dev_config, {**BASE, "sshKeys": ["ssh-ed25519 AAAA ops@example.com"]})
    assert "ports" not in domain_of(document)["devices"]["interfaces"][0]


def test_a_load_balancer_only_for_the_allowed_networks(dev_config):
    spec = parse_stack_config(dev_config)
    vm = {**BASE, "ports": [{"name": "rdp", "port": 3389}], "expose": {"allowedCidrs": ["203.0.113.0/24"]}}

    def program() -> None:
        web = spec.workloads.containers[0]
        VirtualMachine("legacy", vm, spec.cluster, opts=None, allowed_apps=[web])

    result = simulate(program, stack="test", config={})
    services = {r.inputs["metadata"]["name"]: r.inputs for r in result.of_type("kubernetes:core/v1:Service")}
    external = services["legacy-external"]["spec"]
    assert (external["type"], external["externalTrafficPolicy"]) == ("LoadBalancer", "Local")
    assert external["loadBalancerSourceRanges"] == ["203.0.113.0/24"]
    assert services["legacy"]["spec"]["type"] == "ClusterIP"
    (policy,) = result.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    assert policy.inputs["spec"]["ingress"][-1] == {
        "from": [{"ipBlock": {"cidr": "203.0.113.0/24"}}],
        "ports": [{"port": 3389, "protocol": "TCP"}],
    }


def test_eviction_follows_the_storage(dev_config):
    result = build(dev_config, BASE)
    (machine,) = result.of_type(VM_TYPE)
    assert machine.inputs["spec"]["template"]["spec"]["evictionStrategy"] == "LiveMigrateIfPossible"
    (machine,) = build(dev_config, BASE, read_write_many=True).of_type(VM_TYPE)
    assert machine.inputs["spec"]["template"]["spec"]["evictionStrategy"] == "LiveMigrate"
    (machine,) = build(dev_config, {**BASE, "evictionStrategy": "External"}).of_type(VM_TYPE)
    assert machine.inputs["spec"]["template"]["spec"]["evictionStrategy"] == "External"


def test_a_stack_files_bad_vm_keys_are_named_from_the_top(dev_config):
    config = copy.deepcopy(dev_config)
    config["hybrid-infra:workloads"]["virtualMachines"][0]["firmware"] = {"type": "bios", "secureBoot": True}
    found = problems(config)
    assert found == [
        "workloads.virtualMachines[0].firmware.secureBoot: true is not allowed with firmware type bios; "
        "Secure Boot needs type: efi"
    ]


@pytest.mark.parametrize("stack", ["dev", "prod", "aws"])
def test_every_vm_and_disk_of_every_stack_passes_the_schemas(stack):
    plan = run_plan(STACKS, stack)
    redactor = Redactor(plan.simulation, show_secrets=True)
    machines = plan.simulation.of_type(VM_TYPE)
    disks = plan.simulation.of_type(DV_TYPE)
    assert machines and len(disks) >= len(machines)
    for machine in machines:
        check_openapi(redactor.value(machine.inputs), KUBEVIRT_SCHEMA, "v1.VirtualMachine")
    for disk in disks:
        check_openapi(redactor.value(disk.inputs), CDI_SCHEMA, "v1beta1.DataVolume")


def test_the_dev_stack_moves_a_windows_server_and_a_linux_server_with_a_static_address(dev_manifests):
    windows = yaml.safe_load((dev_manifests / "virtualmachine-default-win-app.yaml").read_text())
    domain = domain_of(windows)
    assert domain["firmware"] == {"bootloader": {"efi": {"secureBoot": False}}}
    assert domain["devices"]["disks"][0]["disk"]["bus"] == "sata"
    assert domain["devices"]["interfaces"][0]["model"] == "e1000e"
    upload = yaml.safe_load((dev_manifests / "datavolume-default-win-app-disk.yaml").read_text())
    assert upload["spec"]["source"] == {"upload": {}}
    reports = yaml.safe_load((dev_manifests / "virtualmachine-default-reports.yaml").read_text())
    volumes = {v["name"]: v for v in reports["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"]["dataVolume"]["name"] == "reports-data"
    assert volumes["cloudinit"]["cloudInitNoCloud"]["networkDataSecretRef"] == {"name": "reports-cloud-init"}


def test_the_upload_proxy_only_for_the_allowed_networks_at_its_own_url(tmp_path, dev_config):
    from tests.test_kubevirt import by_name, plan_with

    dev_config.setdefault("hybrid-infra:addons", {})["cdi"] = {"uploadProxy": True}
    assert problems(copy.deepcopy(dev_config)) == [
        "addons.cdi.uploadProxyAllowedCidrs: missing; with uploadProxy: true list the client networks its load "
        "balancer admits, e.g. [203.0.113.0/24]"
    ]
    dev_config["hybrid-infra:addons"]["cdi"].update(
        {"uploadProxyAllowedCidrs": ["198.51.100.0/24"], "uploadProxyUrl": "https://upload.dev.example.com"}
    )
    resources = by_name(plan_with(tmp_path, dev_config))
    proxy = resources["dev-cdi-upload-proxy"].inputs["spec"]
    assert (proxy["type"], proxy["loadBalancerSourceRanges"]) == ("LoadBalancer", ["198.51.100.0/24"])
    cdi = resources["dev-cdi-cdi"].inputs
    assert cdi["spec"]["config"]["uploadProxyURLOverride"] == "https://upload.dev.example.com"
    check_openapi(cdi, CDI_SCHEMA, "v1beta1.CDI")


STORAGE_CLASS_TYPE = "kubernetes:storage.k8s.io/v1:StorageClass"


def test_vm_disks_take_a_class_that_retains_their_volumes(tmp_path, dev_config):
    from tests.test_kubevirt import plan_with

    machines = dev_config["hybrid-infra:workloads"]["virtualMachines"]
    machines[1]["deleteDisks"] = True  # win-app: its disk goes with it, so the default class's Delete is right
    machines[2]["dataDisks"][0]["storageClass"] = "fast"  # reports' data disk names its own
    result = plan_with(tmp_path, dev_config)
    classes = {r.inputs["metadata"]["name"]: r.inputs for r in result.of_type(STORAGE_CLASS_TYPE)}
    assert set(classes) == {"standard", "vm-disks"}
    default, disks = classes["standard"], classes["vm-disks"]
    assert (default["reclaimPolicy"], disks["reclaimPolicy"]) == ("Delete", "Retain")
    assert "storageclass.kubernetes.io/is-default-class" not in (disks["metadata"].get("annotations") or {})
    # The same driver, parameters and binding: only what happens to a released volume differs.
    same = ("provisioner", "parameters", "volumeBindingMode", "allowVolumeExpansion")
    assert [disks.get(key) for key in same] == [default.get(key) for key in same]
    chosen = {r.inputs["metadata"]["name"]: r.inputs["spec"]["storage"].get("storageClassName") for r in result.of_type(DV_TYPE)}
    assert chosen == {"erp-disk": "vm-disks", "win-app-disk": None, "reports-disk": "vm-disks", "reports-data": "fast"}


def test_vm_disks_without_their_class_take_the_default(tmp_path, dev_config):
    from tests.test_kubevirt import plan_with

    dev_config.setdefault("hybrid-infra:addons", {})["storageClass"] = {"vmDisks": {"enabled": False}}
    result = plan_with(tmp_path, dev_config)
    assert [r.inputs["metadata"]["name"] for r in result.of_type(STORAGE_CLASS_TYPE)] == ["standard"]
    assert {r.inputs["spec"]["storage"].get("storageClassName") for r in result.of_type(DV_TYPE)} == {None}


def test_the_vm_disks_class_needs_a_name_of_its_own(dev_config):
    dev_config.setdefault("hybrid-infra:addons", {})["storageClass"] = {"name": "disks", "vmDisks": {"name": "disks"}}
    assert problems(dev_config) == [
        "addons.storageClass.vmDisks.name: 'disks' is not allowed; the VM disks' class needs a name of its own "
        "beside the default class's"
    ]
