"""The readiness gate: on a real ``pulumi up``, wait until ``kubeadm init`` has finished its API work.

Anonymous ``/readyz`` passes before ``kubeadm init`` binds the ``kubeadm:cluster-admins`` group to
cluster-admin, so a client using the admin certificate could still get 403 right after it. The gate
instead reads the ``kubeadm-config`` ConfigMap with the admin certificate: kubeadm's upload-config
phase creates it through the client whose first use creates that binding (``initData.Client()`` calls
``EnsureAdminClusterRoleBinding``, cmd/kubeadm/app/cmd/init.go), so a 200 proves both.

It is a dynamic resource, so the waiting happens in Pulumi's provider host during the deployment;
on the simulated cloud it is recorded like any resource and nothing is dialled.
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi.dynamic

from .dynamic import DynamicResource

INIT_FINISHED_PATH = "/api/v1/namespaces/kube-system/configmaps/kubeadm-config"


class ClusterNotReady(Exception):
    pass


def _direct_opener(context: ssl.SSLContext) -> urllib.request.OpenerDirector:
    """HTTPS straight to the endpoint: no ProxyHandler, so HTTPS_PROXY and the like are never consulted."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.HTTPSHandler(context=context),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


def admin_opener(ca_cert: str, client_cert: str, client_key: str) -> urllib.request.OpenerDirector:
    """An opener that trusts the cluster CA only and presents the admin certificate."""
    context = ssl.create_default_context(cadata=ca_cert)
    with tempfile.TemporaryDirectory(prefix="hybrid-infra-") as directory:
        cert_path = os.path.join(directory, "admin.crt")
        key_path = os.path.join(directory, "admin.key")
        for path, content in ((cert_path, client_cert), (key_path, client_key)):
            with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as handle:
                handle.write(content)
        context.load_cert_chain(cert_path, key_path)
    return _direct_opener(context)


def poll(
    opener: urllib.request.OpenerDirector,
    url: str,
    timeout_seconds: float,
    interval_seconds: float,
    judge: Callable[[bytes], str | None] = lambda body: None,
) -> str | None:
    """GET ``url`` until it answers 200 with a body ``judge`` accepts (None); else the last finding at the deadline."""
    deadline = time.monotonic() + timeout_seconds
    last = "no answer yet"
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return last
        try:
            with opener.open(url, timeout=max(0.1, min(10.0, remaining))) as answer:
                found = judge(answer.read()) if answer.status == 200 else f"HTTP {answer.status}"
                if found is None:
                    return None
                last = found
        except urllib.error.HTTPError as error:
            last = f"HTTP {error.code}"
        except (urllib.error.URLError, OSError) as error:
            last = str(getattr(error, "reason", error))
        time.sleep(max(0.0, min(interval_seconds, deadline - time.monotonic())))


def wait_until_ready(
    server: str,
    ca_cert: str,
    client_cert: str,
    client_key: str,
    timeout_seconds: float,
    interval_seconds: float = 5.0,
) -> None:
    """Read ``kubeadm-config`` at ``server`` as the admin until it answers 200 or time runs out."""
    url = server.rstrip("/") + INIT_FINISHED_PATH
    last = poll(admin_opener(ca_cert, client_cert, client_key), url, timeout_seconds, interval_seconds)
    if last is not None:
        raise ClusterNotReady(
            f"kubeadm init at {server} did not finish within {timeout_seconds:g}s (last: {last} from {url}); "
            "check that this machine can reach the endpoint and read the nodes' /var/log/hybrid-infra-bootstrap.log"
        )


def _admin_access(
    server: pulumi.Input[str], ca_cert: pulumi.Input[str], client_cert: pulumi.Input[str], client_key: pulumi.Input[str]
) -> dict[str, Any]:
    """The inputs with which a dynamic resource here reaches the API as the admin (the key a secret)."""
    return {"server": server, "ca_cert": ca_cert, "client_cert": client_cert, "client_key": pulumi.Output.secret(client_key)}


class _GateProvider(pulumi.dynamic.ResourceProvider):
    """A resource that exists once its wait succeeds, on create and on every update."""

    def wait(self, props: dict[str, Any]) -> None:
        raise NotImplementedError

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        self.wait(props)
        return pulumi.dynamic.CreateResult(id_=props["server"], outs={**props, "ready": True})

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        self.wait(news)
        return pulumi.dynamic.UpdateResult(outs={**news, "ready": True})


class _ReadinessProvider(_GateProvider):
    def wait(self, props: dict[str, Any]) -> None:
        wait_until_ready(
            props["server"], props["ca_cert"], props["client_cert"], props["client_key"], float(props["timeout_seconds"])
        )


