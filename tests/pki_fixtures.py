"""Certificates made with ``cryptography`` for tests that need PKI material without Pulumi."""

from __future__ import annotations

import datetime
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hybrid_infra.bootstrap.pki import PkiMaterial


def key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()


def certificate(
    common_name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
    server_ip: str | None = None,
    client: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if server_ip:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(server_ip))]), critical=False
        )
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    if client:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def material() -> PkiMaterial:
    keys = [new_key() for _ in range(5)]
    ca, etcd, proxy, service_account, admin = keys
    ca_cert = certificate("kubernetes", ca)
    return PkiMaterial(
        ca_cert=pem(ca_cert),
        ca_key=key_pem(ca),
        etcd_ca_cert=pem(certificate("etcd-ca", etcd)),
        etcd_ca_key=key_pem(etcd),
        front_proxy_ca_cert=pem(certificate("front-proxy-ca", proxy)),
        front_proxy_ca_key=key_pem(proxy),
        service_account_public_key=service_account.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
        service_account_private_key=key_pem(service_account),
        admin_cert=pem(certificate("admin", admin, issuer=(ca_cert, ca), client=True)),
        admin_key=key_pem(admin),
        bootstrap_token="abcdef.0123456789abcdef",
        encryption_key="c2VjcmV0Ym94LWtleS1vZi10aGlydHktdHdvLWJ5dGU=",
    )
