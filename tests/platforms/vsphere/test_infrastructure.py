"""vSphere infrastructure on the simulated cloud: VMs cloned from the template, guestinfo, addresses, DRS rules."""

from __future__ import annotations

import copy
import importlib
import ipaddress
import json
import random
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pulumi
import pytest
import yaml

import hybrid_infra
from hybrid_infra.offline.plan import Redactor, manifests, run_plan
from hybrid_infra.offline.simulate import RecordingMonitor, Simulation, Unknown
from hybrid_infra.platforms.vsphere.infrastructure import GUESTINFO_MAX_USER_DATA
from hybrid_infra.platforms.vsphere.nodes import GUESTINFO_MAX_VALUE, NODE_CREATION_INPUTS, _disks, guestinfo_value
from tests.conftest import STACKS, load_dev_config, require_tool, write_stack
from tests.platforms.vsphere.conftest import (
    ANTI_AFFINITY,
    VIRTUAL_MACHINE,
    guestinfo,
    load_prod_config,
    machines,
    run,
    shown,
)

PLATFORM_MODULES = ["network", "endpoint", "nodes", "cloud_provider", "infrastructure"]
NODES = ["prod-cp-0", "prod-cp-1", "prod-cp-2", "prod-general-0", "prod-general-1", "prod-general-2", "prod-virt-0", "prod-virt-1"]


@pytest.fixture(scope="module")
def prod() -> Simulation:
    return run(load_prod_config())


def user_data_of(result: Simulation) -> dict[str, str]:
    (cluster,) = result.of_type("hybrid-infra:index:KubernetesCluster")
    return shown(cluster.outputs["userData"])


def test_preview_registers_the_same_resources_with_unknown_outputs(prod, prod_config):
    preview = run(prod_config, preview=True)
    assert [r.urn for r in preview.resources] == [r.urn for r in prod.resources]
    machine = next(r for r in preview.resources if r.type == VIRTUAL_MACHINE)
    assert "defaultIpAddress" not in machine.outputs
    # Static addresses and the configured endpoint are known before any VM exists.
    assert preview.outputs["nodes"] == prod.outputs["nodes"] and preview.outputs["endpoint"] == "10.30.0.5"
    assert isinstance(preview.outputs["kubeconfig"], Unknown)


def test_one_vm_per_node_cloned_from_the_template_with_its_size(prod):
    vms = machines(prod)
    assert sorted(vms) == NODES
    template = {"templateUuid": vms["prod-cp-0"]["clone"]["templateUuid"]}
    sizes = {"prod-cp": (4, 8192, 60), "prod-general": (8, 32768, 100), "prod-virt": (16, 65536, 200)}
    for name, inputs in vms.items():
        cpus, memory, disk = sizes[name.rsplit("-", 1)[0]]
        assert (inputs["numCpus"], inputs["memory"]) == (cpus, memory), name
        assert inputs["disks"] == [
            {"label": "disk0", "unitNumber": 0, "size": disk, "thinProvisioned": True, "eagerlyScrub": False}
        ], name
        assert inputs["clone"] == template, name
        assert (inputs["guestId"], inputs["scsiType"], inputs["firmware"]) == ("ubuntu64Guest", "pvscsi", "efi"), name
        assert inputs["folder"] == "kubernetes/prod" and inputs["datastoreClusterId"].startswith("group-p-"), name
        assert "datastoreId" not in inputs, name
        assert [nic["adapterType"] for nic in inputs["networkInterfaces"]] == ["vmxnet3"], name


def test_look_ups_by_name(prod):
    vms = machines(prod)
    cluster = prod.of_type(ANTI_AFFINITY)[0].inputs["computeClusterId"]
    pools = {inputs["resourcePoolId"] for inputs in vms.values()}
    assert cluster.startswith("domain-c-") and len(pools) == 1 and pools.pop().startswith("resgroup-")
    assert {nic["networkId"] for inputs in vms.values() for nic in inputs["networkInterfaces"]} == {
        prod.of_type("hybrid-infra:index:VSphereNetwork")[0].outputs["networkId"]
    }


def test_a_datastore_instead_of_a_datastore_cluster(prod_config):
    section = prod_config["hybrid-infra:vsphere"]
    section.pop("datastoreCluster")
    section["datastore"] = "ssd-1"
    for inputs in machines(run(prod_config)).values():
        assert inputs["datastoreId"].startswith("datastore-") and "datastoreClusterId" not in inputs


