"""Cluster PKI made by Pulumi, as Cluster API's kubeadm bootstrap does.

Cluster CA, etcd CA, front-proxy CA and the service-account key pair go to control-plane nodes
only; workers get the bootstrap token and the CA's discovery hash. The admin client certificate is
signed here too, so the kubeconfig comes out of Pulumi without logging in to any node.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_random as random
import pulumi_tls as tls
import pulumiverse_time as time

from ..config.cluster import ClusterSpec
from ..outputs import all_computed, computed
from ..topology import NodeGroup, node_groups

CA_VALIDITY_HOURS = 10 * 365 * 24
ADMIN_GROUP = "kubeadm:cluster-admins"
"""Bound to cluster-admin by ``kubeadm init``; unlike system:masters it can be revoked through RBAC."""

_KEY_ARGS: dict[str, dict[str, Any]] = {
    "ecdsa-p256": {"algorithm": "ECDSA", "ecdsa_curve": "P256"},
    "rsa-2048": {"algorithm": "RSA", "rsa_bits": 2048},
    "rsa-3072": {"algorithm": "RSA", "rsa_bits": 3072},
    "rsa-4096": {"algorithm": "RSA", "rsa_bits": 4096},
}


def _join_token(name: str, ttl: datetime.timedelta, opts: pulumi.ResourceOptions) -> JoinToken:
    # The id is public (it names the token's Secret); the secret half is a provider-made secret.
    token_id = random.RandomString(f"{name}-id", length=6, upper=False, special=False, opts=opts)
    token_secret = random.RandomPassword(f"{name}-secret", length=16, upper=False, special=False, opts=opts)
    issued = time.Static(f"{name}-issued", opts=opts)
    expiration = computed(issued.unix).apply(
        lambda seconds: (datetime.datetime.fromtimestamp(seconds, datetime.UTC) + ttl).strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    public = computed(token_id.result)
    token: pulumi.Output[str] = pulumi.Output.secret(pulumi.Output.concat(public, ".", computed(token_secret.result)))
    return JoinToken(public, token, expiration, [token_id, token_secret, issued])


@dataclass(frozen=True)
class PkiMaterial:
    """The PKI as plain text, for the pure renderers."""

    ca_cert: str
    ca_key: str
    etcd_ca_cert: str
    etcd_ca_key: str
    front_proxy_ca_cert: str
    front_proxy_ca_key: str
    service_account_public_key: str
    service_account_private_key: str
    admin_cert: str
    admin_key: str
    encryption_key: str
    bootstrap_token: str = ""
    """The join token of the node being rendered: each node has its own (see :class:`JoinToken`)."""


@dataclass(frozen=True)
class JoinToken:
    """One node's kubeadm bootstrap token, issued with the node and valid for a while after."""

    token_id: pulumi.Output[str]
    """The public half, which names the token's Secret."""
    token: pulumi.Output[str]
    """``[a-z0-9]{6}.[a-z0-9]{16}``; secret."""
    expiration: pulumi.Output[str]
    """When it stops working (RFC 3339, UTC): ``cluster.joinTokenTtlMinutes`` after it was issued."""
    resources: list[pulumi.CustomResource]
    """What makes it; replacing them issues a new one (``hybrid-infra rollout`` does, with the node)."""


