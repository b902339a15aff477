"""Pure: whether every pool's cloud-configs fit in what its platform passes to a VM, known before
any resource exists, from stand-ins of what the cluster makes later."""

from __future__ import annotations

import base64
import datetime
import functools
from collections.abc import Mapping

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ..config.cluster import API_PORT, ClusterSpec
from ..config.errors import ConfigError
from ..topology import PlatformHints, node_groups
from .cloudinit import NodeBootstrap, render_cloud_config
from .kubeadm import ClusterEndpoint
from .pki import CA_VALIDITY_HOURS, PkiMaterial

STAND_IN_ADDRESSES = ("255.255.255.254", "255.255.255.253")
"""The endpoint's private and public address before they exist, as long as IPv4 addresses get. An
endpoint that is a DNS name (a cloud load balancer's) makes cloud-configs a little longer: the
rendering itself checks the size again."""


def user_data_problems(cluster: ClusterSpec, hints: Mapping[str, PlatformHints]) -> list[str]:
    """One line per pool whose cloud-configs would be larger than its platform passes to a VM
    (``hints``: by pool name), found before any resource exists.

    Each pool's largest cloud-config is rendered, the first control-plane node's (it carries both
    kubeadm files) or a pool's last node's (the longest name), with stand-ins of what the cluster makes
    later: keys of the cluster's algorithm, a join token, the endpoint's addresses
    (:data:`STAND_IN_ADDRESSES`). What decides the size is the stack's: registry mirrors, the key
    algorithm, labels and taints."""
    pki = _stand_in_pki(cluster.pki.key_algorithm)
    private, public = STAND_IN_ADDRESSES
    endpoint = ClusterEndpoint(
        private, public if cluster.endpoint.public else private, API_PORT, announce=cluster.endpoint.type == "vip"
    )
    problems: list[str] = []
    for group in node_groups(cluster):
        if group.count == 0:
            continue
        index = 0 if group.role == "control-plane" else group.count - 1
        try:
            render_cloud_config(NodeBootstrap(cluster, group, index, endpoint, hints[group.name]), pki)
        except ConfigError as error:
            problems += error.problems
    return problems


@functools.cache
def _stand_in_pki(key_algorithm: str) -> PkiMaterial:
    """PKI material as large as :class:`ClusterPki` makes with ``key_algorithm``: one key of the algorithm
    for every key (a key's size is what counts), CA certificates as pulumi-tls signs them (kubeadm's
    common names, ten years, a 128-bit serial), a join token and an encryption key of their lengths."""
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    if key_algorithm.startswith("rsa-"):
        key = rsa.generate_private_key(public_exponent=65537, key_size=int(key_algorithm.removeprefix("rsa-")))
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    now = datetime.datetime.now(datetime.UTC)

    def authority(common_name: str) -> str:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number((1 << 127) + 1)
            .not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(hours=CA_VALIDITY_HOURS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=True,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        return certificate.public_bytes(serialization.Encoding.PEM).decode()

    ca = authority("kubernetes")
    return PkiMaterial(
        ca_cert=ca,
        ca_key=key_pem,
        etcd_ca_cert=authority("etcd-ca"),
        etcd_ca_key=key_pem,
        front_proxy_ca_cert=authority("front-proxy-ca"),
        front_proxy_ca_key=key_pem,
        service_account_public_key=public_pem,
        service_account_private_key=key_pem,
        admin_cert=ca,
        admin_key=key_pem,
        encryption_key=base64.b64encode(bytes(32)).decode(),
        bootstrap_token="abcdef.0123456789abcdef",
    )