def test_the_disk_is_at_least_the_templates_and_every_template_disk_is_kept():
    template = [
        SimpleNamespace(unit_number=0, size=80, thin_provisioned=False, eagerly_scrub=True),
        SimpleNamespace(unit_number=1, size=20, thin_provisioned=True, eagerly_scrub=False),
    ]
    first, second = _disks(template, 60)
    assert (first.label, first.size, first.thin_provisioned, first.eagerly_scrub) == ("disk0", 80, False, True)
    assert (second.label, second.unit_number, second.size) == ("disk1", 1, 20)
    assert _disks(template, 120)[0].size == 120


def test_disk_uuid_on_every_vm_and_nested_virtualization_exactly_on_the_virt_pool(prod):
    vms = machines(prod)
    assert all(inputs["enableDiskUuid"] is True for inputs in vms.values())
    assert sorted(name for name, inputs in vms.items() if inputs["nestedHvEnabled"]) == ["prod-virt-0", "prod-virt-1"]
    assert all(inputs["nestedHvEnabled"] is False for name, inputs in vms.items() if "-virt-" not in name)


def test_one_soft_anti_affinity_rule_names_exactly_the_control_plane_vms(prod):
    """Soft, as Cluster API's vSphere provider keeps a control plane apart (cluster modules): DRS may break it
    when a host enters maintenance mode, where a mandatory rule over 3 VMs on 3 hosts would block it."""
    (rule,) = prod.of_type(ANTI_AFFINITY)
    control_plane = [r.resource_id for r in prod.of_type(VIRTUAL_MACHINE) if r.inputs["name"].startswith("prod-cp-")]
    assert len(control_plane) == 3
    assert rule.inputs["virtualMachineIds"] == control_plane
    assert (rule.inputs["name"], rule.inputs["mandatory"]) == ("prod-control-plane", False)


def test_the_control_plane_rule_is_mandatory_when_asked(prod_config):
    prod_config["hybrid-infra:vsphere"]["antiAffinity"] = {"controlPlaneMandatory": True, "workers": True}
    rules = {r.inputs["name"]: r.inputs["mandatory"] for r in run(prod_config).of_type(ANTI_AFFINITY)}
    # Workers' rules stay soft.
    assert rules == {"prod-control-plane": True, "prod-general": False, "prod-virt": False}


def test_worker_pools_spread_by_soft_rules_when_asked(prod_config):
    prod_config["hybrid-infra:vsphere"]["antiAffinity"] = {"workers": True}
    result = run(prod_config)
    ids = {r.inputs["name"]: r.resource_id for r in result.of_type(VIRTUAL_MACHINE)}
    rules = {r.inputs["name"]: r.inputs for r in result.of_type(ANTI_AFFINITY)}
    assert sorted(rules) == ["prod-control-plane", "prod-general", "prod-virt"]
    assert rules["prod-general"]["virtualMachineIds"] == [ids[f"prod-general-{i}"] for i in range(3)]
    assert rules["prod-general"]["mandatory"] is False and rules["prod-virt"]["mandatory"] is False


def test_a_single_control_plane_node_needs_no_rule(prod_config):
    prod_config["hybrid-infra:cluster"]["controlPlane"]["count"] = 1
    assert not run(prod_config).of_type(ANTI_AFFINITY)


def test_static_addresses_follow_each_pools_range(prod):
    addresses = {node["name"]: node["address"] for node in prod.outputs["nodes"]}
    assert addresses == {
        "prod-cp-0": "10.30.0.10", "prod-cp-1": "10.30.0.11", "prod-cp-2": "10.30.0.12",
        "prod-general-0": "10.30.0.20", "prod-general-1": "10.30.0.21", "prod-general-2": "10.30.0.22",
        "prod-virt-0": "10.30.0.60", "prod-virt-1": "10.30.0.61",
    }
    # The guest reports the address its cloud-init meta-data gives.
    reported = {r.inputs["name"]: r.outputs["defaultIpAddress"] for r in prod.of_type(VIRTUAL_MACHINE)}
    assert reported == addresses


