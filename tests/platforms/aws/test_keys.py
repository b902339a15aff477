"""The control-plane keys in Secrets Manager: out of every instance's user data, readable by the
control-plane role (and the deployer) alone, and fetched by the node with the program it is given."""

from __future__ import annotations

import base64
import datetime
import gzip
import json
import subprocess
import sys
from typing import Any
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from hybrid_infra.bootstrap.cloudinit import (
    BOOTSTRAP_MARKER,
    KEY_FETCH_SCRIPT,
    PKI_SOURCE,
    control_plane_keys,
)
from hybrid_infra.bootstrap.kubeadm import ENCRYPTION_CONFIG
from hybrid_infra.offline.simulate import Simulation
from hybrid_infra.platforms.aws import node_keys
from hybrid_infra.platforms.aws.keys import fetch_program
from hybrid_infra.platforms.aws.simulated import DEPLOYER
from tests.platforms.aws.conftest import instances
from tests.platforms.aws.test_iam import CONTROL_PLANE, WORKER, policies, role_policies

SECRET = "aws:secretsmanager/secret:Secret"
VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
KEY = "aws:kms/key:Key"


def cloud_config(inputs: dict[str, Any]) -> str:
    return gzip.decompress(base64.b64decode(inputs["userDataBase64"].value)).decode()


def role_arns(result: Simulation) -> dict[str, str]:
    return {r.inputs["description"]: r.outputs["arn"] for r in result.of_type("aws:iam/role:Role")}


def only(result: Simulation, kind: str):
    (resource,) = result.of_type(kind)
    return resource


def test_no_instance_carries_a_private_key_in_its_user_data(aws_stack):
    found = instances(aws_stack)
    assert any(inputs["tags"]["hybrid-infra-role"] == "control-plane" for inputs in found.values())
    for name, inputs in found.items():
        text = cloud_config(inputs)
        assert "PRIVATE KEY" not in text, name
        assert "secretbox" not in text, name


def test_control_plane_nodes_fetch_the_keys_before_their_bootstrap(aws_stack):
    secret = only(aws_stack, SECRET)
    for name, inputs in instances(aws_stack).items():
        text = cloud_config(inputs)
        control_plane = inputs["tags"]["hybrid-infra-role"] == "control-plane"
        assert (KEY_FETCH_SCRIPT in text) is control_plane, name
        if control_plane:
            assert f"ExecStartPre={KEY_FETCH_SCRIPT}" in text, name
            assert f"sys.exit(main({secret.inputs['name']!r}, 'us-east-1'))" in text, name


def test_the_secret_holds_every_key_file_and_is_secret(aws_stack):
    version = only(aws_stack, VERSION)
    value = version.inputs["secretString"]
    assert type(value).__name__ == "Secret"
    files = json.loads(value.value)["files"]
    assert set(files) == {f"{PKI_SOURCE}/{name}" for name in (
        "ca.crt", "ca.key", "etcd/ca.crt", "etcd/ca.key", "front-proxy-ca.crt", "front-proxy-ca.key", "sa.pub", "sa.key"
    )} | {ENCRYPTION_CONFIG}
    assert "PRIVATE KEY" in files[f"{PKI_SOURCE}/ca.key"]
    assert all(path.startswith(node_keys.WRITABLE) for path in files)
    assert version.outputs["versionId"]


def test_the_secret_is_encrypted_with_its_own_key_and_denied_to_all_but_its_readers(aws_stack):
    secret, key = only(aws_stack, SECRET), only(aws_stack, KEY)
    assert secret.inputs["kmsKeyId"] == key.outputs["arn"]
    readers = sorted([role_arns(aws_stack)[CONTROL_PLANE], DEPLOYER])
    (policy,) = aws_stack.of_type("aws:secretsmanager/secretPolicy:SecretPolicy")
    assert policy.inputs["secretArn"] == secret.outputs["arn"]
    assert json.loads(policy.inputs["policy"])["Statement"] == [
        {
            "Sid": "OnlyTheControlPlaneAndTheDeployerRead",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:PrincipalArn": readers}},
        }
    ]


