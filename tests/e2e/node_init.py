"""What boots an emulated node, inside its own network, mount and UTS namespaces (tests/e2e/emulator.py).

It gives the node a root of its own (overlays over the machine's /etc, /var, /usr/local, /opt and
/root whose changes stay in the node's directory; a fresh /run), a cgroup v2 hierarchy, its
hostname, then does what cloud-init does with the node's cloud-config (keeps the user data and the
cloud's instance data where cloud-init does, write_files, then runcmd), and stays as the reaper of
every process the node starts.

    python -m tests.e2e.node_init <node directory> <node name> <cloud-config>
"""

from __future__ import annotations

import ctypes
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.conftest import written_files

OVERLAID = ("/etc", "/var", "/usr/local", "/opt", "/root")
FRESH = ("/run", "/var/lib/containerd")
# What a cgroup v2 node offers its kubelet (kubeadm's system verification asks for these). This
# machine's kernel binds them to cgroup v1 hierarchies, which kubelet 1.35 refuses.
CGROUP_CONTROLLERS = "cpuset cpu io memory hugetlb pids rdma misc\n"
PR_SET_CHILD_SUBREAPER = 36


def mount(*arguments: str) -> None:
    subprocess.run(["mount", *arguments], check=True)


def make_root(directory: Path) -> None:
    mount("--make-rprivate", "/")
    for path in OVERLAID:
        upper, work = directory / "upper" / path.strip("/"), directory / "work" / path.strip("/")
        upper.mkdir(parents=True, exist_ok=True)
        work.mkdir(parents=True, exist_ok=True)
        mount("-t", "overlay", "overlay", "-o", f"lowerdir={path},upperdir={upper},workdir={work}", path)
    mount("-t", "cgroup2", "cgroup2", "/sys/fs/cgroup")
    controllers = directory / "cgroup.controllers"
    controllers.write_text(CGROUP_CONTROLLERS)
    mount("--bind", str(controllers), "/sys/fs/cgroup/cgroup.controllers")
    for path in FRESH:
        os.makedirs(path, exist_ok=True)
        mount("-t", "tmpfs", "tmpfs", path)


def write_files(cloud_config: dict) -> None:
    contents = written_files(yaml.safe_dump(cloud_config))
    for entry in cloud_config.get("write_files", []):
        path = Path(entry["path"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(contents[entry["path"]])
        os.chmod(path, int(entry.get("permissions", "0644"), 8))


def keep_instance_data(instance_data: str, user_data: str) -> None:
    """What cloud-init keeps at every boot: the cloud's instance data (what `cloud-init query` reads)
    under /run/cloud-init, and the user data under /var/lib/cloud/instances/<id>, linked as
    /var/lib/cloud/instance (cloud-init 22.4: cloudinit/helpers.py Paths, cmd/query.py)."""
    os.makedirs("/run/cloud-init", exist_ok=True)
    for file in ("instance-data.json", "instance-data-sensitive.json"):
        Path("/run/cloud-init", file).write_text(instance_data)
    instance = Path("/var/lib/cloud/instances") / json.loads(instance_data)["v1"]["instance_id"]
    instance.mkdir(parents=True, exist_ok=True)
    (instance / "user-data.txt").write_text(user_data)
    (instance / "user-data.txt").chmod(0o600)
    (instance / "vendor-data.txt").write_text("")
    link = Path("/var/lib/cloud/instance")
    if not link.is_symlink():
        link.symlink_to(instance)


def main(directory: Path, name: str, cloud_config_path: Path) -> None:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    socket.sethostname(name)
    user_data = cloud_config_path.read_text()
    cloud_config = yaml.safe_load(user_data)
    make_root(directory)
    Path("/etc/hostname").write_text(name + "\n")
    known = Path("/etc/hosts").read_text().splitlines()
    entries = [f"{address} {host}" for host, address in json.loads(os.environ.get("E2E_HOSTS") or "{}").items()]
    with open("/etc/hosts", "a") as handle:
        handle.writelines(entry + "\n" for entry in entries if entry not in known)
    instance_data = os.environ.get("E2E_INSTANCE_DATA") or json.dumps({"v1": {"instance_id": name}})
    keep_instance_data(instance_data, user_data)
    first_boot = not Path("/var/lib/e2e-cloud-init/done").exists()
    if first_boot:
        write_files(cloud_config)
        for command in cloud_config.get("runcmd", []):
            subprocess.run(command, check=True)
        Path("/var/lib/e2e-cloud-init").mkdir(parents=True, exist_ok=True)
        Path("/var/lib/e2e-cloud-init/done").touch()
    else:
        # A reboot: systemd starts what is enabled.
        for unit in sorted(os.listdir("/var/lib/e2e-systemd/enabled")):
            subprocess.run(["systemctl", "start", unit], check=False)
    print(f"{name} booted", flush=True)
    while True:
        try:
            os.wait()
        except ChildProcessError:
            time.sleep(1)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]))