@pytest.mark.parametrize(
    ("scale", "added"),
    [
        (lambda c: c["pools"][0].update(count=5), ["prod-general-3", "prod-general-4"]),
        (lambda c: c["pools"][1].update(count=4), ["prod-virt-2", "prod-virt-3"]),
        (lambda c: c["controlPlane"].update(count=5), ["prod-cp-3", "prod-cp-4"]),
    ],
    ids=["general", "virt", "control-plane"],
)
def test_scaling_out_leaves_every_existing_vm_as_it_is(prod, prod_config, scale, added):
    scale(prod_config["hybrid-infra:cluster"])
    bigger = machines(run(prod_config))
    before = machines(prod)
    assert sorted(set(bigger) - set(before)) == added
    for name, inputs in before.items():
        after = bigger[name]
        if name.startswith("prod-cp-") and added[0].startswith("prod-cp-"):
            # The control plane's own cloud-configs name every control-plane node (a joining node
            # removes etcd members of nodes the cluster no longer has): only those change, and only
            # where creation-only inputs are ignored.
            after, inputs = omit(after, ["extraConfig"]), omit(inputs, ["extraConfig"])
            assert "extraConfig" in NODE_CREATION_INPUTS
        # Byte for byte, the guestinfo user data included: every node has its own join token.
        assert json.dumps(after, sort_keys=True, default=repr) == json.dumps(inputs, sort_keys=True, default=repr), name


