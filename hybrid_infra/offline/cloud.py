"""The simulated cloud: Pulumi mocks that answer like the real providers, deterministically.

- OpenStack: IDs derived from the stack and resource name; fixed IPs allocated in order from the
  subnet's CIDR; load balancer VIPs and floating IPs; image, flavor, network and subnet look-ups.
- pulumi-tls: real keys (derived from a seed, so the same stack gives the same keys) and real
  certificates signed with ``cryptography``, valid from a fixed date.
- pulumi-random: values from a generator seeded by the stack name and the resource.

In preview mode it answers like ``pulumi preview``: inputs are echoed, computed outputs unknown.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import random
import string
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pulumi
from Crypto.PublicKey import RSA
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pulumi.runtime import rpc

from ..config import StackSpec

SIMULATED_CLOCK = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
"""Certificates are valid from here, so a plan stays the same from one day (and year) to the next."""
FLOATING_RANGE = ipaddress.ip_network("203.0.113.0/24")
"""Documentation range (RFC 5737) standing in for the external network."""

_CURVES = {"P224": ec.SECP224R1(), "P256": ec.SECP256R1(), "P384": ec.SECP384R1(), "P521": ec.SECP521R1()}


def _plain(value: Any) -> Any:
    """Inputs without their secret wrappers (the cloud sees plaintext, as a provider does)."""
    value = rpc.unwrap_rpc_secret(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


class SimulatedCloud(pulumi.runtime.Mocks):
    def __init__(self, stack: str, spec: StackSpec | None = None, preview: bool = False):
        self.stack = stack
        self.spec = spec
        self.preview = preview
        self.clock = SIMULATED_CLOCK
        self._lock = threading.Lock()
        self._subnets: dict[str, ipaddress.IPv4Network] = {}
        self._allocated: dict[str, int] = {}
        self._port_addresses: dict[str, str] = {}
        self._floating_next = 10
        self._resources: dict[str, Callable[[str, str, dict[str, Any]], dict[str, Any]]] = {
            "openstack:networking/subnet:Subnet": self._subnet,
            "openstack:networking/port:Port": self._port,
            "openstack:loadbalancer/loadBalancer:LoadBalancer": self._load_balancer,
            "openstack:networking/floatingIp:FloatingIp": self._floating_ip,
            "openstack:compute/instance:Instance": self._instance,
            "tls:index/privateKey:PrivateKey": self._private_key,
            "tls:index/selfSignedCert:SelfSignedCert": self._self_signed_cert,
            "tls:index/certRequest:CertRequest": self._cert_request,
            "tls:index/locallySignedCert:LocallySignedCert": self._locally_signed_cert,
            "random:index/randomPassword:RandomPassword": self._random_string,
            "random:index/randomString:RandomString": self._random_string,
            "random:index/randomBytes:RandomBytes": self._random_bytes,
            "random:index/randomId:RandomId": self._random_id,
        }
        self._calls: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "openstack:images/getImage:getImage": self._get_image,
            "openstack:compute/getFlavor:getFlavor": self._get_flavor,
            "openstack:networking/getNetwork:getNetwork": self._get_network,
            "openstack:networking/getSubnet:getSubnet": self._get_subnet,
        }

    # --- the Mocks interface -------------------------------------------------------------

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if not args.custom:
            return None, {}
        outputs = dict(args.inputs)
        if self.preview:
            return None, outputs
        with self._lock:
            resource_id = self._id(args.typ, args.name)
            handler = self._resources.get(args.typ)
            if handler is not None:
                outputs.update(handler(resource_id, args.name, _plain(args.inputs)))
        return resource_id, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        handler = self._calls.get(args.token)
        if handler is None:
            raise NotImplementedError(f"the simulated cloud does not answer {args.token}")
        with self._lock:
            return handler(_plain(args.args))

    # --- helpers -------------------------------------------------------------------------

    def _id(self, kind: str, name: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"hybrid-infra:{self.stack}:{kind}:{name}"))

    def _rng(self, kind: str, name: str) -> random.Random:
        return random.Random(hashlib.sha256(f"{self.stack}\0{kind}\0{name}".encode()).digest())

    def _allocate(self, subnet_id: str) -> str:
        network = self._subnets.get(subnet_id)
        if network is None:
            raise LookupError(f"the simulated cloud knows no subnet {subnet_id!r}")
        # .1 is the gateway; OpenStack's allocation pool starts at .2.
        offset = self._allocated.get(subnet_id, 2)
        if offset >= network.num_addresses - 1:
            raise RuntimeError(f"subnet {network} is full")
        self._allocated[subnet_id] = offset + 1
        return str(network.network_address + offset)

    # --- OpenStack -----------------------------------------------------------------------

    def _subnet(self, resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        network = ipaddress.ip_network(inputs["cidr"])
        self._subnets[resource_id] = network
        return {
            "gatewayIp": str(network.network_address + 1),
            "allocationPools": [{"start": str(network.network_address + 2), "end": str(network.broadcast_address - 1)}],
            "enableDhcp": True,
        }

    def _port(self, resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        fixed = []
        for request in inputs.get("fixedIps") or []:
            address = request.get("ipAddress") or self._allocate(request["subnetId"])
            fixed.append({"subnetId": request["subnetId"], "ipAddress": address})
        addresses = [entry["ipAddress"] for entry in fixed]
        if addresses:
            self._port_addresses[resource_id] = addresses[0]
        mac = hashlib.sha256(resource_id.encode()).hexdigest()
        return {
            "fixedIps": fixed,
            "allFixedIps": addresses,
            "macAddress": "fa:16:3e:" + ":".join(mac[i : i + 2] for i in range(0, 6, 2)),
        }

    def _load_balancer(self, resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        address = inputs.get("vipAddress") or self._allocate(inputs["vipSubnetId"])
        return {"vipAddress": address, "vipPortId": self._id("vip-port", name)}

    def _floating_ip(self, resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        address = str(FLOATING_RANGE.network_address + self._floating_next)
        self._floating_next += 1
        return {"address": address}

    def _instance(self, resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        ports = [network.get("port") for network in inputs.get("networks") or []]
        address = next((self._port_addresses[port] for port in ports if port in self._port_addresses), "")
        return {"accessIpV4": address, "powerState": "active"}

    def _get_image(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"id": self._id("image", args["name"]), "name": args["name"], "minDiskGb": 0}

    def _get_flavor(self, args: dict[str, Any]) -> dict[str, Any]:
        name = args.get("name") or args.get("flavorId")
        return {"id": self._id("flavor", name), "name": name, "vcpus": 4, "ram": 8192, "disk": 0}

    def _get_network(self, args: dict[str, Any]) -> dict[str, Any]:
        key = args.get("networkId") or args.get("name")
        return {
            "id": args.get("networkId") or self._id("network", key),
            "name": args.get("name") or key,
            "external": bool(args.get("external")),
        }

    def _get_subnet(self, args: dict[str, Any]) -> dict[str, Any]:
        key = args.get("subnetId") or args.get("name") or args.get("cidr")
        subnet_id = args.get("subnetId") or self._id("subnet", f"{args.get('networkId')}/{key}")
        cidr = args.get("cidr") or (self.spec.cluster.network.node_cidr if self.spec else "10.0.0.0/24")
        self._subnets.setdefault(subnet_id, ipaddress.ip_network(cidr))
        return {"id": subnet_id, "cidr": cidr, "networkId": args.get("networkId") or "", "name": args.get("name") or ""}

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
            "privateKeyOpenssh": key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
            ).decode(),
            "publicKeyPem": public.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ).decode(),
            "publicKeyOpenssh": openssh_public + "\n",
            "publicKeyFingerprintSha256": "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode().rstrip("="),
            "publicKeyFingerprintMd5": ":".join(f"{b:02x}" for b in hashlib.md5(der, usedforsecurity=False).digest()),
        }

    def _self_signed_cert(self, resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        key = serialization.load_pem_private_key(inputs["privateKeyPem"].encode(), None)
        subject = _name(inputs.get("subject") or {})
        return self._certificate(name, inputs, subject, key.public_key(), subject, key)

    def _cert_request(self, resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        key = serialization.load_pem_private_key(inputs["privateKeyPem"].encode(), None)
        builder = x509.CertificateSigningRequestBuilder().subject_name(_name(inputs.get("subject") or {}))
        alternative = _alternative_names(inputs)
        if alternative:
            builder = builder.add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        request = builder.sign(key, _digest(key), **_deterministic(key))
        return {"certRequestPem": request.public_bytes(serialization.Encoding.PEM).decode()}

    def _locally_signed_cert(self, resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        request = x509.load_pem_x509_csr(inputs["certRequestPem"].encode())
        ca_cert = x509.load_pem_x509_certificate(inputs["caCertPem"].encode())
        ca_key = serialization.load_pem_private_key(inputs["caPrivateKeyPem"].encode(), None)
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
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key()), critical=False
            )
        certificate = builder.sign(signing_key, _digest(signing_key), **_deterministic(signing_key))
        return {
            "certPem": certificate.public_bytes(serialization.Encoding.PEM).decode(),
            "validityStartTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "validityEndTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "readyForRenewal": False,
        }

    # --- pulumi-random -------------------------------------------------------------------

    def _random_string(self, resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        rng = self._rng("random", name)
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
        data = self._rng("random", name).randbytes(int(inputs["length"]))
        return {"base64": base64.b64encode(data).decode(), "hex": data.hex()}

    def _random_id(self, resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        data = self._rng("random", name).randbytes(int(inputs["byteLength"]))
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


def _digest(key: Any) -> hashes.HashAlgorithm | None:
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def _deterministic(key: Any) -> dict[str, Any]:
    # RFC 6979 signatures, so the same stack signs the same certificates byte for byte.
    return {"ecdsa_deterministic": True} if isinstance(key, ec.EllipticCurvePrivateKey) else {}


def _seeded_rsa(bits: int, seed: bytes) -> rsa.RSAPrivateKey:
    """An RSA key generated from a seeded stream (cryptography only makes keys from the OS's randomness)."""
    generated = RSA.generate(bits, randfunc=random.Random(seed).randbytes)
    return serialization.load_der_private_key(generated.export_key("DER"), None)
