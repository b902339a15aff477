"""The simulated cloud: Pulumi mocks that answer like the real providers, deterministically.

- Each platform: the answers of its package's ``simulated`` module (asked through the registry),
  with IDs derived from the stack and resource name and addresses allocated in order from a network.
- pulumi-tls: real keys (derived from a seed, so the same stack gives the same keys) and real
  certificates signed with ``cryptography``, valid from a fixed date.
- pulumi-random: values from a generator seeded by the stack name and the resource.

In preview mode it answers like ``pulumi preview``: inputs are echoed, computed outputs unknown.
Nothing is fetched from the network under it: release manifests given by URL are recorded as pinned.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import json
import random
import string
import threading
import uuid
from collections.abc import Callable
from typing import Any, cast

import pulumi
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificateIssuerPublicKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pulumi.runtime import rpc

from .. import platforms
from ..config.cluster import NetworkSpec
from ..platforms.contract import LookupFailed
from ..readiness import RECORD_KIND
from ..stack import StackSpec

SIMULATED_CLOCK = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
"""Certificates are valid from here, so a plan stays the same from one day (and year) to the next."""

_CURVES = {"P224": ec.SECP224R1(), "P256": ec.SECP256R1(), "P384": ec.SECP384R1(), "P521": ec.SECP521R1()}


DYNAMIC_TYPE = "pulumi-python:dynamic:Resource"


def _plain(value: Any) -> Any:
    """Inputs without their secret wrappers (the cloud sees plaintext, as a provider does)."""
    value = rpc.unwrap_rpc_secret(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


class SimulatedCloud(pulumi.runtime.Mocks):
    """Pulumi mocks that answer like the real providers, for ``simulate`` or ``pulumi.runtime.set_mocks``.

    ``stack`` seeds keys, random values and IDs; ``spec`` gives the node network that looked-up
    networks hold; ``preview`` answers as ``pulumi preview`` does (computed outputs unknown), by
    default whenever the engine previews (``set_mocks(..., preview=True)``); ``cluster_exists``: the
    cluster record answers that the cluster has answered, as it does on a running cluster.
    """

    def __init__(
        self, stack: str, spec: StackSpec | None = None, preview: bool | None = None, cluster_exists: bool = False
    ):
        self.stack = stack
        self.cluster_exists = cluster_exists
        self.spec = spec
        self.preview = preview
        self.clock = SIMULATED_CLOCK
        self._lock = threading.Lock()
        self._networks: dict[str, ipaddress.IPv4Network] = {}
        self._allocated: dict[str, int] = {}
        self._resources: dict[str, Callable[[str, str, dict[str, Any]], dict[str, Any]]] = {
            "tls:index/privateKey:PrivateKey": self._private_key,
            "tls:index/selfSignedCert:SelfSignedCert": self._self_signed_cert,
            "tls:index/certRequest:CertRequest": self._cert_request,
            "tls:index/locallySignedCert:LocallySignedCert": self._locally_signed_cert,
            "random:index/randomPassword:RandomPassword": self._random_string,
            "random:index/randomString:RandomString": self._random_string,
            "random:index/randomBytes:RandomBytes": self._random_bytes,
            "random:index/randomId:RandomId": self._random_id,
            "time:index/static:Static": self._time_static,
        }
        self._calls: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}
        for platform in platforms.names():
            answers = platforms.simulated_answers(platform).answers(self)
            self._resources.update(answers.resources)
            self._calls.update(answers.calls)

    # --- a test's own answers ------------------------------------------------------------

    def answer_resource(self, type_token: str, answer: Callable[[str, str, dict[str, Any]], dict[str, Any]]) -> None:
        """Answer each new resource of ``type_token`` (``<package>:<module>/<name>:<Name>``) with the outputs
        ``answer(id, name, inputs)`` returns, beside its inputs; in place of the cloud's own answer, if any."""
        self._resources[type_token] = answer

    def answer_call(self, token: str, answer: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        """Answer the function ``token`` (a look-up, ``<package>:<module>/<getName>:<getName>``) with what ``answer(args)``
        returns; an answer that raises :class:`LookupFailed` fails the program's call with its message, as
        the provider fails a look-up that finds nothing. In place of the cloud's own answer, if any."""
        self._calls[token] = answer

    # --- the Mocks interface -------------------------------------------------------------

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if not args.custom:
            return None, {}
        outputs = dict(args.inputs)
        if args.typ == DYNAMIC_TYPE and args.inputs.get("kind") == RECORD_KIND:
            # A cluster record: nothing answers a new cluster's endpoint, a running one does.
            outputs["initialised"] = self.cluster_exists
        if pulumi.runtime.is_dry_run() if self.preview is None else self.preview:
            return None, outputs
        with self._lock:
            resource_id = self.resource_id(args.typ, args.name)
            handler = self._resources.get(args.typ)
            if handler is not None:
                outputs.update(handler(resource_id, args.name, _plain(args.inputs)))
        return resource_id, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        handler = self._calls.get(args.token)
        if handler is None:
            raise NotImplementedError(f"the simulated cloud does not answer {args.token}")
        with self._lock:
            try:
                return handler(_plain(args.args)), []
            except LookupFailed as failure:
                # The engine returns a provider's failed look-up as a failure, which the SDK raises at
                # the call; raised here it would instead become an unhandled error of the whole run.
                return {}, [("", str(failure))]

    # --- for the platforms' answers ------------------------------------------------------

    @property
    def node_cidr(self) -> str:
        """The stack's node network: what a looked-up network holds."""
        return (self.spec.cluster.network if self.spec else NetworkSpec()).node_cidr

    def resource_id(self, kind: str, name: str) -> str:
        """A stable ID for a resource or look-up result of ``kind`` named ``name``."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"hybrid-infra:{self.stack}:{kind}:{name}"))

    def rng(self, kind: str, name: str) -> random.Random:
        """A random generator seeded by the stack, ``kind`` and ``name``."""
        return random.Random(hashlib.sha256(f"{self.stack}\0{kind}\0{name}".encode()).digest())

    def add_network(self, network_id: str, cidr: str) -> ipaddress.IPv4Network:
        """Register a network addresses are allocated from (kept if already known)."""
        return self._networks.setdefault(network_id, ipaddress.IPv4Network(cidr))

    def allocate(self, network_id: str) -> str:
        """The next free address of a network: .1 is the gateway, allocation starts at .2."""
        network = self._networks.get(network_id)
        if network is None:
            raise LookupError(f"the simulated cloud knows no network {network_id!r}")
        offset = self._allocated.get(network_id, 2)
        if offset >= network.num_addresses - 1:
            raise RuntimeError(f"network {network} is full")
        self._allocated[network_id] = offset + 1
        return str(network.network_address + offset)

    # --- pulumi-tls ----------------------------------------------------------------------

    def _private_key(self, resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        seed = hashlib.sha512(f"{self.stack}\0tls\0{name}".encode()).digest()
        algorithm = inputs.get("algorithm", "RSA")
        if algorithm == "ECDSA":
            curve = _CURVES[inputs.get("ecdsaCurve", "P224")]
            key: Any = ec.derive_private_key(int.from_bytes(seed, "big") % (2**curve.key_size - 1) + 1, curve)
        elif algorithm == "ED25519":
            key = ed25519.Ed25519PrivateKey.from_private_bytes(seed[:32])
        elif algorithm == "RSA":
            key = _seeded_rsa(int(inputs.get("rsaBits", 2048)), seed)
        else:
            raise ValueError(f"unsupported key algorithm {algorithm!r}")
        public = key.public_key()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8 if algorithm == "ED25519" else serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ).decode()
        openssh_public = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
        der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return {
            "privateKeyPem": pem,
            "privateKeyPemPkcs8": key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode(),
            "privateKeyOpenssh": _fixed_check(
                key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
                ).decode(),
                seed,
            ),
            "publicKeyPem": public.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ).decode(),
            "publicKeyOpenssh": openssh_public + "\n",
            "publicKeyFingerprintSha256": "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode().rstrip("="),
            "publicKeyFingerprintMd5": ":".join(f"{b:02x}" for b in hashlib.md5(der, usedforsecurity=False).digest()),
        }

    def _self_signed_cert(self, resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        key = _signing_key(inputs["privateKeyPem"])
        subject = _name(inputs.get("subject") or {})
        return self._certificate(name, inputs, subject, key.public_key(), subject, key)

    def _cert_request(self, resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        key = _signing_key(inputs["privateKeyPem"])
        builder = x509.CertificateSigningRequestBuilder().subject_name(_name(inputs.get("subject") or {}))
        alternative = _alternative_names(inputs)
        if alternative:
            builder = builder.add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        request = builder.sign(key, _digest(key), **_deterministic(key))
        return {"certRequestPem": request.public_bytes(serialization.Encoding.PEM).decode()}

    def _locally_signed_cert(self, resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        request = x509.load_pem_x509_csr(inputs["certRequestPem"].encode())
        ca_cert = x509.load_pem_x509_certificate(inputs["caCertPem"].encode())
        ca_key = _signing_key(inputs["caPrivateKeyPem"])
        try:
            alternative = list(request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
        except x509.ExtensionNotFound:
            alternative = []
        return self._certificate(
            name, inputs, request.subject, request.public_key(), ca_cert.subject, ca_key, alternative, ca_cert
        )

    def _certificate(
        self,
        name: str,
        inputs: dict[str, Any],
        subject: x509.Name,
        public_key: Any,
        issuer: x509.Name,
        signing_key: Any,
        alternative: list[x509.GeneralName] | None = None,
        issuer_cert: x509.Certificate | None = None,
    ) -> dict[str, Any]:
        hours = int(inputs["validityPeriodHours"])
        start = self.clock
        end = start + datetime.timedelta(hours=hours)
        serial = int.from_bytes(hashlib.sha256(f"{self.stack}\0serial\0{name}".encode()).digest()[:16], "big") >> 1
        uses = set(inputs.get("allowedUses") or [])
        is_ca = bool(inputs.get("isCaCertificate"))
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(serial)
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        )
        usage = _key_usage(uses)
        if usage is not None:
            builder = builder.add_extension(usage, critical=True)
        extended = [_EXTENDED_USES[use] for use in sorted(uses) if use in _EXTENDED_USES]
        if extended:
            builder = builder.add_extension(x509.ExtendedKeyUsage(extended), critical=False)
        alternative = alternative if alternative is not None else _alternative_names(inputs)
        if alternative:
            builder = builder.add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        if issuer_cert is not None:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    cast(CertificateIssuerPublicKeyTypes, issuer_cert.public_key())
                ), critical=False
            )
        certificate = builder.sign(signing_key, _digest(signing_key), **_deterministic(signing_key))
        return {
            "certPem": certificate.public_bytes(serialization.Encoding.PEM).decode(),
            "validityStartTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "validityEndTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "readyForRenewal": False,
        }

    # --- pulumiverse-time ----------------------------------------------------------------

    def _time_static(self, resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        """The time of creation: the simulated clock, unless the input names one."""
        moment = datetime.datetime.fromisoformat(inputs["rfc3339"]) if inputs.get("rfc3339") else self.clock
        return {
            "rfc3339": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "unix": int(moment.timestamp()),
            **{part: getattr(moment, part) for part in ("year", "month", "day", "hour", "minute", "second")},
        }

    # --- pulumi-random -------------------------------------------------------------------

    def _random(self, name: str, inputs: dict[str, Any]) -> random.Random:
        # New keepers replace the resource with a new value, as the provider does.
        keepers = inputs.get("keepers")
        return self.rng("random", f"{name}\0{json.dumps(keepers, sort_keys=True)}" if keepers else name)

    def _random_string(self, resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        rng = self._random(name, inputs)
        classes = []
        for flag, chars, minimum in (
            ("lower", string.ascii_lowercase, "minLower"),
            ("upper", string.ascii_uppercase, "minUpper"),
            ("numeric", string.digits, "minNumeric"),
            ("special", inputs.get("overrideSpecial") or "!@#$%&*()-_=+[]{}<>:?", "minSpecial"),
        ):
            if inputs.get(flag, True):
                classes.append((chars, int(inputs.get(minimum, 0))))
        length = int(inputs["length"])
        chosen = [rng.choice(chars) for chars, minimum in classes for _ in range(minimum)]
        alphabet = "".join(chars for chars, _ in classes)
        chosen += [rng.choice(alphabet) for _ in range(length - len(chosen))]
        rng.shuffle(chosen)
        return {"result": "".join(chosen)}

    def _random_bytes(self, resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        data = self._random(name, inputs).randbytes(int(inputs["length"]))
        return {"base64": base64.b64encode(data).decode(), "hex": data.hex()}

    def _random_id(self, resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        data = self._random(name, inputs).randbytes(int(inputs["byteLength"]))
        prefix = inputs.get("prefix") or ""
        return {
            "hex": prefix + data.hex(),
            "dec": prefix + str(int.from_bytes(data, "big")),
            "b64Std": prefix + base64.b64encode(data).decode(),
            "b64Url": prefix + base64.urlsafe_b64encode(data).decode().rstrip("="),
        }


# --- certificate helpers ---------------------------------------------------------------------

_EXTENDED_USES = {
    "server_auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client_auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "code_signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email_protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocsp_signing": ExtendedKeyUsageOID.OCSP_SIGNING,
}

_KEY_USES = {
    "digital_signature": "digital_signature",
    "content_commitment": "content_commitment",
    "key_encipherment": "key_encipherment",
    "data_encipherment": "data_encipherment",
    "key_agreement": "key_agreement",
    "cert_signing": "key_cert_sign",
    "crl_signing": "crl_sign",
    "encipher_only": "encipher_only",
    "decipher_only": "decipher_only",
}

_SUBJECT_FIELDS = {
    "commonName": NameOID.COMMON_NAME,
    "emailAddress": NameOID.EMAIL_ADDRESS,
    "organization": NameOID.ORGANIZATION_NAME,
    "organizationalUnit": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "country": NameOID.COUNTRY_NAME,
    "province": NameOID.STATE_OR_PROVINCE_NAME,
    "locality": NameOID.LOCALITY_NAME,
    "postalCode": NameOID.POSTAL_CODE,
    "streetAddresses": NameOID.STREET_ADDRESS,
    "serialNumber": NameOID.SERIAL_NUMBER,
}


def _name(subject: dict[str, Any]) -> x509.Name:
    attributes = []
    for field, oid in _SUBJECT_FIELDS.items():
        values = subject.get(field)
        for value in values if isinstance(values, list) else [values] if values else []:
            attributes.append(x509.NameAttribute(oid, str(value)))
    return x509.Name(attributes)


def _alternative_names(inputs: dict[str, Any]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in inputs.get("dnsNames") or []]
    names += [x509.IPAddress(ipaddress.ip_address(address)) for address in inputs.get("ipAddresses") or []]
    names += [x509.UniformResourceIdentifier(uri) for uri in inputs.get("uris") or []]
    return names


def _key_usage(uses: set[str]) -> x509.KeyUsage | None:
    flags = {attribute: use in uses for use, attribute in _KEY_USES.items()}
    if not any(flags.values()):
        return None
    return x509.KeyUsage(**flags)


def _digest(key: Any) -> hashes.SHA256 | None:
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def _deterministic(key: Any) -> dict[str, Any]:
    # RFC 6979 signatures, so the same stack signs the same certificates byte for byte.
    return {"ecdsa_deterministic": True} if isinstance(key, ec.EllipticCurvePrivateKey) else {}


def _seeded_rsa(bits: int, seed: bytes) -> rsa.RSAPrivateKey:
    """An RSA key generated from a seeded stream (cryptography only makes keys from the OS's randomness)."""
    # Imported here: only stacks with RSA keys need pycryptodome, whose import (cffi parsing its C declarations) takes tens of milliseconds.
    from Crypto.PublicKey import RSA

    generated = RSA.generate(bits, randfunc=random.Random(seed).randbytes)
    key = serialization.load_der_private_key(generated.export_key("DER"), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def _fixed_check(openssh_pem: str, seed: bytes) -> str:
    """An unencrypted OpenSSH private key whose random check integer is derived from ``seed`` instead.

    The format (OpenSSH's PROTOCOL.key): the magic ``openssh-key-v1\\0``, three strings (cipher, KDF
    and its options), the key count, the public key string, then the private section, which opens
    with the same random 32-bit check twice.
    """
    lines = openssh_pem.strip().splitlines()
    blob = bytearray(base64.b64decode("".join(lines[1:-1])))
    offset = len(b"openssh-key-v1\0")
    for _ in range(3):
        offset += 4 + int.from_bytes(blob[offset : offset + 4], "big")
    offset += 4
    offset += 4 + int.from_bytes(blob[offset : offset + 4], "big")
    offset += 4  # the private section's length
    check = hashlib.sha256(seed + b"openssh-check").digest()[:4]
    blob[offset : offset + 8] = check + check
    body = base64.b64encode(bytes(blob)).decode()
    width = len(lines[1])
    wrapped = [body[i : i + width] for i in range(0, len(body), width)]
    return "\n".join([lines[0], *wrapped, lines[-1]]) + "\n"


def _signing_key(pem: str) -> CertificateIssuerPrivateKeyTypes:
    key = serialization.load_pem_private_key(pem.encode(), None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise ValueError(f"the simulated cloud signs with RSA, ECDSA or Ed25519 keys, not {type(key).__name__}")
    return key