def test_only_the_readers_may_decrypt_with_the_key_and_only_through_secrets_manager(aws_stack):
    key = only(aws_stack, KEY)
    readers = sorted([role_arns(aws_stack)[CONTROL_PLANE], DEPLOYER])
    statements = json.loads(key.inputs["policy"])["Statement"]
    decrypting = [s for s in statements if "kms:Decrypt" in json.dumps(s.get("Action", ""))]
    assert decrypting == [
        {
            "Sid": "ReadersDecryptThroughSecretsManager",
            "Effect": "Allow",
            "Principal": {"AWS": readers},
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}},
        }
    ]
    (account,) = [s for s in statements if s not in decrypting]
    assert account["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
    assert set(account["NotAction"]) >= {"kms:Decrypt", "kms:ReEncryptFrom"} and "Action" not in account
    assert key.inputs["enableKeyRotation"] is True


def test_only_the_control_plane_role_is_allowed_to_read_the_secret(aws_stack):
    secret, key = only(aws_stack, SECRET), only(aws_stack, KEY)
    reading = {name: document for name, document in policies(aws_stack).items() if "secretsmanager" in json.dumps(document)}
    assert list(reading) == ["aws-cluster-keys-read"]
    assert "aws-cluster-keys-read" in role_policies(aws_stack)[CONTROL_PLANE]
    assert not any("kms:" in json.dumps(document) for document in role_policies(aws_stack)[WORKER].values())
    statements = reading["aws-cluster-keys-read"]["Statement"]
    assert [(s["Action"], s["Resource"]) for s in statements] == [
        ("secretsmanager:GetSecretValue", secret.outputs["arn"]),
        ("kms:Decrypt", key.outputs["arn"]),
    ]
    assert statements[1]["Condition"] == {"StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}}


def test_the_nodes_program_signs_as_botocore_does():
    credentials = {"AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": "c2VjcmV0", "Token": "session-token"}
    now = datetime.datetime(2026, 12, 8, 1, 2, 3, tzinfo=datetime.UTC)
    host, body = "secretsmanager.eu-west-3.amazonaws.com", b'{"SecretId": "hybrid-infra/c/control-plane-keys"}'
    ours = node_keys.signed_headers(credentials, "eu-west-3", host, "secretsmanager.GetSecretValue", body, now)
    request = AWSRequest(
        method="POST",
        url=f"https://{host}/",
        data=body,
        headers={"content-type": "application/x-amz-json-1.1", "x-amz-target": "secretsmanager.GetSecretValue"},
    )
    with mock.patch("botocore.auth.get_current_datetime", return_value=now.replace(tzinfo=None)):
        SigV4Auth(
            Credentials(credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["Token"]), "secretsmanager", "eu-west-3"
        ).add_auth(request)
    assert ours["authorization"] == request.headers["Authorization"]
    assert ours["x-amz-date"] == request.headers["X-Amz-Date"] == "20261208T010203Z"


def test_the_nodes_program_writes_only_where_the_bootstrap_reads(tmp_path):
    files = control_plane_keys_fixture()
    node_keys.write_files(files, str(tmp_path))
    for path, content in files.items():
        written = tmp_path / path.lstrip("/")
        assert written.read_text() == content
        assert written.stat().st_mode & 0o777 == 0o600
        assert written.parent.stat().st_mode & 0o777 == 0o700
    with pytest.raises(node_keys.FetchFailed, match="outside"):
        node_keys.write_files({"/etc/hybrid-infra/pki/../../shadow": "x"}, str(tmp_path))
    with pytest.raises(node_keys.FetchFailed, match="outside"):
        node_keys.write_files({"/root/.ssh/authorized_keys": "x"}, str(tmp_path))


def control_plane_keys_fixture() -> dict[str, str]:
    from tests.pki_fixtures import material

    return control_plane_keys(material())


def test_the_nodes_program_knows_the_bootstraps_paths():
    assert BOOTSTRAP_MARKER in node_keys.DONE
    assert {path.rsplit("/", 1)[0] + "/" for path in control_plane_keys_fixture()} <= {
        prefix + sub for prefix in node_keys.WRITABLE for sub in ("", "etcd/")
    }
    assert f"{PKI_SOURCE}/" in node_keys.WRITABLE


def test_a_bootstrapped_node_does_not_fetch_the_keys_again(tmp_path):
    program = tmp_path / "fetch"
    program.write_text(fetch_program("hybrid-infra/c/control-plane-keys", "us-east-1"))
    marker = tmp_path / BOOTSTRAP_MARKER.lstrip("/")
    marker.parent.mkdir(parents=True)
    marker.touch()
    # Were it to fetch, it would reach for the metadata service, which does not answer here.
    done = subprocess.run([sys.executable, str(program)], env={"HYBRID_INFRA_ROOT": str(tmp_path)}, capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / PKI_SOURCE.lstrip("/")).exists()
