"""Field types and their validators, shared by every section of the stack configuration."""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from typing import Annotated, Any, ClassVar, Self

import pulumi
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, ValidationError
from pydantic.alias_generators import to_camel

from .errors import ConfigError, format_errors, problem

MIN_KUBERNETES = (1, 31)
# The newest minor upstream has released (k8s.io/kubernetes v1.37.2; 1.38 is at v1.38.0-beta.0), and
# the newest the bootstrap knows kubeadm's pause image for (PAUSE_VERSIONS in bootstrap/kubeadm.py;
# tests/test_bootstrap.py keeps both in step).
MAX_KUBERNETES = (1, 37)
DEFAULT_KUBERNETES_VERSION = "1.35.8"
"""The newest patch of the newest minor every pinned add-on supports (docs/versions.md says which pins
stop 1.36 and 1.37), at the newest patch the Go module proxy serves k8s.io/kubernetes at, so that
`make e2e` runs the kubeadm users get. ``tests/test_versions.py`` holds it to the pins' ranges."""

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def dns_subdomain(value: str) -> str:
    if len(value) > 253 or not _DNS_SUBDOMAIN.match(value):
        raise problem(
            f"{value!r} is not allowed; use a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', "
            "starting and ending with a letter or digit, at most 253 characters"
        )
    return value


def dns_label(value: str) -> str:
    if len(value) > 63 or not _DNS_LABEL.match(value):
        raise problem(
            f"{value!r} is not allowed; use a DNS-1123 label: lower-case letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters"
        )
    return value


def _not_empty(value: str) -> str:
    if not value.strip():
        raise problem(f"{value!r} is not allowed; it must not be empty")
    return value


def _cidr(value: str) -> str:
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise problem(f"{value!r} is not allowed; use an IPv4 network in CIDR form such as 10.0.0.0/16") from None
    if network.version != 4:
        raise problem(f"{value!r} is not allowed; only IPv4 networks are supported")
    return str(network)


def prefix_between(value: str, shortest: int, longest: int, why: str) -> str:
    if not shortest <= ipaddress.ip_network(value).prefixlen <= longest:
        raise problem(f"{value!r} is not allowed; use a network from /{shortest} to /{longest} ({why})")
    return value


