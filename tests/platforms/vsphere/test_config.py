"""The ``hybrid-infra:vsphere`` section: its own keys and its checks across sections, each one line naming the key."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from hybrid_infra.config import ConfigError
from hybrid_infra.offline.cloud import LookupFailed
from hybrid_infra.offline.plan import run_plan
from hybrid_infra.platforms.vsphere.config import CSI_MANIFEST_SHA256, CSI_VERSION
from hybrid_infra.platforms.vsphere.simulated import VSphereAnswers
from hybrid_infra.stack import parse_stack_config
from tests.conftest import write_stack
from tests.platforms.vsphere.conftest import ca_bundle, with_ca_bundle
from tests.test_config import problems

PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"


def section(config: dict[str, Any]) -> dict[str, Any]:
    return config["hybrid-infra:vsphere"]


def test_prod_stack_is_valid(prod_config):
    spec = parse_stack_config(prod_config)
    assert spec.platform == "vsphere"
    vsphere = spec.platform_section
    assert vsphere.sizes["virt"].nested_virtualization and vsphere.sizes["virt"].memory_mib == 65536
    assert vsphere.csi_driver.source.sha256 == CSI_MANIFEST_SHA256 and vsphere.csi_driver.version == CSI_VERSION


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda c: section(c)["endpoint"].update(address="10.40.0.5"),
            "vsphere.endpoint.address: '10.40.0.5' is not allowed; with endpoint type vip, kube-vip announces the "
            "address in the node network, so it must be a host address of cluster.network.nodeCidr 10.30.0.0/24",
        ),
        (
            lambda c: section(c)["endpoint"].update(address="10.30.0.25"),
            "vsphere.endpoint.address: '10.30.0.25' is not allowed; it lies in the address range of pool 'general' "
            "(vsphere.network.static.ranges.general); choose an address outside every node range",
        ),
        (
            lambda c: section(c)["endpoint"].update(address="10.30.0.1"),
            "vsphere.endpoint.address: '10.30.0.1' is not allowed; it is the gateway",
        ),
        (
            lambda c: section(c)["network"]["static"]["ranges"].update(general="10.30.0.20-10.30.0.21"),
            "vsphere.network.static.ranges.general: '10.30.0.20-10.30.0.21' is not allowed; it holds 2 addresses "
            "and pool 'general' has 3 nodes",
        ),
        (
            lambda c: section(c)["network"]["static"]["ranges"].update(virt="10.30.0.55-10.30.0.70"),
            "vsphere.network.static.ranges.virt: '10.30.0.55-10.30.0.70' is not allowed; it overlaps the range of "
            "pool 'general'",
        ),
        (
            lambda c: section(c)["network"]["static"]["ranges"].update(virt="10.30.0.250-10.30.1.10"),
            "vsphere.network.static.ranges.virt: '10.30.0.250-10.30.1.10' is not allowed; it must lie within the "
            "host addresses of cluster.network.nodeCidr 10.30.0.0/24",
        ),
        (
            lambda c: section(c)["network"]["static"]["ranges"].update({"control-plane": "10.30.0.0-10.30.0.4"}),
            "vsphere.network.static.ranges.control-plane: '10.30.0.0-10.30.0.4' is not allowed; it must lie within "
            "the host addresses of cluster.network.nodeCidr 10.30.0.0/24",
        ),
        (
            lambda c: section(c)["network"]["static"]["ranges"].update({"control-plane": "10.30.0.1-10.30.0.4"}),
            "vsphere.network.static.ranges.control-plane: '10.30.0.1-10.30.0.4' is not allowed; it holds the "
            "gateway 10.30.0.1",
        ),
        (
            lambda c: section(c)["network"]["static"]["ranges"].pop("virt"),
            "vsphere.network.static.ranges.virt: missing; every pool needs its own address range, so that scaling "
            "one never moves another's nodes",
        ),
        (
            lambda c: section(c)["network"]["static"]["ranges"].update(gpu="10.30.0.80-10.30.0.89"),
            "vsphere.network.static.ranges.gpu: unknown pool; name control-plane or a pool of cluster.pools: "
            "general, virt",
        ),
        (
            lambda c: section(c)["network"]["static"]["ranges"].update(general="10.30.0.59-10.30.0.20"),
            "vsphere.network.static.ranges.general: '10.30.0.59-10.30.0.20' is not allowed; use FIRST-LAST IPv4 "
            "addresses such as 10.30.0.20-10.30.0.39",
        ),
        (
            lambda c: section(c)["network"]["static"].update(gateway="10.31.0.1"),
            "vsphere.network.static.gateway: '10.31.0.1' is not allowed; the gateway must be a host address of "
            "cluster.network.nodeCidr 10.30.0.0/24",
        ),
        (
            lambda c: section(c).update(network={"portGroup": "k8s-prod", "dhcp": True}),
            "vsphere.network.dhcp: true is not allowed for control-plane nodes: etcd knows its members by address, "
            "and a DHCP lease that changes breaks it; give static (gateway, dnsServers, ranges.control-plane) as "
            "well, and the worker pools without a range take DHCP addresses",
        ),
        (
            lambda c: section(c)["network"].pop("static"),
            "vsphere.network.static: missing; give static (gateway, dnsServers, ranges), or dhcp: true with static "
            "addresses for the control plane only",
        ),
        (
            lambda c: (section(c)["network"].update(dhcp=True), section(c)["network"]["static"]["ranges"].pop("control-plane")),
            "vsphere.network.static.ranges.control-plane: missing; control-plane nodes need static addresses, with "
            "dhcp: true too (etcd knows its members by address)",
        ),
        (
            lambda c: section(c).update(datastore="vsan-1"),
            "vsphere.datastoreCluster: 'vsan-prod' is not allowed together with datastore; give a datastore or a "
            "datastore cluster",
        ),
        (
            lambda c: section(c).pop("datastoreCluster"),
            "vsphere.datastore: missing; name the datastore (or datastoreCluster) the VMs' disks go to",
        ),
        (
            lambda c: c["hybrid-infra:cluster"]["pools"][0].update(size="virt"),
            "cluster.pools[0]: pool 'general' is not marked for virtualization, but its size 'virt' enables nested "
            "virtualization (vsphere.sizes.virt.nestedVirtualization); use a size without it, or set virtualization: true",
        ),
        (
            lambda c: c["hybrid-infra:cluster"]["controlPlane"].update(size="virt"),
            "cluster.controlPlane.size: 'virt' is not allowed; vsphere.sizes.virt.nestedVirtualization is true, which "
            "only pools marked virtualization: true may use",
        ),
        (
            lambda c: section(c)["sizes"]["virt"].pop("nestedVirtualization"),
            "cluster.pools[1]: pool 'virt' cannot run VMs with KVM: its size 'virt' does not enable nested "
            "virtualization; set vsphere.sizes.virt.nestedVirtualization: true, or addons.kubevirt.useEmulation: "
            "true to emulate without KVM (slow, for tests only)",
        ),
        (
            lambda c: c["hybrid-infra:cluster"]["pools"][0].update(size="huge"),
            "cluster.pools[0].size: 'huge' is not allowed; use a size defined in vsphere.sizes: large, medium, virt",
        ),
        (
            lambda c: c["hybrid-infra:cluster"]["endpoint"].update(public=True, allowedCidrs=["198.51.100.0/24"]),
            "cluster.endpoint.public: true is not allowed with endpoint type vip on vSphere, which has no floating "
            "addresses; for an API reachable from outside the node network, use type loadBalancer with its address "
            "in vsphere.endpoint.address",
        ),
        (
            lambda c: section(c)["sizes"]["medium"].update(memory="500M"),
            "vsphere.sizes.medium.memory: '500M' is not allowed; use at least 1Gi",
        ),
        (
            lambda c: section(c)["sizes"]["medium"].update(memory="8000000k"),
            "vsphere.sizes.medium.memory: '8000000k' is not allowed; use whole MiB such as 8Gi or 6144Mi",
        ),
        (
            lambda c: section(c)["sizes"]["medium"].update(disk="60G"),
            "vsphere.sizes.medium.disk: '60G' is not allowed; use whole GiB such as 60Gi",
        ),
        (
            lambda c: section(c)["cloudProvider"].update(username="k8s-cpi"),
            "vsphere.cloudProvider.username: 'k8s-cpi' is not allowed; use user@domain or DOMAIN\\user (the CSI "
            "driver refuses a name without its domain)",
        ),
        (
            lambda c: section(c)["cloudProvider"].update(thumbprint="sha1:abc"),
            "vsphere.cloudProvider.thumbprint: 'sha1:abc' is not allowed; use hex pairs joined by ':'",
        ),
        (
            lambda c: section(c)["cloudProvider"].update(caBundle=ca_bundle()),
            "vsphere.cloudProvider.thumbprint: '3A:9F:1C:44:8B:0E:72:D5:19:6A:C3:F0:28:5B:E7:91:4D:A6:0C:B2' is not "
            "allowed together with caBundle; give caBundle (it still holds when vCenter's certificate is renewed) "
            "or thumbprint, not both",
        ),
        (
            lambda c: with_ca_bundle(c, "/etc/ssl/certs/vmca.pem"),
            "vsphere.cloudProvider.caBundle: '/etc/ssl/certs/vmca.pem' is not allowed; give the PEM text of the CA "
            "certificates that sign vCenter's certificate (-----BEGIN CERTIFICATE----- ...), not a path",
        ),
        (
            lambda c: with_ca_bundle(c, ca_bundle() + PRIVATE_KEY),
            "vsphere.cloudProvider.caBundle: a private key is not allowed; give the CA certificates only (they are "
            "stored in a ConfigMap)",
        ),
        (
            lambda c: section(c).update(csiDriver={"url": "https://mirror.example.com/vsphere-csi-driver.yaml"}),
            "vsphere.csiDriver.sha256: missing; a manifest from a custom url must be pinned by its sha256",
        ),
        (
            lambda c: section(c).update(csiDriver={"version": "v3.8.0"}),
            "vsphere.csiDriver.sha256: missing; version 'v3.8.0' needs the sha256 of its manifest",
        ),
        (
            lambda c: section(c).update(templat="ubuntu"),
            "vsphere.templat: unknown key; did you mean 'template'?",
        ),
    ],
)
def test_bad_vsphere_values(prod_config, change, expected):
    change(prod_config)
    found = problems(prod_config)
    assert len(found) == 1, found
    assert found[0].startswith(expected), found


def test_a_virtualization_pool_without_nested_virtualization_runs_when_emulation_is_asked_for(prod_config):
    section(prod_config)["sizes"]["virt"]["nestedVirtualization"] = False
    prod_config["hybrid-infra:addons"] = {"kubevirt": {"useEmulation": True}}
    assert not parse_stack_config(prod_config).platform_section.sizes["virt"].nested_virtualization


def test_dhcp_needs_no_worker_ranges_but_keeps_the_vip_in_the_node_network(prod_config):
    network = section(prod_config)["network"]
    network["dhcp"] = True
    network["static"]["ranges"] = {"control-plane": "10.30.0.10-10.30.0.14"}
    parse_stack_config(prod_config)
    section(prod_config)["endpoint"]["address"] = "192.0.2.10"
    assert problems(prod_config)[0].startswith("vsphere.endpoint.address: '192.0.2.10' is not allowed; with endpoint type vip")


def test_a_load_balancer_address_may_lie_outside_the_node_network_but_not_in_a_node_range(prod_config):
    # The user's load balancer decides who reaches it: public or not, as the stack says.
    prod_config["hybrid-infra:cluster"]["endpoint"] = {
        "type": "loadBalancer", "public": True, "allowedCidrs": ["198.51.100.0/24"]
    }
    section(prod_config)["endpoint"]["address"] = "192.0.2.10"
    parse_stack_config(prod_config)
    section(prod_config)["endpoint"]["address"] = "10.30.0.11"
    assert problems(prod_config)[0].startswith(
        "vsphere.endpoint.address: '10.30.0.11' is not allowed; it lies in the address range of pool 'control-plane'"
    )


def test_a_pinned_csi_mirror_is_accepted(prod_config):
    digest = "0" * 64
    section(prod_config)["csiDriver"] = {"url": "https://mirror.example.com/csi.yaml", "sha256": digest}
    driver = parse_stack_config(prod_config).platform_section.csi_driver
    assert (driver.source.url, driver.source.sha256) == ("https://mirror.example.com/csi.yaml", digest)


def test_secrets_do_not_show_in_the_validated_spec(prod_config):
    spec = parse_stack_config(prod_config)
    password = section(prod_config)["cloudProvider"]["password"]
    assert password not in repr(spec) and password not in str(spec)


PLAIN_SECRET_LINE = (
    "vsphere.cloudProvider.password: a plain value is not allowed for a secret (it would sit unencrypted in the "
    "stack file); set it encrypted with: pulumi config set --path --secret "
    "'hybrid-infra:vsphere.cloudProvider.password' <value>"
)


def test_a_password_in_plain_text_is_refused_by_plan(tmp_path, prod_config):
    section(prod_config)["cloudProvider"]["password"] = "committed-in-the-clear"
    write_stack(tmp_path / "stacks", "prod", prod_config)
    result = subprocess.run(
        [sys.executable, "-m", "hybrid_infra", "plan", "prod"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"stacks/Pulumi.prod.yaml: {PLAIN_SECRET_LINE}"]
    assert "committed-in-the-clear" not in result.stderr + result.stdout


def test_the_section_and_the_simulated_answers_need_no_sdk():
    # As on a machine without the vsphere extra: the SDK cannot be imported.
    code = (
        "import sys\n"
        "class NoSdk:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.partition('.')[0] == 'pulumi_vsphere':\n"
        "            raise ModuleNotFoundError(f\"No module named '{name}'\", name=name)\n"
        "sys.meta_path.insert(0, NoSdk())\n"
        "from hybrid_infra import platforms\n"
        "platforms.section_model('vsphere'); platforms.simulated_answers('vsphere')\n"
        "try:\n"
        "    platforms.infrastructure_class('vsphere')\n"
        "except platforms.PlatformUnavailable as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == (
        "vsphere: the platform's Pulumi SDK (pulumi_vsphere) is not installed; "
        "install it with: pip install 'hybrid-infra[vsphere]'"
    )


def test_every_vsphere_problem_is_reported_at_once(prod_config):
    cluster = prod_config["hybrid-infra:cluster"]
    cluster["endpoint"].update(public=True, allowedCidrs=["198.51.100.0/24"])
    cluster["controlPlane"]["size"] = "virt"
    cluster["pools"][0]["size"] = "huge"
    static = section(prod_config)["network"]["static"]
    static["gateway"] = "10.31.0.1"
    static["ranges"].update(general="10.30.0.20-10.30.0.21", gpu="10.30.0.80-10.30.0.89")
    static["ranges"].pop("virt")
    section(prod_config)["endpoint"]["address"] = "10.30.0.12"
    assert problems(prod_config) == [
        "cluster.pools[0].size: 'huge' is not allowed; use a size defined in vsphere.sizes: large, medium, virt",
        "cluster.controlPlane.size: 'virt' is not allowed; vsphere.sizes.virt.nestedVirtualization is true, which "
        "only pools marked virtualization: true may use",
        "cluster.endpoint.public: true is not allowed with endpoint type vip on vSphere, which has no floating "
        "addresses; for an API reachable from outside the node network, use type loadBalancer with its address "
        "in vsphere.endpoint.address",
        "vsphere.network.static.gateway: '10.31.0.1' is not allowed; the gateway must be a host address of "
        "cluster.network.nodeCidr 10.30.0.0/24",
        "vsphere.network.static.ranges.gpu: unknown pool; name control-plane or a pool of cluster.pools: general, virt",
        "vsphere.network.static.ranges.general: '10.30.0.20-10.30.0.21' is not allowed; it holds 2 addresses and "
        "pool 'general' has 3 nodes",
        "vsphere.network.static.ranges.virt: missing; every pool needs its own address range, so that scaling one "
        "never moves another's nodes",
        "vsphere.endpoint.address: '10.30.0.12' is not allowed; it lies in the address range of pool "
        "'control-plane' (vsphere.network.static.ranges.control-plane); choose an address outside every node range",
    ]


# --- what only a look-up finds: one line naming the key, as on every platform (tests/platforms/test_contract.py) ---


@pytest.mark.parametrize(
    ("answer", "change", "expected"),
    [
        (
            "_get_datacenter",
            None,
            "vsphere.datacenter: the look-up of the datacenter 'dc-1' failed: not found",
        ),
        (
            "_get_compute_cluster",
            None,
            "vsphere.computeCluster: the look-up of the compute cluster 'cluster-1' in datacenter 'dc-1' failed: not found",
        ),
        (
            "_get_resource_pool",
            None,
            "vsphere.resourcePool: the look-up of the resource pool 'kubernetes' in compute cluster 'cluster-1' failed: "
            "not found",
        ),
        (
            "_get_datastore_cluster",
            None,
            "vsphere.datastoreCluster: the look-up of the datastore cluster 'vsan-prod' in datacenter 'dc-1' failed: "
            "not found",
        ),
        (
            "_get_datastore",
            lambda c: (section(c).pop("datastoreCluster"), section(c).update(datastore="vsan-1")),
            "vsphere.datastore: the look-up of the datastore 'vsan-1' in datacenter 'dc-1' failed: not found",
        ),
        (
            "_get_virtual_machine",
            None,
            "vsphere.template: the look-up of the template 'ubuntu-24.04-cloudimg' in datacenter 'dc-1' failed: not found",
        ),
        (
            "_get_network",
            None,
            "vsphere.network.portGroup: the look-up of the port group 'k8s-prod' in datacenter 'dc-1' failed: not found",
        ),
    ],
    ids=["datacenter", "computeCluster", "resourcePool", "datastoreCluster", "datastore", "template", "portGroup"],
)
def test_inventory_vcenter_does_not_hold_is_one_line_naming_the_key(tmp_path, prod_config, monkeypatch, answer, change, expected):
    def not_found(self: VSphereAnswers, args: dict[str, Any]) -> dict[str, Any]:
        raise LookupFailed("not found")

    monkeypatch.setattr(VSphereAnswers, answer, not_found)
    if change is not None:
        change(prod_config)
    write_stack(tmp_path, "prod", prod_config)
    with pytest.raises(ConfigError) as caught:
        run_plan(tmp_path, "prod")
    assert caught.value.problems == [expected]