class ReadinessGate(DynamicResource):
    """Exists once ``kubeadm init`` finished at ``server`` (``https://<endpoint>:6443``); the admin can use the API."""

    server: pulumi.Output[str]
    ready: pulumi.Output[bool]

    def __init__(
        self,
        name: str,
        server: pulumi.Input[str],
        ca_cert: pulumi.Input[str],
        client_cert: pulumi.Input[str],
        client_key: pulumi.Input[str],
        timeout_seconds: int,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__(
            _ReadinessProvider(),
            name,
            {
                **_admin_access(server, ca_cert, client_cert, client_key),
                "timeout_seconds": timeout_seconds,
                "ready": None,
            },
            opts,
        )


class ApiNotAvailable(Exception):
    pass


def api_service_finding(body: bytes) -> str | None:
    """None when the APIService's ``Available`` condition is ``True``; else what it says instead."""
    conditions = json.loads(body).get("status", {}).get("conditions") or []
    for condition in conditions:
        if condition.get("type") == "Available":
            if condition.get("status") == "True":
                return None
            return f"Available {condition.get('status')}, {condition.get('reason')}: {condition.get('message')}"
    return "no Available condition yet"


def wait_for_api_service(
    server: str,
    ca_cert: str,
    client_cert: str,
    client_key: str,
    api_service: str,
    timeout_seconds: float,
    interval_seconds: float = 5.0,
) -> None:
    """Read the APIService ``api_service`` (``<version>.<group>``) as the admin until the API server's
    aggregator reports it ``Available``: its group's kinds are served from then on."""
    url = f"{server.rstrip('/')}/apis/apiregistration.k8s.io/v1/apiservices/{api_service}"
    last = poll(admin_opener(ca_cert, client_cert, client_key), url, timeout_seconds, interval_seconds, api_service_finding)
    if last is not None:
        raise ApiNotAvailable(
            f"the API {api_service} was not served within {timeout_seconds:g}s (last: {last}); "
            f"check `kubectl get apiservice {api_service}` and the pods of the service it names"
        )


class _ApiServiceProvider(_GateProvider):
    def wait(self, props: dict[str, Any]) -> None:
        wait_for_api_service(
            props["server"],
            props["ca_cert"],
            props["client_cert"],
            props["client_key"],
            props["api_service"],
            float(props["timeout_seconds"]),
        )


class ApiServiceGate(DynamicResource):
    """Exists once the aggregated API ``api_service`` (``v3.projectcalico.org``) is served: objects of its
    group, which no CRD describes, can be created from then on."""

    api_service: pulumi.Output[str]
    ready: pulumi.Output[bool]

    def __init__(
        self,
        name: str,
        server: pulumi.Input[str],
        ca_cert: pulumi.Input[str],
        client_cert: pulumi.Input[str],
        client_key: pulumi.Input[str],
        api_service: str,
        timeout_seconds: int,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__(
            _ApiServiceProvider(),
            name,
            {
                **_admin_access(server, ca_cert, client_cert, client_key),
                "api_service": api_service,
                "timeout_seconds": timeout_seconds,
                "ready": None,
            },
            opts,
        )


def cluster_answers(
    server: str, ca_cert: str, client_cert: str, client_key: str, attempts: int = 3, interval_seconds: float = 2.0
) -> bool:
    """Whether an API server of this cluster answers at ``server``: any HTTP status over TLS verified
    against the cluster's CA (a degraded etcd answers 500, a refused client 401 or 403). Nothing
    listening, a timeout or a certificate from another CA is no answer."""
    opener = admin_opener(ca_cert, client_cert, client_key)
    for attempt in range(attempts):
        if attempt:
            time.sleep(interval_seconds)
        try:
            with opener.open(server.rstrip("/") + "/readyz", timeout=5.0):
                return True
        except urllib.error.HTTPError:
            return True
        except (urllib.error.URLError, http.client.HTTPException, OSError):
            continue
    return False


class ClusterUnknown(Exception):
    pass


RECORD_KIND = "hybrid-infra:ClusterRecord"
"""The record's ``kind`` input: what the simulated cloud knows it by."""


class _RecordProvider(pulumi.dynamic.ResourceProvider):
    """``initialised`` turns true the first time the cluster answers and stays true: it is read from
    state, not asked again. A new CA is a new cluster, with a new record.

    Created with the endpoint, before any node, the record finds no cluster. Every later deployment
    asks again until the cluster answers; if nothing answers then, the record cannot tell a cluster
    that is down or out of reach from one that never came up, so the deployment stops, and the one
    that knows says which by replacing the record (a cluster that never came up) or by running again
    once the cluster is reachable. Guessing would risk the first node initialising a second cluster.
    """

    def _answers(self, props: dict[str, Any]) -> bool:
        return cluster_answers(props["server"], props["ca_cert"], props["client_cert"], props["client_key"])

    def _outputs(self, props: dict[str, Any], initialised: bool) -> dict[str, Any]:
        return {"kind": RECORD_KIND, "server": props["server"], "ca_cert": props["ca_cert"], "initialised": initialised}

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        return pulumi.dynamic.CreateResult(id_=props["server"], outs=self._outputs(props, self._answers(props)))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        if olds.get("ca_cert") != news.get("ca_cert"):
            return pulumi.dynamic.DiffResult(changes=True, replaces=["ca_cert"])
        return pulumi.dynamic.DiffResult(changes=not olds.get("initialised"))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        if not olds.get("initialised") and not self._answers(news):
            raise ClusterUnknown(
                f"the cluster record cannot tell whether the cluster at {news['server']} exists: nothing has "
                "answered there since the record was made, and nothing answers now. If the cluster runs, make "
                "its endpoint reachable from here and run `pulumi up` again; if it never came up, replace the "
                "record (`pulumi up --replace` with its URN, `pulumi stack --show-urns`), and the first "
                "control-plane node will initialise it"
            )
        return pulumi.dynamic.UpdateResult(outs=self._outputs(news, True))


class ClusterRecord(DynamicResource):
    """What Pulumi knows of the cluster across runs: ``initialised``, whether its API has ever answered.

    Registered before the nodes, so the first control-plane node is rendered to initialise the cluster
    only while the record says it does not exist yet; once it has answered, a replaced first node
    joins like every other. The deployment after the first asks once more (a few seconds), and stops
    if nothing answers (see :class:`_RecordProvider`); afterwards it never asks again. A preview shows
    the answer as unknown while the record is made or asked again.
    """

    initialised: pulumi.Output[bool]

    def __init__(
        self,
        name: str,
        server: pulumi.Input[str],
        ca_cert: pulumi.Input[str],
        client_cert: pulumi.Input[str],
        client_key: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__(
            _RecordProvider(),
            name,
            {
                **_admin_access(server, ca_cert, client_cert, client_key),
                "kind": RECORD_KIND,
                "initialised": None,
            },
            opts,
        )


NODES_PATH = "/api/v1/nodes"


class UpgradeNotFinished(Exception):
    pass


def nodes_behind(version: str, names: list[str], body: bytes) -> str | None:
    """Which of ``names`` does not yet run kubelet ``v<version>`` and report Ready; None when all do."""
    found = {}
    for node in json.loads(body).get("items") or []:
        status = node.get("status") or {}
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        found[node["metadata"]["name"]] = ((status.get("nodeInfo") or {}).get("kubeletVersion"), ready)
    behind = []
    for name in names:
        if name not in found:
            behind.append(f"{name} is not registered")
            continue
        kubelet, ready = found[name]
        if kubelet != f"v{version}" or not ready:
            behind.append(f"{name} runs {kubelet} and is {'Ready' if ready else 'not Ready'}")
    return "; ".join(behind) or None


def wait_for_version(
    server: str,
    ca_cert: str,
    client_cert: str,
    client_key: str,
    version: str,
    names: list[str],
    timeout_seconds: float,
    interval_seconds: float = 15.0,
) -> None:
    """Poll the nodes until every one of ``names`` runs kubelet ``v<version>`` and is Ready."""
    last = poll(
        admin_opener(ca_cert, client_cert, client_key),
        server.rstrip("/") + NODES_PATH,
        timeout_seconds,
        interval_seconds,
        lambda body: nodes_behind(version, names, body),
    )
    if last is not None:
        raise UpgradeNotFinished(
            f"the nodes did not all run Kubernetes v{version} and report Ready within {timeout_seconds:g}s: {last}; "
            "watch them with `kubectl get nodes` and `kubectl -n system-upgrade get plans,jobs`"
        )


class _UpgradeProvider(_GateProvider):
    def wait(self, props: dict[str, Any]) -> None:
        wait_for_version(
            props["server"],
            props["ca_cert"],
            props["client_cert"],
            props["client_key"],
            props["version"],
            list(props["nodes"]),
            float(props["timeout_seconds"]),
        )


class UpgradeGate(DynamicResource):
    """Exists once every node runs the cluster's Kubernetes version and is Ready; waits again after each change."""

    version: pulumi.Output[str]
    nodes: pulumi.Output[list[str]]

    def __init__(
        self,
        name: str,
        server: pulumi.Input[str],
        ca_cert: pulumi.Input[str],
        client_cert: pulumi.Input[str],
        client_key: pulumi.Input[str],
        version: str,
        nodes: list[str],
        timeout_seconds: int,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__(
            _UpgradeProvider(),
            name,
            {
                **_admin_access(server, ca_cert, client_cert, client_key),
                "version": version,
                "nodes": nodes,
                "timeout_seconds": timeout_seconds,
            },
            opts,
        )
