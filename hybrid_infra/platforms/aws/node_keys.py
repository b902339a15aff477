"""The program an AWS control-plane node runs before its bootstrap: it writes the cluster's key files
from the cluster's Secrets Manager secret, so that no key travels in the user data, which
``ec2:DescribeInstanceAttribute`` returns to any principal that may read the instance.

It runs on the node's own Python 3, with the standard library alone (the Ubuntu images carry no AWS
client): the instance profile's credentials come from the instance metadata service (IMDSv2: a session
token first), and the ``GetSecretValue`` request is signed with Signature Version 4 (AWS General
Reference, "Create a signed AWS API request"). The node renders it as this module's source followed by
a call of :func:`main`, so the tests import exactly what the node runs.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.request

METADATA = "http://169.254.169.254"
SERVICE = "secretsmanager"
DONE = ("/var/lib/hybrid-infra/bootstrapped", "/var/lib/hybrid-infra/kubeadm-finished")
"""Once either exists, kubeadm no longer needs the keys: the program does nothing."""
WRITABLE = ("/etc/hybrid-infra/pki/", "/etc/kubernetes/encryption/")
"""The only directories the secret may name files in."""
ATTEMPTS, PAUSE_SECONDS = 12, 5
"""A new instance profile's credentials may take a few seconds to be accepted; the unit runs the
program again after a failure in any case."""


class FetchFailed(Exception):
    """One line saying what failed."""


def _call(request: urllib.request.Request) -> bytes:
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            body: bytes = answer.read()
            return body
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")[:300]
        raise FetchFailed(f"{request.get_method()} {request.full_url}: HTTP {error.code} {detail}") from None
    except (urllib.error.URLError, OSError) as error:
        raise FetchFailed(f"{request.get_method()} {request.full_url}: {error}") from None


def metadata(path: str, token: str) -> str:
    request = urllib.request.Request(METADATA + path, headers={"X-aws-ec2-metadata-token": token})
    return _call(request).decode()


def instance_credentials() -> tuple[dict[str, str], str]:
    """The instance profile's temporary credentials, and the partition's domain (amazonaws.com, ...)."""
    token_request = urllib.request.Request(
        METADATA + "/latest/api/token", method="PUT", headers={"X-aws-ec2-metadata-token-ttl-seconds": "300"}
    )
    token = _call(token_request).decode()
    role = metadata("/latest/meta-data/iam/security-credentials/", token).split()[0]
    credentials = json.loads(metadata(f"/latest/meta-data/iam/security-credentials/{role}", token))
    if credentials.get("Code", "Success") != "Success":
        raise FetchFailed(f"instance profile credentials: {credentials.get('Code')} {credentials.get('Message', '')}")
    return credentials, metadata("/latest/meta-data/services/domain", token).strip()


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signed_headers(
    credentials: dict[str, str], region: str, host: str, target: str, body: bytes, now: datetime.datetime
) -> dict[str, str]:
    """The headers of a signed POST of ``body`` to ``https://<host>/`` for the JSON action ``target``."""
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    day = stamp[:8]
    headers = {
        "content-type": "application/x-amz-json-1.1",
        "host": host,
        "x-amz-date": stamp,
        "x-amz-security-token": credentials["Token"],
        "x-amz-target": target,
    }
    names = sorted(headers)
    canonical = "\n".join(
        [
            "POST",
            "/",
            "",
            "".join(f"{name}:{headers[name].strip()}\n" for name in names),
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{day}/{region}/{SERVICE}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(("AWS4" + credentials["SecretAccessKey"]).encode(), day)
    for part in (region, SERVICE, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credentials['AccessKeyId']}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return headers


def secret_files(secret_id: str, region: str) -> dict[str, str]:
    credentials, domain = instance_credentials()
    host = f"{SERVICE}.{region}.{domain}"
    body = json.dumps({"SecretId": secret_id}).encode()
    now = datetime.datetime.now(datetime.timezone.utc)
    headers = signed_headers(credentials, region, host, "secretsmanager.GetSecretValue", body, now)
    request = urllib.request.Request(f"https://{host}/", data=body, method="POST", headers=headers)
    answer = json.loads(_call(request))
    files = json.loads(answer["SecretString"])["files"]
    if not isinstance(files, dict) or not files:
        raise FetchFailed(f"secret {secret_id}: no files in it")
    return {str(path): str(content) for path, content in files.items()}


def write_files(files: dict[str, str], root: str) -> None:
    """Each file written whole (a temporary file renamed), mode 0600, in directories of mode 0700."""
    for path in files:
        if not path.startswith(WRITABLE) or ".." in path.split("/"):
            raise FetchFailed(f"the secret names {path!r}, outside {', '.join(WRITABLE)}")
    for path, content in files.items():
        target = root + path
        os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
        partial = target + ".partial"
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as stream:
            stream.write(content)
        os.replace(partial, target)


def main(secret_id: str, region: str) -> int:
    root = os.environ.get("HYBRID_INFRA_ROOT", "")
    if any(os.path.exists(root + path) for path in DONE):
        return 0
    for attempt in range(1, ATTEMPTS + 1):
        try:
            write_files(secret_files(secret_id, region), root)
        except (FetchFailed, KeyError, ValueError) as error:
            print(f"hybrid-infra-fetch-keys: attempt {attempt} of {ATTEMPTS}: {error}", file=sys.stderr)
            if attempt < ATTEMPTS:
                time.sleep(PAUSE_SECONDS)
            continue
        print(f"hybrid-infra-fetch-keys: key files written from {secret_id}", file=sys.stderr)
        return 0
    return 1