def _ip_address(value: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise problem(f"{value!r} is not allowed; use an IPv4 address such as 192.0.2.53") from None


def _http_url(value: str) -> str:
    parsed = urllib.parse.urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise problem(f"{value!r} is not allowed; use an http(s) URL such as https://mirror.example.com/path")
    return value


class SecretOutput(SecretStr):
    """A secret given as a Pulumi output (``pulumi.Config().require_secret(...)``, a component
    provider's input): its value exists only inside the deployment, so it is passed on as the output
    it is; :func:`secret_input` gives it to a resource."""

    def __init__(self, output: pulumi.Output[str]):
        super().__init__("")
        self.output: pulumi.Output[str] = pulumi.Output.secret(output)

    def get_secret_value(self) -> str:
        raise TypeError("this secret is a Pulumi output; pass hybrid_infra.config.secret_input(secret) to the resource")


def secret_input(secret: SecretStr) -> pulumi.Input[str]:
    """A secret field's value as a resource input: the plain text, or the Pulumi output it was given as."""
    return secret.output if isinstance(secret, SecretOutput) else secret.get_secret_value()


def _secret(value: Any) -> Any:
    if isinstance(value, SecretOutput):
        return value
    if isinstance(value, pulumi.Output):
        return SecretOutput(value)
    if not isinstance(value, str) or not value.strip():
        raise problem("the value given is not allowed; a non-empty string is needed (set it with `pulumi config set --secret`)")
    return value


_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
_QUANTITY_FACTORS = {
    None: 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}


def quantity_bytes(value: str) -> int:
    """Bytes of a Kubernetes quantity such as ``8Gi`` or ``500M``."""
    match = _QUANTITY.match(value)
    if not match:
        raise ValueError(value)
    return int(float(match.group(1)) * _QUANTITY_FACTORS[match.group(2)])


def quantity(value: str) -> str:
    try:
        quantity_bytes(value)
    except ValueError:
        raise problem(f"{value!r} is not allowed; use a Kubernetes quantity such as 512Mi or 20Gi") from None
    return value


def at_least(minimum: str) -> Any:
    def check(value: str) -> str:
        if quantity_bytes(value) < quantity_bytes(minimum):
            raise problem(f"{value!r} is not allowed; use at least {minimum}")
        return value

    return check


def _sha256(value: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise problem(f"{value!r} is not allowed; use the 64 lower-case hex digits of a sha256 digest")
    return value


def _disk_source(value: str) -> str:
    parsed = urllib.parse.urlparse(value)
    if parsed.scheme not in ("http", "https", "docker") or not parsed.netloc:
        raise problem(
            f"{value!r} is not allowed; use an http(s) URL of a qcow2, vmdk or raw disk image (optionally .gz or .xz), "
            "or docker://registry/image:tag of a container disk"
        )
    return value


def _kubernetes_version(value: str) -> str:
    match = _VERSION.match(value)
    if not match:
        raise problem(f"{value!r} is not allowed; use an exact release such as {DEFAULT_KUBERNETES_VERSION}")
    major, minor, patch = (int(part) for part in match.groups())
    if (major, minor) < MIN_KUBERNETES:
        raise problem(
            f"{value!r} is not allowed; kubeadm API v1beta4 needs Kubernetes "
            f"{MIN_KUBERNETES[0]}.{MIN_KUBERNETES[1]} or newer"
        )
    if (major, minor) > MAX_KUBERNETES:
        raise problem(
            f"{value!r} is not allowed; this version of hybrid-infra knows Kubernetes "
            f"{MIN_KUBERNETES[0]}.{MIN_KUBERNETES[1]} to {MAX_KUBERNETES[0]}.{MAX_KUBERNETES[1]}"
        )
    return f"{major}.{minor}.{patch}"


def _label_key(value: str) -> str:
    prefix, _, name = value.rpartition("/")
    if (prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix))) or len(name) > 63 or not _LABEL_NAME.match(name):
        raise problem(
            f"{value!r} is not allowed; use [prefix/]name where prefix is a DNS subdomain and name is at most "
            "63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        )
    return value


def _label_value(value: str) -> str:
    if value and (len(value) > 63 or not _LABEL_NAME.match(value)):
        raise problem(
            f"{value!r} is not allowed; a label value is empty or at most 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return value


def strict_int(value: Any) -> Any:
    # YAML's true is not 1, and "10" is a string: refuse both instead of coercing.
    if isinstance(value, bool) or not isinstance(value, int):
        raise problem(f"{value!r} is not allowed; expected a whole number")
    return value


def strict_str(value: Any) -> Any:
    # YAML turns unquoted 1.30 into a float and yes into a bool; refuse them instead of guessing.
    if not isinstance(value, str):
        raise problem(f"{value!r} is not allowed; expected a string (quote it in YAML)")
    return value


Str = Annotated[str, BeforeValidator(strict_str)]
NonEmpty = Annotated[str, BeforeValidator(strict_str), AfterValidator(_not_empty)]
DnsLabel = Annotated[str, BeforeValidator(strict_str), AfterValidator(dns_label)]
DnsSubdomain = Annotated[str, BeforeValidator(strict_str), AfterValidator(dns_subdomain)]
Cidr = Annotated[str, BeforeValidator(strict_str), AfterValidator(_cidr)]
IPv4 = Annotated[str, BeforeValidator(strict_str), AfterValidator(_ip_address)]
KubernetesVersion = Annotated[str, BeforeValidator(strict_str), AfterValidator(_kubernetes_version)]
HttpUrl = Annotated[str, BeforeValidator(strict_str), AfterValidator(_http_url)]
Secret = Annotated[SecretStr, BeforeValidator(_secret)]
Quantity = Annotated[str, BeforeValidator(strict_str), AfterValidator(quantity)]
Sha256 = Annotated[str, BeforeValidator(strict_str), AfterValidator(_sha256)]
DiskSource = Annotated[str, BeforeValidator(strict_str), AfterValidator(_disk_source)]
Int = Annotated[int, BeforeValidator(strict_int)]
Port = Annotated[int, BeforeValidator(strict_int), Field(ge=1, le=65535)]
LabelKey = Annotated[str, BeforeValidator(strict_str), AfterValidator(_label_key)]
LabelValue = Annotated[str, BeforeValidator(strict_str), AfterValidator(_label_value)]
Count = Annotated[int, BeforeValidator(strict_int), Field(ge=0)]


class Spec(BaseModel):
    """Base of every configuration model: camelCase keys in YAML, unknown keys refused.

    A model built in code (``PoolSpec(name=..., count=...)``, ``ClusterSpec.model_validate(...)``)
    raises :class:`~hybrid_infra.config.errors.ConfigError` as a stack file's problems are reported:
    one line each, naming the key as the stack file does (a section's keys below its name, such as
    ``cluster.controlPlane.count``), whichever spelling the code used.
    """

    stack_key: ClassVar[str] = ""
    """The key of the stack section this model is (``cluster``, a platform's name), which its problems'
    keys are named below; "" for a part of a section."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        strict=False,
    )

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as error:
            raise ConfigError(format_errors(error, type(self), type(self).stack_key)) from None

    # Marked as pydantic marks BaseModel's own: pydantic then validates nested models as before, without
    # calling this for each, and only the model built here turns the errors of all into lines.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Self:
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as error:
            raise ConfigError(format_errors(error, cls, cls.stack_key)) from None

    @classmethod
    def model_validate_json(cls, json_data: Any, *args: Any, **kwargs: Any) -> Self:
        try:
            return super().model_validate_json(json_data, *args, **kwargs)
        except ValidationError as error:
            raise ConfigError(format_errors(error, cls, cls.stack_key)) from None
