"""The part of AWS an AWS control-plane node talks to at boot, on the emulator's network: Secrets Manager,
IAM and STS from moto's server (PyPI), over TLS under the name the node asks for, and an instance
metadata stand-in (tests/e2e/imds.py) inside each node's network namespace.

From the aws stack's plan it takes the cluster's secret (name and value), the roles, and the
control-plane role's policy for the keys; a node gets the temporary credentials of its role, as an
instance profile gives them. moto's server checks every request's Signature Version 4 and the
caller's identity policies once its first requests (the set-up) are done
(``INITIAL_NO_AUTH_ACTION_COUNT``). What it cannot check: it authorises Secrets Manager requests
against resource ``*`` (moto 5.2: no ``_determine_resource`` for the service), so the policy is
given to it with its resources widened to ``*``, and the secret's resource policy and the KMS key
policy are not evaluated; tests/platforms/aws/test_keys.py checks those documents.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hybrid_infra.platforms.aws import node_keys
from tests.conftest import ROOT
from tests.e2e.emulator import Cluster, Node, ip

METADATA_ADDRESS = "169.254.169.254"
SETUP_REQUESTS = 7
"""Two roles, a KMS key, the secret, the control-plane role's policy, a session of each role."""


def _value(value: Any) -> Any:
    return getattr(value, "value", value)


def _certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name | None, issuer_key, sans=None, ca=False):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _widened(policy: dict[str, Any]) -> dict[str, Any]:
    return {**policy, "Statement": [{**statement, "Resource": "*"} for statement in policy["Statement"]]}


class AwsCloud:
    def __init__(self, emulated: Cluster, plan, directory: Path, region: str):
        resources = plan.simulation.resources
        (secret,) = [r for r in resources if r.type == "aws:secretsmanager/secret:Secret"]
        (version,) = [r for r in resources if r.type == "aws:secretsmanager/secretVersion:SecretVersion"]
        (reading,) = [r for r in resources if r.type == "aws:iam/rolePolicy:RolePolicy" and r.name.endswith("-keys-read")]
        roles = {r.outputs["name"]: r.inputs["description"] for r in resources if r.type == "aws:iam/role:Role"}
        self.secret_name, self.secret_string = secret.inputs["name"], _value(version.inputs["secretString"])
        self.files: dict[str, str] = json.loads(self.secret_string)["files"]
        self.region = region
        self.host = f"{node_keys.SERVICE}.{region}.amazonaws.com"
        self.address = str(emulated.network.cidr.broadcast_address - 2)
        self.processes: list[subprocess.Popen[bytes]] = []
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory

        # The endpoint's certificate, from a CA the nodes trust as they trust Amazon's.
        ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
        ca = _certificate("e2e cloud CA", ca_key, None, None, ca=True)
        server = _certificate(
            self.host, server_key, ca.subject, ca_key,
            [x509.DNSName(self.host), x509.IPAddress(ipaddress.ip_address(self.address))],
        )
        self.ca_file = directory / "ca.crt"
        self.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        (directory / "server.crt").write_bytes(server.public_bytes(serialization.Encoding.PEM))
        (directory / "server.key").write_bytes(_pem(server_key))
        emulated.trusted_ca = self.ca_file.read_text()
        emulated.env["E2E_HOSTS"] = json.dumps({**json.loads(emulated.env["E2E_HOSTS"]), self.host: self.address})

        emulated.network.add_address(self.address)
        log = open(directory / "moto.log", "ab")
        self.processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", self.address, "-p", "443",
                 "-c", str(directory / "server.crt"), "-k", str(directory / "server.key")],
                env={"PATH": "/usr/bin:/bin", "INITIAL_NO_AUTH_ACTION_COUNT": str(SETUP_REQUESTS)},
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            )
        )
        log.close()
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection((self.address, 443), timeout=2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, (directory / "moto.log").read_text()
                time.sleep(0.5)

        session = boto3.session.Session(aws_access_key_id="AKIAE2ESETUP", aws_secret_access_key="setup", region_name=region)

        def client(service: str):
            return session.client(service, endpoint_url=f"https://{self.address}", verify=str(self.ca_file))

        iam, sts, kms, secrets = client("iam"), client("sts"), client("kms"), client("secretsmanager")
        trust = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ]})
        arns = {
            description: iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
            for name, description in sorted(roles.items())
        }
        names = {description: name for name, description in roles.items()}
        key = kms.create_key(Description="control-plane keys")["KeyMetadata"]["Arn"]
        secrets.create_secret(Name=self.secret_name, SecretString=self.secret_string, KmsKeyId=key)
        control_plane = next(d for d in roles.values() if "control-plane" in d)
        iam.put_role_policy(
            RoleName=names[control_plane], PolicyName=reading.name, PolicyDocument=json.dumps(_widened(json.loads(reading.inputs["policy"])))
        )
        self.credentials: dict[str, dict[str, str]] = {}
        for description, arn in sorted(arns.items()):
            role = "control-plane" if description == control_plane else "worker"
            issued = sts.assume_role(RoleArn=arn, RoleSessionName=f"i-{role}")["Credentials"]
            self.credentials[role] = {
                "role": names[description],
                "AccessKeyId": issued["AccessKeyId"],
                "SecretAccessKey": issued["SecretAccessKey"],
                "Token": issued["SessionToken"],
                "Expiration": issued["Expiration"].strftime("%Y-%m-%dT%H:%M:%SZ"),
            }

    def serve_metadata(self, node: Node, role: str) -> None:
        """The node's instance metadata, at 169.254.169.254 in its own network namespace."""
        credentials = self.directory / f"{node.name}-credentials.json"
        credentials.write_text(json.dumps(self.credentials[role]))
        credentials.chmod(0o600)
        # Kept across the node's reboots with its namespace; the service itself starts again each boot.
        ip("-n", node.namespace, "addr", "add", f"{METADATA_ADDRESS}/32", "dev", "lo", check=False)
        process = subprocess.Popen(
            ["ip", "netns", "exec", node.namespace, sys.executable, "-m", "tests.e2e.imds", METADATA_ADDRESS, str(credentials)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=open(self.directory / f"{node.name}-imds.log", "ab"),
        )
        self.processes.append(process)
        assert process.stdout is not None and process.stdout.readline().strip() == b"listening"

    def get_secret_value(self, role: str) -> tuple[int, str]:
        """``GetSecretValue`` of the cluster's secret, signed as the node's program signs, with a role's credentials."""
        body = json.dumps({"SecretId": self.secret_name}).encode()
        headers = node_keys.signed_headers(
            self.credentials[role], self.region, self.host, "secretsmanager.GetSecretValue", body, datetime.datetime.now(datetime.UTC)
        )
        request = urllib.request.Request(f"https://{self.address}/", data=body, method="POST", headers=headers)
        context = ssl.create_default_context(cafile=str(self.ca_file))
        try:
            with urllib.request.urlopen(request, context=context, timeout=10) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def close(self) -> None:
        for process in self.processes:
            process.kill()
            process.wait(timeout=30)
