"""Command line: ``hybrid-infra plan STACK``, ``validate STACK``, ``lock STACK`` and ``rollout STACK --pool NAME``."""

from __future__ import annotations

import os
import sys
from collections import defaultdict
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .bootstrap.upgrade import upgrade_steps
from .config.errors import CONFIG_ERRORS
from .lockfile import LockFileError, lock_artifacts, lock_path, write_lock
from .offline.diff import Change, NotAPlan, check_versions, diff, load_earlier, running_versions, write_diff
from .offline.plan import (
    CLUSTER_TYPE,
    OutputNotAPlan,
    Plan,
    Redactor,
    StackNotFound,
    check_output,
    load_stack,
    plan_document,
    plan_summary,
    run_plan,
    stack_file,
    write_plan,
)
from .offline.report import summary_json
from .offline.simulate import offline_runtime
from .stack import parse_stack_config
from .topology import NodeGroup, node_groups

app = typer.Typer(
    help="Review a hybrid-infra deployment offline: no cloud, no credentials, no Pulumi CLI.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console(highlight=False, width=None if Console().is_terminal else 160)
err = Console(stderr=True, highlight=False, soft_wrap=True)

BAD_INPUT = 2

StackArgument = Annotated[str, typer.Argument(help="stack name: stacks/Pulumi.<STACK>.yaml")]
StacksOption = Annotated[Path, typer.Option("--stacks", help="directory holding the stack files")]


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


BAD_CONFIG: tuple[type[Exception], ...] = (*CONFIG_ERRORS, StackNotFound)
"""What a command reports as lines of the stack file, exiting 2."""
BAD_PLAN: tuple[type[Exception], ...] = (*BAD_CONFIG, OutputNotAPlan)


def _fail(error: Exception, stack_file: Path) -> typer.Exit:
    """One line per problem, each naming the stack file and the key (a lock file's, that file)."""
    named = isinstance(error, CONFIG_ERRORS) and not isinstance(error, LockFileError)
    for line in getattr(error, "problems", None) or [str(error)]:
        err.print(f"{stack_file}: {line}" if named else line, markup=False)
    return typer.Exit(BAD_INPUT)


@app.command()
def validate(stack: StackArgument, stacks: StacksOption = Path("stacks")) -> None:
    """Check a stack file and report every problem, without running anything."""
    try:
        config = load_stack(stacks, stack)
        spec = parse_stack_config(config.values, config.secret_paths)
    except BAD_CONFIG as error:
        raise _fail(error, stack_file(stacks, stack)) from None
    out.print(f"stack {stack!r} is valid: {spec.platform}, Kubernetes {spec.cluster.kubernetes_version}", markup=False)
    for warning in spec.warnings():
        err.print(f"warning: {stack_file(stacks, stack)}: {warning}", markup=False)


@app.command()
def plan(
    stack: StackArgument,
    out_dir: Annotated[Path | None, typer.Option("--out", help="where to write the plan [default: build/STACK]")] = None,
    show_secrets: Annotated[bool, typer.Option("--show-secrets", help="show secret values in files and output")] = False,
    against: Annotated[
        Path | None,
        typer.Option("--against", help="an earlier plan's directory, taken as the running state: list what changes"),
    ] = None,
    stacks: StacksOption = Path("stacks"),
    output_format: Annotated[
        OutputFormat,
        typer.Option("--format", help="text: the resources, the summary and the workloads; json: the summary alone, for CI"),
    ] = OutputFormat.text,
) -> None:
    """Run the program on the simulated cloud, print what it creates and write the artifacts (report.md among them)."""
    # The run, the files and the summary on the offline runtime: the SDK's work a plan does not need
    # left out, and no collection walking the run's heap in between. Nothing else in the package turns it on.
    with offline_runtime():
        _plan(stack, out_dir or Path("build") / stack, show_secrets, against, stacks, output_format)


def _plan(
    stack: str, target: Path, show_secrets: bool, against: Path | None, stacks: Path, output_format: OutputFormat
) -> None:
    try:
        earlier = load_earlier(against) if against else None
        check_output(target)
        result = run_plan(stacks, stack)
        if earlier is not None:
            check_versions(earlier, result.simulation.outputs)
    except NotAPlan as error:
        for line in error.problems:
            err.print(line, markup=False)
        raise typer.Exit(BAD_INPUT) from None
    except BAD_PLAN as error:
        raise _fail(error, stack_file(stacks, stack)) from None
    write_plan(result, target, show_secrets)
    redactor = Redactor(result.simulation, show_secrets, result.config.secret_values)
    text = output_format is OutputFormat.text
    if text:
        _print_plan(result, redactor)
    else:
        typer.echo(summary_json(plan_summary(result, redactor)), nl=False)
    for warning in result.simulation.warnings:
        err.print(f"warning: {warning}", markup=False)
    if text:
        out.print(result.time_to_ready.summary(), markup=False, soft_wrap=True)
        out.print(f"{len(result.simulation.resources)} resources; plan written to {target}", markup=False)
    if earlier is not None and against is not None:
        # Compared as the earlier plan shows its secrets.
        shown = bool(earlier.get("showSecrets"))
        current = plan_document(result, Redactor(result.simulation, shown, result.config.secret_values))
        changes = diff(earlier, current)
        write_diff(changes, target)
        if text:
            out.print(_changes(changes, against), markup=False)
            running = running_versions(earlier).get("kubernetesVersion")
            if running and running != result.spec.cluster.kubernetes_version:
                out.print(
                    f"upgrade: running nodes move from Kubernetes {running} to {result.spec.cluster.kubernetes_version}, "
                    f"the control plane one node at a time, then the workers; on each node "
                    f"{upgrade_steps(result.spec.cluster)}",
                    markup=False,
                    soft_wrap=True,
                )


def _print_plan(result: Plan, redactor: Redactor) -> None:
    out.print(_tree(result), soft_wrap=True)
    out.print(_summary(result, redactor))
    if result.spec.workloads.containers or result.spec.workloads.virtual_machines:
        out.print(_workloads(result))
    # What `pulumi up` fetches, each with its lock state (and a local manifest, the objects it registers).
    for artifact in sorted(result.artifacts, key=lambda artifact: artifact.key):
        out.print(artifact.line(), markup=False, soft_wrap=True)


def _changes(changes: list[Change], against: Path) -> str:
    counts = {action: sum(1 for change in changes if change.action == action) for action in ("create", "update", "delete")}
    lines = [f"against {against}: " + ", ".join(f"{count} to {action}" for action, count in counts.items())]
    for change in changes:
        if change.action != "same":
            detail = f" ({', '.join(change.changed)})" if change.changed else ""
            lines.append(f"  {change.action:<7}{change.type} {change.urn.rsplit('::', 1)[-1]}{detail}")
    return "\n".join(lines)


def _tree(result: Plan) -> Text:
    """The resources as a tree of parents and children, drawn as rich draws a Tree, in one Text: a
    Tree of thousands of nodes takes rich longer to lay out than the plan takes to write its files."""
    resources = result.simulation.resources
    children = defaultdict(list)
    for resource in resources:
        children[resource.parent].append(resource)
    known = {resource.urn for resource in resources}
    tree = Text(f"stack {result.stack}")

    def add(siblings: list[Any], indent: str) -> None:
        for index, resource in enumerate(siblings):
            last = index == len(siblings) - 1
            tree.append(f"\n{indent}{'└── ' if last else '├── '}{resource.type} ")
            tree.append(resource.name, style="bold")
            add(children.get(resource.urn, []), indent + ("    " if last else "│   "))

    add([resource for resource in resources if resource.parent not in known], "")
    return tree


def _summary(result: Plan, redactor: Redactor) -> Table:
    spec = result.spec
    cluster = spec.cluster
    outputs = redactor.value(result.simulation.outputs)
    table = Table(title=f"{result.stack}: Kubernetes {cluster.kubernetes_version} on {spec.platform}", show_lines=False)
    for column in ("pool", "role", "nodes", "size", "machine", "fault domains", "placement"):
        table.add_column(column)
    for group in node_groups(cluster):
        placement = spec.sections[group.platform or spec.platform].placement(group)
        notes = []
        if group.virtualization:
            notes.append("virtualization")
        notes += [str(taint) for taint in group.taints]
        table.add_row(
            group.name,
            group.role,
            str(group.count),
            group.size,
            placement.machine,
            ", ".join(placement.fault_domains) or "-",
            "; ".join(notes),
        )
    endpoint = outputs.get("endpoint", "-")
    visibility = "public" if cluster.endpoint.public else "private"
    charts = spec.addons.charts
    versions = [f"Kubernetes {cluster.kubernetes_version}", f"{cluster.cni} {getattr(charts, cluster.cni).version}"]
    versions += spec.platform_section.versions()
    table.caption = (
        f"API endpoint https://{endpoint}:6443 ({cluster.endpoint.type}, {visibility}); "
        f"nodes {cluster.network.node_cidr}, pods {cluster.network.pod_cidr}, services {cluster.network.service_cidr}\n"
        f"versions: {', '.join(versions)}; kubeconfig: pulumi stack output kubeconfig --show-secrets"
    )
    return table


def _workloads(result: Plan) -> Table:
    """Containers and VMs side by side: one platform for both."""
    workloads = result.spec.workloads
    table = Table(title="workloads: containers and virtual machines on one cluster")
    for column in ("kind", "name", "namespace", "runs", "size", "ports", "reachable from"):
        table.add_column(column)
    for app in workloads.containers:
        table.add_row(
            "containers", app.name, app.namespace, app.image, f"{app.replicas} replicas", str(app.port), "any pod"
        )
    for vm in workloads.virtual_machines:
        table.add_row(
            "virtual machine",
            vm.name,
            vm.namespace,
            f"disk {vm.disk.source} ({vm.disk.size})",
            f"{vm.cpu} cores, {vm.memory}",
            ", ".join(f"{p.port}/{p.protocol}" for p in vm.ports) or "-",
            ", ".join(vm.allow_from) or "any pod",
        )
    return table


@app.command()
def lock(stack: StackArgument, stacks: StacksOption = Path("stacks")) -> None:
    """Download every artifact `pulumi up` fetches (release manifests, Helm chart archives), and write their sha256 to STACK's lock file."""
    path = lock_path(stacks, stack)
    try:
        # Not checked against the lock file it replaces: a stale or broken lock is what it mends.
        with offline_runtime():  # the run, as `plan` runs it
            result = run_plan(stacks, stack, locked=False)
        entries = lock_artifacts(result.artifacts, stacks.resolve().parent)
    except BAD_CONFIG as error:
        raise _fail(error, stack_file(stacks, stack)) from None
    write_lock(path, stack, entries)
    for entry in entries:
        out.print(f"{entry.key}: {entry.source} ({entry.version}) sha256:{entry.sha256}", markup=False, soft_wrap=True)
    out.print(f"{len(entries)} artifacts locked in {path}", markup=False)


@app.command()
def rollout(
    stack: StackArgument,
    pool: Annotated[str, typer.Option("--pool", help="the pool whose nodes to renew (control-plane for the control plane)")],
    stacks: StacksOption = Path("stacks"),
    force: Annotated[
        bool, typer.Option("--force", help="renew the only control-plane node too, losing the cluster's state")
    ] = False,
) -> None:
    """Print the commands that renew a pool's nodes one at a time (a new image or settings), in order."""
    try:
        with offline_runtime():  # the run, as `plan` runs it
            result = run_plan(stacks, stack)
    except BAD_CONFIG as error:
        raise _fail(error, stack_file(stacks, stack)) from None
    groups = {group.name: group for group in node_groups(result.spec.cluster)}
    if pool not in groups:
        err.print(
            f"{stack_file(stacks, stack)}: --pool: {pool!r} is not a pool of the stack; use one of: {', '.join(groups)}",
            markup=False,
        )
        raise typer.Exit(BAD_INPUT)
    group = groups[pool]
    lines = rollout_commands(result, group)
    if group.role == "control-plane" and group.count == 1:
        if not force:
            err.print(
                f"{stack_file(stacks, stack)}: --pool: {pool!r} has one node: {SOLE_CONTROL_PLANE}; "
                "run three control-plane nodes (cluster.controlPlane.count: 3) first, or pass --force to accept it",
                markup=False,
            )
            raise typer.Exit(BAD_INPUT)
        lines.insert(0, f"# --force: {SOLE_CONTROL_PLANE}.")
    out.print("\n".join(lines), markup=False, soft_wrap=True)


SOLE_CONTROL_PLANE = (
    "replacing the only control-plane node deletes the cluster's only etcd member, and with it every "
    "Kubernetes object; its replacement has no cluster to join"
)


def rollout_commands(result: Plan, group: NodeGroup) -> list[str]:
    """Drain, replace (with a fresh join token), wait for Ready and uncordon each node of ``group`` in turn."""
    cluster = next(r for r in result.simulation.resources if r.type == CLUSTER_TYPE)
    pki = next(r for r in result.simulation.resources if r.type == "hybrid-infra:index:ClusterPki")
    machines, tokens = cluster.outputs["machines"], pki.outputs["tokenResources"]
    lines = [
        f"# Renew pool {group.name} of stack {result.stack}, one node at a time ({group.count} nodes): each VM is",
        "# replaced by one made from the current image and settings, which joins with a fresh token.",
    ]
    for name in group.node_names:
        replace = " ".join(f"--replace '{urn}'" for urn in [*tokens[name], machines[name]])
        lines += [
            f"kubectl drain {name} --ignore-daemonsets --delete-emptydir-data --timeout=15m",
            f"pulumi up --stack {result.stack} --yes {replace}",
            f"kubectl wait --for=condition=Ready node/{name} --timeout=30m",
            f"kubectl uncordon {name}",
        ]
    return lines


def main() -> None:
    """The console script. It leaves without the interpreter's teardown, which would free a large
    plan's objects one by one (seconds at a thousand nodes) just before the process ends anyway;
    every file is written and closed by then, and the output streams are flushed here."""
    try:
        app()
        code: object = 0
    except SystemExit as done:
        code = done.code
    if isinstance(code, str):
        print(code, file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else 0 if code is None else 1)
