"""The ``hybrid-infra:openstack`` section: its own keys and its checks across sections."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pulumi
import pytest

from hybrid_infra.config import ConfigError
from hybrid_infra.offline.cloud import LookupFailed
from hybrid_infra.offline.plan import run_plan
from hybrid_infra.platform import program
from hybrid_infra.platforms.openstack.simulated import OpenStackAnswers
from hybrid_infra.stack import parse_stack_config
from hybrid_infra.testing import simulate
from tests.conftest import secret_keys, write_stack
from tests.test_config import problems


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"image": " "}, "openstack.image: ' ' is not allowed; it must not be empty"),
        ({"flavors": {"medium": "", "large": "m1.large", "virt": "v"}}, "openstack.flavors.medium: '' is not allowed"),
        ({"bootVolumeSize": 5}, "openstack.bootVolumeSize: 5 is not allowed; use a number >= 10"),
        ({"sshAllowedCidrs": ["everywhere"]}, "openstack.sshAllowedCidrs[0]: 'everywhere' is not allowed; use an IPv4 network"),
        ({"keypair": "mine"}, "openstack.keypair: unknown key; did you mean 'keyPair'?"),
    ],
)
def test_bad_openstack_values(dev_config, change, expected):
    dev_config["hybrid-infra:openstack"].update(change)
    found = problems(dev_config)
    assert len(found) == 1, found
    assert found[0].startswith(expected), found


def test_size_must_name_a_flavor(dev_config):
    dev_config["hybrid-infra:cluster"]["pools"][0]["size"] = "huge"
    assert problems(dev_config) == [
        "cluster.pools[0].size: 'huge' is not allowed; use a size defined in openstack.flavors: large, medium, virt"
    ]


def test_created_network_needs_external_network(dev_config):
    del dev_config["hybrid-infra:openstack"]["externalNetwork"]
    assert problems(dev_config) == [
        "openstack.externalNetwork: missing; a public endpoint needs the name of an external network"
    ]


def test_an_empty_secret_is_refused_without_echoing_it(dev_config):
    dev_config["hybrid-infra:openstack"]["cloudProvider"]["applicationCredentialSecret"] = ""
    assert problems(dev_config) == [
        "openstack.cloudProvider.applicationCredentialSecret: the value given is not allowed; a non-empty string "
        "is needed (set it with `pulumi config set --secret`)"
    ]


def test_secrets_do_not_show_in_the_validated_spec(dev_config):
    spec = parse_stack_config(dev_config)
    secret = dev_config["hybrid-infra:openstack"]["cloudProvider"]["applicationCredentialSecret"]
    assert secret not in repr(spec) and secret not in str(spec)




PLAIN_SECRET_LINE = (
    "openstack.cloudProvider.applicationCredentialSecret: a plain value is not allowed for a secret (it would sit "
    "unencrypted in the stack file); set it encrypted with: pulumi config set --path --secret "
    "'hybrid-infra:openstack.cloudProvider.applicationCredentialSecret' <value>"
)


def test_a_credential_in_plain_text_is_refused_by_plan(tmp_path, dev_config):
    dev_config["hybrid-infra:openstack"]["cloudProvider"]["applicationCredentialSecret"] = "committed-in-the-clear"
    write_stack(tmp_path / "stacks", "dev", {k: v for k, v in dev_config.items()})
    stack = (tmp_path / "stacks" / "Pulumi.dev.yaml").read_text()
    assert "committed-in-the-clear" in stack and "secure:" not in stack
    result = subprocess.run(
        [sys.executable, "-m", "hybrid_infra", "plan", "dev"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"stacks/Pulumi.dev.yaml: {PLAIN_SECRET_LINE}"]
    assert "committed-in-the-clear" not in result.stderr + result.stdout
    assert not (tmp_path / "build").exists()


def test_a_credential_in_plain_text_is_refused_under_pulumi_up(dev_config):
    # Under `pulumi up` the engine marks a whole key secret when any value in it is encrypted.
    with pytest.raises(pulumi.RunError) as caught:
        simulate(program, stack="dev", config=dev_config, secret_keys=[])
    assert PLAIN_SECRET_LINE in str(caught.value)
    simulate(program, stack="dev", config=dev_config, secret_keys=secret_keys(dev_config))


# --- what only a look-up finds: one line naming the key, as on every platform (tests/platforms/test_contract.py) ---

NETWORK = "12345678-1234-1234-1234-123456789abc"


@pytest.mark.parametrize(
    ("answer", "network", "expected"),
    [
        ("_get_network", None, "openstack.externalNetwork: the look-up of the external network 'public' failed: not found"),
        ("_get_network", {"existing": "shared"}, "openstack.network.existing: the look-up of the network 'shared' failed: not found"),
        (
            "_get_network",
            {"existing": NETWORK},
            f"openstack.network.existing: the look-up of the network with ID '{NETWORK}' failed: not found",
        ),
        (
            "_get_subnet",
            {"existing": "shared"},
            "cluster.network.nodeCidr: the look-up of the subnet 10.20.0.0/24 in network 'shared' failed: not found",
        ),
        (
            "_get_subnet",
            {"existing": "shared", "existingSubnet": "nodes"},
            "openstack.network.existingSubnet: the look-up of the subnet 'nodes' in network 'shared' failed: not found",
        ),
        (
            "_get_subnet",
            {"existing": "shared", "existingSubnet": NETWORK},
            f"openstack.network.existingSubnet: the look-up of the subnet with ID '{NETWORK}' failed: not found",
        ),
    ],
    ids=["externalNetwork", "existing", "existing-id", "subnet-by-cidr", "existingSubnet", "existingSubnet-id"],
)
def test_a_network_the_cloud_does_not_hold_is_one_line_naming_the_key(tmp_path, dev_config, monkeypatch, answer, network, expected):
    found = getattr(OpenStackAnswers, answer)

    def not_found(self: OpenStackAnswers, args: dict[str, Any]) -> dict[str, Any]:
        if network is None or not args.get("external"):
            raise LookupFailed("not found")
        return found(self, args)

    monkeypatch.setattr(OpenStackAnswers, answer, not_found)
    if network is not None:
        dev_config["hybrid-infra:openstack"]["network"] = network
    write_stack(tmp_path, "dev", dev_config)
    with pytest.raises(ConfigError) as caught:
        run_plan(tmp_path, "dev")
    assert caught.value.problems == [expected]