class ClusterPki(pulumi.ComponentResource):
    """Certificate authorities, service-account keys, admin certificate, join token, encryption key."""

    ca_cert: pulumi.Output[str]
    """Cluster CA certificate (PEM); public."""
    admin_cert: pulumi.Output[str]
    """Admin client certificate (PEM) signed by the cluster CA."""
    admin_key: pulumi.Output[str]
    """Admin client key (PEM); secret."""
    join_tokens: dict[str, JoinToken]
    """Every node's own join token, by node name: a node added later gets a new one, no other changes."""
    encryption_key: pulumi.Output[str]
    """32 random bytes, base64, for encrypting Secrets in etcd; secret."""
    material: pulumi.Output[PkiMaterial]
    """Everything above but the join tokens, and the CA keys, resolved together; secret."""

    def __init__(self, name: str, cluster: ClusterSpec, opts: pulumi.ResourceOptions | None = None):
        super().__init__("hybrid-infra:index:ClusterPki", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        key_args = _KEY_ARGS[cluster.pki.key_algorithm]

        def private_key(part: str) -> tls.PrivateKey:
            return tls.PrivateKey(f"{name}-{part}-key", **key_args, opts=child)

        def authority(part: str, common_name: str) -> tuple[tls.PrivateKey, tls.SelfSignedCert]:
            key = private_key(part)
            cert = tls.SelfSignedCert(
                f"{name}-{part}",
                private_key_pem=key.private_key_pem,
                is_ca_certificate=True,
                validity_period_hours=CA_VALIDITY_HOURS,
                allowed_uses=["cert_signing", "crl_signing", "digital_signature", "key_encipherment"],
                subject=tls.SelfSignedCertSubjectArgs(common_name=common_name),
                opts=child,
            )
            return key, cert

        # kubeadm's own common names, so certificates look as kubeadm would have made them.
        ca_key, ca = authority("ca", "kubernetes")
        etcd_key, etcd_ca = authority("etcd-ca", "etcd-ca")
        proxy_key, proxy_ca = authority("front-proxy-ca", "front-proxy-ca")
        service_account = private_key("service-account")

        admin_key = private_key("admin")
        admin_request = tls.CertRequest(
            f"{name}-admin-request",
            private_key_pem=admin_key.private_key_pem,
            subject=tls.CertRequestSubjectArgs(common_name="hybrid-infra-admin", organization=ADMIN_GROUP),
            opts=child,
        )
        admin = tls.LocallySignedCert(
            f"{name}-admin",
            cert_request_pem=admin_request.cert_request_pem,
            ca_private_key_pem=ca_key.private_key_pem,
            ca_cert_pem=ca.cert_pem,
            validity_period_hours=cluster.pki.admin_certificate_hours,
            allowed_uses=["digital_signature", "key_encipherment", "client_auth"],
            opts=child,
        )

        # Each node joins with a short-lived token of its own, issued when the node is created (as
        # Cluster API issues them per machine): adding nodes adds tokens and changes no other node.
        self._token_ttl = datetime.timedelta(minutes=cluster.join_token_ttl_minutes)
        self._name, self._child = name, child
        self.join_tokens = {}
        for group in node_groups(cluster):
            self.add_join_tokens(group)
        encryption = random.RandomBytes(f"{name}-encryption-key", length=32, opts=child)

        self.ca_cert = computed(ca.cert_pem)
        self.admin_cert = computed(admin.cert_pem)
        self.admin_key = pulumi.Output.secret(computed(admin_key.private_key_pem))
        self.encryption_key = pulumi.Output.secret(computed(encryption.base64))
        self.material = pulumi.Output.secret(
            all_computed(
                ca.cert_pem,
                ca_key.private_key_pem,
                etcd_ca.cert_pem,
                etcd_key.private_key_pem,
                proxy_ca.cert_pem,
                proxy_key.private_key_pem,
                service_account.public_key_pem,
                service_account.private_key_pem,
                admin.cert_pem,
                admin_key.private_key_pem,
                self.encryption_key,
            ).apply(lambda values: PkiMaterial(*values))
        )
        self.register_outputs(
            {
                "caCert": self.ca_cert,
                "adminCert": self.admin_cert,
                "adminKey": self.admin_key,
                "tokenResources": {
                    node: [resource.urn for resource in token.resources] for node, token in self.join_tokens.items()
                },
            }
        )

    def add_join_tokens(self, group: NodeGroup) -> None:
        """A join token for each node of ``group`` that has none (a pool added to the cluster later)."""
        for node in group.node_names:
            if node not in self.join_tokens:
                self.join_tokens[node] = _join_token(f"{self._name}-token-{node}", self._token_ttl, self._child)