def omit(inputs: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    return {key: value for key, value in inputs.items() if key not in keys}


def test_inputs_that_only_matter_at_creation_never_touch_running_nodes(prod):
    for machine in prod.of_type(VIRTUAL_MACHINE):
        assert machine.ignore_changes == ["clone", "disks", "extraConfig", "firmware", "guestId", "scsiType"]


def test_a_replaced_vm_goes_before_its_successor_takes_its_name_and_address(monkeypatch):
    replaced_first: dict[str, bool] = {}
    register = RecordingMonitor.RegisterResource

    def recording(self, request):
        replaced_first[request.name] = request.deleteBeforeReplace
        return register(self, request)

    monkeypatch.setattr(RecordingMonitor, "RegisterResource", recording)
    result = run(load_prod_config())
    names = [r.name for r in result.of_type(VIRTUAL_MACHINE)]
    assert len(names) == 8 and all(replaced_first[name] for name in names)


def test_guestinfo_carries_the_cloud_config_and_meta_data(prod):
    texts = user_data_of(prod)
    for name, inputs in machines(prod).items():
        assert guestinfo(inputs, "userdata") == texts[name], name
        metadata = yaml.safe_load(guestinfo(inputs, "metadata"))
        assert (metadata["instance-id"], metadata["local-hostname"]) == (name, name)
        # cloud-init clears guestinfo.userdata once it has read it.
        assert metadata["redact"] == ["userdata"]
        assert set(inputs["extraConfig"]) == {
            "guestinfo.metadata", "guestinfo.metadata.encoding", "guestinfo.userdata", "guestinfo.userdata.encoding"
        }


def test_no_key_material_in_any_vm_input_but_the_secret_user_data(prod):
    tokens = [
        shown(r.outputs["result"])
        for r in prod.resources
        if r.type == "random:index/randomPassword:RandomPassword" and "-pki-token-" in r.name
    ]
    for machine in prod.of_type(VIRTUAL_MACHINE):
        user_data = machine.inputs["extraConfig"]
        # Pulumi keeps the whole map secret, as one of its values is.
        assert type(user_data).__name__ == "Secret", machine.name
        inputs = shown(machine.inputs)
        exposed = dict(inputs, extraConfig={k: v for k, v in inputs["extraConfig"].items() if k != "guestinfo.userdata"})
        text = json.dumps(exposed) + guestinfo(inputs, "metadata")
        assert "PRIVATE KEY" not in text and not any(token in text for token in tokens), machine.name


def test_the_control_plane_announces_the_vip_with_kube_vip(prod):
    texts = user_data_of(prod)
    for name, text in texts.items():
        document = yaml.safe_load(text)
        kube_vip = [f for f in document["write_files"] if f["path"] == "/etc/hybrid-infra/kube-vip.yaml"]
        if name.startswith("prod-cp-"):
            env = {e["name"]: e["value"] for e in yaml.safe_load(kube_vip[0]["content"])["spec"]["containers"][0]["env"]}
            assert env["address"] == "10.30.0.5", name
            # cluster.endpoint.kubeVipLease's defaults: Cluster API's 15/10/2 s, not kube-vip's own 5/3/1.
            lease = (env["vip_leaseduration"], env["vip_renewdeadline"], env["vip_retryperiod"])
            assert lease == ("15", "10", "2"), name
        else:
            assert not kube_vip, name
    vms = machines(prod)
    assert all(vms[f"prod-cp-{i}"]["ignoredGuestIps"] == ["10.30.0.5"] for i in range(3))
    assert "ignoredGuestIps" not in vms["prod-general-0"]
    assert prod.outputs["endpoint"] == "10.30.0.5"


def test_an_external_load_balancer_gets_no_kube_vip_and_no_resource(prod_config):
    prod_config["hybrid-infra:cluster"]["endpoint"]["type"] = "loadBalancer"
    prod_config["hybrid-infra:vsphere"]["endpoint"]["address"] = "192.0.2.10"
    result = run(prod_config)
    assert result.outputs["endpoint"] == "192.0.2.10"
    assert all("kube-vip" not in text for text in user_data_of(result).values())
    (endpoint,) = result.of_type("hybrid-infra:index:VSphereApiEndpoint")
    assert not [r for r in result.resources if r.parent == endpoint.urn]
    assert all("192.0.2.10:6443" in text for text in user_data_of(result).values())


def test_with_dhcp_workers_take_addresses_the_guest_reports_and_the_control_plane_keeps_its_own(prod_config):
    network = prod_config["hybrid-infra:vsphere"]["network"]
    network["dhcp"] = True
    # A worker pool with a range keeps static addresses; one without takes DHCP's.
    del network["static"]["ranges"]["general"]
    result = run(prod_config)
    addresses = {node["name"]: node["address"] for node in result.outputs["nodes"]}
    for name, inputs in machines(result).items():
        nic = yaml.safe_load(guestinfo(inputs, "metadata"))["network"]["ethernets"]["node"]
        if name.startswith("prod-general-"):
            assert nic == {"match": {"driver": "vmxnet3"}, "dhcp4": True}, name
            assert ipaddress.ip_address(addresses[name]) in ipaddress.ip_network("10.30.0.0/24")
        else:
            assert nic["dhcp4"] is False and nic["addresses"] == [f"{addresses[name]}/24"], name
    assert [addresses[f"prod-cp-{i}"] for i in range(3)] == ["10.30.0.10", "10.30.0.11", "10.30.0.12"]
    assert [addresses[f"prod-virt-{i}"] for i in range(2)] == ["10.30.0.60", "10.30.0.61"]


def cloud_init_python() -> str:
    """The interpreter cloud-init runs with, so its own modules can be imported."""
    return Path(require_tool("cloud-init")).read_text().splitlines()[0].removeprefix("#!").split()[0]


def test_the_vmware_datasource_reads_meta_data_user_data_and_network_config(prod):
    """The installed cloud-init's own VMware datasource decodes what a VM's guestinfo holds."""
    python = cloud_init_python()
    texts = user_data_of(prod)
    for name in ("prod-cp-0", "prod-virt-1"):
        inputs = machines(prod)[name]
        extra = {key: inputs["extraConfig"][key] for key in sorted(inputs["extraConfig"])}
        script = (
            "import json, sys\n"
            "from cloudinit.sources.DataSourceVMware import decode, load_json_or_yaml, process_metadata\n"
            "extra = json.load(sys.stdin)\n"
            "def read(key):\n"
            "    return decode(key, extra['guestinfo.' + key + '.encoding'], extra['guestinfo.' + key])\n"
            "print(json.dumps({'metadata': process_metadata(load_json_or_yaml(read('metadata'))),"
            " 'userdata': read('userdata')}))\n"
        )
        result = subprocess.run([python, "-c", script], input=json.dumps(extra), capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        read = json.loads(result.stdout)
        assert read["userdata"] == texts[name]
        metadata = read["metadata"]
        assert (metadata["instance-id"], metadata["local-hostname"], metadata["redact"]) == (name, name, ["userdata"])
        nic = metadata["network"]["config"]["ethernets"]["node"]
        assert nic["addresses"] == [f"{prod_address(prod, name)}/24"]


def prod_address(result: Simulation, name: str) -> str:
    return next(node["address"] for node in result.outputs["nodes"] if node["name"] == name)


def test_network_config_is_valid_for_cloud_init(prod, tmp_path):
    """cloud-init 22.4 has no network-config schema (`cloud-init schema` takes no --schema-type), nor ships
    one: its own parser reads the config and renders it for netplan, as on an Ubuntu node."""
    cloud_init = require_tool("cloud-init")
    for name, inputs in machines(prod).items():
        source = tmp_path / f"{name}.yaml"
        source.write_text(yaml.safe_dump(yaml.safe_load(guestinfo(inputs, "metadata"))["network"]))
        out = tmp_path / name
        result = subprocess.run(
            [cloud_init, "devel", "net-convert", "--network-data", str(source), "--kind", "yaml",
             "--distro", "ubuntu", "--output-kind", "netplan", "--directory", str(out)],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
        rendered = yaml.safe_load((out / "etc/netplan/50-cloud-init.yaml").read_text())["network"]["ethernets"]["node"]
        assert rendered["match"] == {"driver": "vmxnet3"} and rendered["dhcp4"] is False
        assert rendered["addresses"] == [f"{prod_address(prod, name)}/24"]
        assert rendered["routes"] == [{"to": "0.0.0.0/0", "via": "10.30.0.1"}]
        assert rendered["nameservers"] == {"addresses": ["10.30.0.2", "10.30.0.3"], "search": ["prod.example.com"]}


def test_the_largest_cloud_config_fits_a_guestinfo_value():
    rng = random.Random(0)
    text = "".join(chr(rng.randrange(128)) for _ in range(GUESTINFO_MAX_USER_DATA))
    assert len(guestinfo_value(text)) <= GUESTINFO_MAX_VALUE
    with pytest.raises(ValueError, match="over the 65536 bytes a guest reads"):
        guestinfo_value(text * 2)


def test_every_component_is_exported_with_its_type_token(prod):
    modules = [importlib.import_module(f"hybrid_infra.platforms.vsphere.{name}") for name in PLATFORM_MODULES]
    public = [(hybrid_infra, name) for name in hybrid_infra.__all__]
    public += [(module, name) for module in modules for name in vars(module) if not name.startswith("_")]
    exported = {
        name for module, name in public
        if isinstance(getattr(module, name), type) and issubclass(getattr(module, name), pulumi.ComponentResource)
    }
    created = {r.type.split(":")[-1] for r in prod.resources if r.type.startswith("hybrid-infra:index:")}
    assert created <= exported
    assert {"VSphereInfrastructure", "VSphereNetwork", "VSphereApiEndpoint", "VSphereNodePool", "VSphereCloudProvider"} <= created


def test_the_dev_stack_runs_on_vsphere_by_changing_only_its_platform_section(tmp_path):
    """dev's cluster, add-ons and workloads, unchanged, on vSphere: the same nodes, KubeVirt platform and workloads."""
    dev = load_dev_config()
    on_vsphere = {key: value for key, value in dev.items() if not key.startswith(("openstack:", "hybrid-infra:openstack"))}
    section = copy.deepcopy(load_prod_config()["hybrid-infra:vsphere"])
    section["network"]["static"].update(
        gateway="10.20.0.1",
        dnsServers=["192.0.2.53"],
        ranges={"control-plane": "10.20.0.10-10.20.0.14", "general": "10.20.0.20-10.20.0.59", "virt": "10.20.0.60-10.20.0.79"},
    )
    # dev's endpoint is a public load balancer: on vSphere, the user's.
    section["endpoint"]["address"] = "203.0.113.10"
    on_vsphere["hybrid-infra:vsphere"] = section
    write_stack(tmp_path, "dev", on_vsphere)
    plans = {"openstack": run_plan(STACKS, "dev"), "vsphere": run_plan(tmp_path, "dev")}
    nodes = {name: [(n["name"], n["role"]) for n in plan.simulation.outputs["nodes"]] for name, plan in plans.items()}
    assert nodes["openstack"] == nodes["vsphere"]
    shared = ("kubevirt-", "cdi-", "deployment-", "service-default-", "virtualmachine-", "networkpolicy-",
              "ciliumclusterwidenetworkpolicy-", "helmrelease-kube-system-cilium", "storageclass-")
    found = {}
    for name, plan in plans.items():
        documents = manifests(plan, Redactor(plan.simulation, show_secrets=True))
        found[name] = {key: value for key, value in documents.items() if key.startswith(shared)}
    assert found["openstack"].keys() == found["vsphere"].keys() and len(found["vsphere"]) >= 9
    for key, document in found["openstack"].items():
        if key.startswith("storageclass-"):
            assert document["provisioner"] == "cinder.csi.openstack.org"
            assert found["vsphere"][key]["provisioner"] == "csi.vsphere.vmware.com"
        elif key.startswith("helmrelease-kube-system-cilium"):
            # The same chart and values, but for the address the nodes reach the API at.
            values = {name: found[name][key]["helmRelease"]["values"] for name in plans}
            api = {name: str(plan.simulation.outputs["endpoint"]) for name, plan in plans.items()}
            assert values["vsphere"]["k8sServiceHost"] == api["vsphere"]
            assert {**values["vsphere"], "k8sServiceHost": None} == {**values["openstack"], "k8sServiceHost": None}
        else:
            assert found["vsphere"][key] == document, key
