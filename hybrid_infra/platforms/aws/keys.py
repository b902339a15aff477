"""The control-plane key files in one Secrets Manager secret per cluster, encrypted with a KMS key of
their own, readable by the control-plane instance role (and by the identity that deploys the stack,
whose state holds the keys already): nobody else, read-only users of the account included.

Three policies hold it together, each checked by the tests:

- the secret's resource policy denies ``GetSecretValue`` to every principal but those two;
- the KMS key's policy lets the account administer the key but lets only those two decrypt, and
  only through Secrets Manager in the stack's region;
- the control-plane role's own policy allows ``GetSecretValue`` of this secret and ``kms:Decrypt``
  with this key through Secrets Manager; no other role is allowed either.

The node reads the secret with :mod:`.node_keys` before its bootstrap, as Cluster API Provider AWS
moved its bootstrap data to Secrets Manager (its pull request 1517).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pulumi
import pulumi_aws as aws

from ...config.cluster import ClusterSpec

SECRET_NAME = "hybrid-infra/{cluster}/control-plane-keys"
"""Known before anything is created, so that it can go into the nodes' user data; Secrets Manager names
are unique per account and region, as the cluster's name already has to be (its
``kubernetes.io/cluster/<name>`` tag)."""
READ = "secretsmanager:GetSecretValue"


def secret_name(cluster: ClusterSpec) -> str:
    return SECRET_NAME.format(cluster=cluster.name)


def fetch_program(secret: str, region: str) -> str:
    """The program of ``PlatformHints.key_fetch``: :mod:`.node_keys` as it is, then its call."""
    source = resources.files(__package__).joinpath("node_keys.py").read_text()
    return f"#!/usr/bin/env python3\n{source}\n\nif __name__ == \"__main__\":\n    sys.exit(main({secret!r}, {region!r}))\n"


def via_secrets_manager(region: str, dns_suffix: str) -> dict[str, Any]:
    return {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.{dns_suffix}"}}


def secret_policy(readers: list[str]) -> dict[str, Any]:
    """An explicit deny overrides any allow of an identity policy: ``aws:PrincipalArn`` is the role's ARN
    for its sessions (IAM User Guide, "AWS global condition context keys")."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OnlyTheControlPlaneAndTheDeployerRead",
                "Effect": "Deny",
                "Principal": "*",
                "Action": READ,
                "Resource": "*",
                "Condition": {"StringNotEquals": {"aws:PrincipalArn": readers}},
            }
        ],
    }


def key_policy(partition: str, account: str, readers: list[str], region: str, dns_suffix: str) -> dict[str, Any]:
    """The account (its IAM policies) administers the key and may encrypt with it, but decrypting is
    granted here alone, to the readers and through Secrets Manager only."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministersButDoesNotDecrypt",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
                "NotAction": ["kms:Decrypt", "kms:ReEncryptFrom"],
                "Resource": "*",
            },
            {
                "Sid": "ReadersDecryptThroughSecretsManager",
                "Effect": "Allow",
                "Principal": {"AWS": readers},
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": via_secrets_manager(region, dns_suffix),
            },
        ],
    }


def reader_policy(secret_arn: str, key_arn: str, region: str, dns_suffix: str) -> dict[str, Any]:
    """The control-plane role's identity policy for the keys."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ReadTheClusterKeys", "Effect": "Allow", "Action": READ, "Resource": secret_arn},
            {
                "Sid": "DecryptThemThroughSecretsManager",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": key_arn,
                "Condition": via_secrets_manager(region, dns_suffix),
            },
        ],
    }


class AwsKeyStore(pulumi.ComponentResource):
    """The KMS key, the secret with its resource policy and value, and the control-plane role's policy."""

    stored: pulumi.Output[str]
    """The secret value's version ID: known once the keys are stored and readable."""

    def __init__(
        self,
        name: str,
        cluster: ClusterSpec,
        region: str,
        reader_role: aws.iam.Role,
        files: pulumi.Output[dict[str, str]],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("hybrid-infra:index:AwsKeyStore", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        partition = aws.get_partition_output(opts=invoke)
        caller = aws.get_caller_identity_output(opts=invoke)
        # The deployer's role ARN when it runs as a role session, its user ARN otherwise.
        deployer = aws.iam.get_session_context_output(arn=caller.arn, opts=invoke).issuer_arn
        readers = pulumi.Output.all(reader_role.arn, deployer).apply(lambda arns: sorted(set(arns)))
        tags = {"hybrid-infra-cluster": cluster.name}
        key = aws.kms.Key(
            f"{name}-key",
            description=f"{cluster.name} Kubernetes control-plane keys",
            enable_key_rotation=True,
            deletion_window_in_days=7,
            policy=pulumi.Output.all(partition.partition, caller.account_id, readers, partition.dns_suffix).apply(
                lambda args: json.dumps(key_policy(args[0], args[1], args[2], region, args[3]))
            ),
            tags=tags,
            opts=child,
        )
        secret = aws.secretsmanager.Secret(
            f"{name}-secret",
            name=secret_name(cluster),
            description=f"{cluster.name} Kubernetes control-plane keys, read by its control-plane nodes at bootstrap",
            kms_key_id=key.arn,
            # Its name is fixed: a destroyed cluster's secret goes at once, so that a new one may take the name.
            recovery_window_in_days=0,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        policy = aws.secretsmanager.SecretPolicy(
            f"{name}-secret-policy",
            secret_arn=secret.arn,
            policy=readers.apply(lambda arns: json.dumps(secret_policy(arns))),
            opts=child,
        )
        access = aws.iam.RolePolicy(
            f"{name}-read",
            role=reader_role.name,
            policy=pulumi.Output.all(secret.arn, key.arn, partition.dns_suffix).apply(
                lambda args: json.dumps(reader_policy(args[0], args[1], region, args[2]))
            ),
            opts=child,
        )
        value: pulumi.Output[str] = pulumi.Output.secret(files.apply(lambda paths: json.dumps({"files": paths}, sort_keys=True)))
        version = aws.secretsmanager.SecretVersion(
            f"{name}-value",
            secret_id=secret.id,
            secret_string=value,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy, access]),
        )
        self.key_arn = key.arn
        self.secret_arn = secret.arn
        self.stored = version.version_id
        self.register_outputs({"keyArn": self.key_arn, "secretArn": self.secret_arn})
