"""The readiness gate against a local HTTPS server on 127.0.0.1 that checks the admin certificate, as the API does."""

from __future__ import annotations

import http.server
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hybrid_infra.readiness import (
    INIT_FINISHED_PATH,
    NODES_PATH,
    ClusterNotReady,
    ClusterUnknown,
    UpgradeNotFinished,
    _RecordProvider,
    api_service_finding,
    cluster_answers,
    wait_for_version,
    wait_until_ready,
)
from tests.pki_fixtures import certificate, key_pem, new_key, pem


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, str]:
    ca_key = new_key()
    ca = certificate("kubernetes", ca_key)
    server_key, admin_key = new_key(), new_key()
    directory = tmp_path_factory.mktemp("pki")
    files = {
        "ca": pem(ca),
        "server_cert": pem(certificate("kube-apiserver", server_key, issuer=(ca, ca_key), server_ip="127.0.0.1")),
        "server_key": key_pem(server_key),
        "admin_cert": pem(certificate("hybrid-infra-admin", admin_key, issuer=(ca, ca_key), client=True)),
        "admin_key": key_pem(admin_key),
    }
    for name, text in files.items():
        (directory / name).write_text(text)
    files["dir"] = str(directory)
    return files


class ApiHandler(http.server.BaseHTTPRequestHandler):
    """Anonymous /readyz passes at once; ``kubeadm-config`` answers ``answer`` (403 before kubeadm's RBAC)."""

    answer = 200
    readyz = 200
    paths: list[str] = []
    nodes: list[bytes] = []
    """Successive answers of /api/v1/nodes; the last one repeats."""

    def do_GET(self):  # noqa: N802
        self.paths.append(self.path)
        if self.path == NODES_PATH and self.nodes:
            body = self.nodes[min(self.paths.count(NODES_PATH), len(self.nodes)) - 1]
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)
            return
        code = {"/readyz": self.readyz, INIT_FINISHED_PATH: self.answer}.get(self.path, 404)
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b"ok" if code == 200 else b"not ready")

    def log_message(self, *args):
        pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def api_server(
    pki: dict[str, str],
    port: int,
    delay: float = 0.0,
    answer: int = 200,
    nodes: list[bytes] | None = None,
    readyz: int = 200,
) -> Iterator[list[str]]:
    """Starts listening on 127.0.0.1:port after ``delay`` seconds; requires a client certificate from the CA.

    Yields the paths requested so far."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    directory = Path(pki["dir"])
    context.load_cert_chain(directory / "server_cert", directory / "server_key")
    context.load_verify_locations(cadata=pki["ca"])
    context.verify_mode = ssl.CERT_REQUIRED
    handler = type("Handler", (ApiHandler,), {"answer": answer, "readyz": readyz, "paths": [], "nodes": nodes or []})
    servers: list[http.server.ThreadingHTTPServer] = []

    def serve() -> None:
        time.sleep(delay)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        servers.append(server)
        server.serve_forever(poll_interval=0.05)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield handler.paths
    finally:
        for _ in range(100):
            if servers or not thread.is_alive():
                break
            time.sleep(0.05)
        for server in servers:
            server.shutdown()
            server.server_close()


def test_gate_passes_once_kubeadm_init_uploaded_its_configuration(pki):
    port = free_port()
    with api_server(pki, port, delay=1.0) as paths:
        started = time.monotonic()
        wait_until_ready(f"https://127.0.0.1:{port}", pki["ca"], pki["admin_cert"], pki["admin_key"], 20, interval_seconds=0.2)
        assert 0.9 < time.monotonic() - started < 20
    assert paths == ["/api/v1/namespaces/kube-system/configmaps/kubeadm-config"]


def test_gate_keeps_waiting_while_the_admin_is_forbidden(pki):
    """/readyz already passes, but kubeadm has not bound kubeadm:cluster-admins yet."""
    port = free_port()
    with api_server(pki, port, answer=403) as paths:
        with pytest.raises(ClusterNotReady) as caught:
            wait_until_ready(f"https://127.0.0.1:{port}", pki["ca"], pki["admin_cert"], pki["admin_key"], 1.5, interval_seconds=0.2)
    assert "(last: HTTP 403 from " in str(caught.value)
    assert len(paths) >= 2 and set(paths) == {INIT_FINISHED_PATH}


def test_gate_ignores_proxy_settings(pki, monkeypatch):
    closed = free_port()
    for variable in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(variable, f"http://127.0.0.1:{closed}")
    for variable in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(variable, raising=False)
    port = free_port()
    with api_server(pki, port) as paths:
        wait_until_ready(f"https://127.0.0.1:{port}", pki["ca"], pki["admin_cert"], pki["admin_key"], 5, interval_seconds=0.2)
    assert paths == [INIT_FINISHED_PATH]


def test_gate_fails_with_a_clear_error_when_nothing_answers(pki):
    server = f"https://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(ClusterNotReady) as caught:
        wait_until_ready(server, pki["ca"], pki["admin_cert"], pki["admin_key"], 1.5, interval_seconds=0.2)
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert message.startswith(f"kubeadm init at {server} did not finish within 1.5s")
    assert "refused" in message.lower()


def test_gate_keeps_waiting_while_the_api_is_not_ready(pki):
    port = free_port()
    with api_server(pki, port, answer=503):
        with pytest.raises(ClusterNotReady) as caught:
            wait_until_ready(f"https://127.0.0.1:{port}", pki["ca"], pki["admin_cert"], pki["admin_key"], 1.5, interval_seconds=0.2)
    assert "(last: HTTP 503 from " in str(caught.value)


def test_gate_refuses_a_server_the_cluster_ca_did_not_sign(pki):
    other_key = new_key()
    other_ca = pem(certificate("someone-else", other_key))
    port = free_port()
    with api_server(pki, port):
        with pytest.raises(ClusterNotReady) as caught:
            wait_until_ready(f"https://127.0.0.1:{port}", other_ca, pki["admin_cert"], pki["admin_key"], 1.0, interval_seconds=0.2)
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)


def node_list(*nodes: tuple[str, str, bool]) -> bytes:
    items = [
        {
            "metadata": {"name": name},
            "status": {
                "nodeInfo": {"kubeletVersion": version},
                "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            },
        }
        for name, version, ready in nodes
    ]
    return json.dumps({"kind": "NodeList", "items": items}).encode()


def test_upgrade_gate_waits_until_every_node_runs_the_version_and_is_ready(pki):
    port = free_port()
    progress = [
        node_list(("cp-0", "v1.35.0", True), ("w-0", "v1.34.2", True)),
        node_list(("cp-0", "v1.35.0", True), ("w-0", "v1.35.0", False)),
        node_list(("cp-0", "v1.35.0", True), ("w-0", "v1.35.0", True)),
    ]
    with api_server(pki, port, nodes=progress) as paths:
        wait_for_version(
            f"https://127.0.0.1:{port}", pki["ca"], pki["admin_cert"], pki["admin_key"], "1.35.0", ["cp-0", "w-0"],
            20, interval_seconds=0.1,
        )
    assert paths.count(NODES_PATH) == 3


def test_upgrade_gate_fails_naming_the_node_that_did_not_make_it(pki):
    port = free_port()
    stuck = [node_list(("cp-0", "v1.35.0", True), ("w-0", "v1.34.2", True))]
    with api_server(pki, port, nodes=stuck), pytest.raises(UpgradeNotFinished) as caught:
        wait_for_version(
            f"https://127.0.0.1:{port}", pki["ca"], pki["admin_cert"], pki["admin_key"], "1.35.0",
            ["cp-0", "w-0", "w-1"], 1, interval_seconds=0.1,
        )
    message = str(caught.value)
    assert "w-0 runs v1.34.2 and is Ready" in message and "w-1 is not registered" in message
    assert "cp-0" not in message.split(":", 1)[1]


@pytest.mark.parametrize("status", [200, 500, 401, 403])
def test_the_cluster_exists_whatever_status_its_api_answers(pki, status):
    """A degraded etcd answers 500 and a refused client 401 or 403: the cluster is there all the same."""
    port = free_port()
    with api_server(pki, port, readyz=status) as paths:
        assert cluster_answers(f"https://127.0.0.1:{port}", pki["ca"], pki["admin_cert"], pki["admin_key"], 20, 0.2)
    assert paths == ["/readyz"]


def test_no_answer_or_another_ca_is_no_cluster(pki):
    other_key = new_key()
    other_ca = pem(certificate("someone-else", other_key))
    port = free_port()
    assert not cluster_answers(f"https://127.0.0.1:{port}", pki["ca"], pki["admin_cert"], pki["admin_key"], 2, 0.1)
    with api_server(pki, port):
        assert not cluster_answers(f"https://127.0.0.1:{port}", other_ca, pki["admin_cert"], pki["admin_key"], 2, 0.1)


def test_a_load_balancer_without_members_is_no_cluster(pki):
    """It accepts the connection and closes it (the platforms' load balancers with no healthy member)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def close_each() -> None:
        for _ in range(2):
            connection, _ = listener.accept()
            connection.close()

    closer = threading.Thread(target=close_each, daemon=True)
    closer.start()
    try:
        assert not cluster_answers(f"https://127.0.0.1:{port}", pki["ca"], pki["admin_cert"], pki["admin_key"], 2, 0.1)
    finally:
        closer.join(timeout=5)
        listener.close()


def test_the_record_keeps_that_the_cluster_answered_once(pki):
    port = free_port()
    props = {
        "server": f"https://127.0.0.1:{port}",
        "ca_cert": pki["ca"],
        "client_cert": pki["admin_cert"],
        "client_key": pki["admin_key"],
        "kind": "hybrid-infra:ClusterRecord",
        "initialised": None,
    }
    provider = _RecordProvider()
    # The first `pulumi up`: nothing answers yet, so the first control-plane node initialises.
    created = provider.create(props)
    assert created.outs == {
        "kind": "hybrid-infra:ClusterRecord", "server": props["server"], "ca_cert": pki["ca"], "initialised": False
    }
    assert "client_key" not in created.outs
    # The next one asks again, and the cluster answers (a degraded one all the same).
    assert provider.diff(created.id, created.outs, props).changes
    with api_server(pki, port, readyz=500):
        updated = provider.update(created.id, created.outs, props)
    assert updated.outs["initialised"] is True
    # From then on the record is read from state and nothing is asked: the API may be down, the
    # endpoint's address may change.
    moved = {**props, "server": "https://192.0.2.1:6443"}
    assert not provider.diff(created.id, updated.outs, props).changes
    assert not provider.diff(created.id, updated.outs, moved).changes
    # Another CA is another cluster: a new record.
    other = {**props, "ca_cert": pem(certificate("someone-else", new_key()))}
    replaced = provider.diff(created.id, updated.outs, other)
    assert replaced.changes and replaced.replaces == ["ca_cert"]


def test_a_record_that_never_saw_the_cluster_stops_the_deployment_rather_than_guess(pki):
    """Down, out of reach or never made: the record cannot tell, and a guess could let the first
    node initialise a second cluster. It says what to do, in one line."""
    class Unanswered(_RecordProvider):
        def _answers(self, props):
            return False

    provider = Unanswered()
    props = {"server": "https://192.0.2.1:6443", "ca_cert": pki["ca"], "client_cert": "", "client_key": ""}
    created = provider.create(props)
    assert created.outs["initialised"] is False
    with pytest.raises(ClusterUnknown) as stopped:
        provider.update(created.id, created.outs, props)
    message = str(stopped.value)
    assert "\n" not in message
    assert message.startswith("the cluster record cannot tell whether the cluster at https://192.0.2.1:6443 exists")
    assert "pulumi up --replace" in message


@pytest.mark.parametrize(
    ("status", "finding"),
    [
        ({"conditions": [{"type": "Available", "status": "True", "reason": "Passed"}]}, None),
        (
            {"conditions": [{"type": "Available", "status": "False", "reason": "ServiceNotFound", "message": "no service"}]},
            "Available False, ServiceNotFound: no service",
        ),
        ({}, "no Available condition yet"),
    ],
)
def test_an_api_is_served_once_its_apiservice_is_available(status, finding):
    assert api_service_finding(json.dumps({"status": status}).encode()) == finding
