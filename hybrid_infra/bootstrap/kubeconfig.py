"""Pure: the admin kubeconfig, built from PKI material Pulumi holds (no SSH, no copying admin.conf)."""

from __future__ import annotations

import base64

from .. import yamltext


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def render_kubeconfig(cluster_name: str, server: str, ca_cert: str, client_cert: str, client_key: str) -> str:
    user = f"{cluster_name}-admin"
    context = f"{user}@{cluster_name}"
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": cluster_name, "cluster": {"server": server, "certificate-authority-data": _b64(ca_cert)}}
        ],
        "users": [
            {"name": user, "user": {"client-certificate-data": _b64(client_cert), "client-key-data": _b64(client_key)}}
        ],
        "contexts": [{"name": context, "context": {"cluster": cluster_name, "user": user}}],
        "current-context": context,
        "preferences": {},
    }
    return yamltext.dump(document, sort_keys=False)
