"""A stand-in for EC2's instance metadata service, IMDSv2 only, run inside one emulated node's network
namespace at 169.254.169.254 (tests/e2e/aws_cloud.py starts it).

It serves what the AWS control-plane node's key fetch reads: a session token (PUT, with the TTL
header), then, with that token only, the instance profile's role name, its temporary credentials,
and the partition's domain (EC2 user guide, "Instance metadata categories": ``iam/security-credentials``,
``services/domain``). Without a valid token it answers 401, as IMDSv2 with ``httpTokens: required``.

    python -m tests.e2e.imds <address> <credentials file>

The credentials file holds ``{"role": ..., "AccessKeyId": ..., "SecretAccessKey": ..., "Token": ...,
"Expiration": ...}``.
"""

from __future__ import annotations

import json
import secrets
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DOMAIN = "amazonaws.com"


def handler(credentials: dict[str, str]) -> type[BaseHTTPRequestHandler]:
    tokens: set[str] = set()
    role = credentials["role"]
    answers = {
        "/latest/meta-data/iam/security-credentials/": role,
        f"/latest/meta-data/iam/security-credentials/{role}": json.dumps(
            {
                "Code": "Success",
                "Type": "AWS-HMAC",
                **{key: credentials[key] for key in ("AccessKeyId", "SecretAccessKey", "Token", "Expiration")},
            }
        ),
        "/latest/meta-data/services/domain": DOMAIN,
    }

    class Metadata(BaseHTTPRequestHandler):
        def answer(self, status: int, body: str = "") -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_PUT(self) -> None:
            ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "")
            if self.path != "/latest/api/token" or not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                self.answer(400)
                return
            token = secrets.token_urlsafe(32)
            tokens.add(token)
            self.answer(200, token)

        def do_GET(self) -> None:
            if self.headers.get("X-aws-ec2-metadata-token") not in tokens:
                self.answer(401)
            elif self.path in answers:
                self.answer(200, answers[self.path])
            else:
                self.answer(404)

        def log_message(self, format: str, *args: object) -> None:
            sys.stderr.write(f"imds: {self.command} {self.path} {args[1] if len(args) > 1 else ''}\n")

    return Metadata


def main(address: str, credentials_file: Path) -> None:
    server = ThreadingHTTPServer((address, 80), handler(json.loads(credentials_file.read_text())))
    print("listening", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
