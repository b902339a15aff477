"""Command line: ``hybrid-infra plan STACK`` and ``hybrid-infra validate STACK``."""

from __future__ import annotations

import os
import sys
from collections import defaultdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from .config.errors import ConfigError
from .config.stack import parse_stack_config
from .offline.critical_path import DURATIONS_FILE, DurationTable, critical_path
from .offline.plan import (
    OutputNotAPlan,
    Plan,
    Redactor,
    StackNotFound,
    check_output,
    load_stack,
    pinned_manifests,
    run_plan,
    stack_file,
    write_plan,
)
from .offline.simulate import offline_runtime
from .topology import node_groups

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


def _fail(error: Exception, stack_file: Path) -> typer.Exit:
    """One line per problem, each naming the stack file and the key."""
    for line in error.problems if isinstance(error, ConfigError) else [str(error)]:
        err.print(f"{stack_file}: {line}" if isinstance(error, ConfigError) else line, markup=False)
    return typer.Exit(BAD_INPUT)


@app.command()
def validate(stack: StackArgument, stacks: StacksOption = Path("stacks")) -> None:
    """Check a stack file and report every problem, without running anything."""
    try:
        config = load_stack(stacks, stack)
        spec = parse_stack_config(config.values, config.secret_paths)
    except (ConfigError, StackNotFound) as error:
        raise _fail(error, stack_file(stacks, stack)) from None
    out.print(f"stack {stack!r} is valid: {spec.platform}, Kubernetes {spec.cluster.kubernetes_version}", markup=False)


@app.command()
def plan(
    stack: StackArgument,
    out_dir: Annotated[Path | None, typer.Option("--out", help="where to write the plan [default: build/STACK]")] = None,
    show_secrets: Annotated[bool, typer.Option("--show-secrets", help="show secret values in files and output")] = False,
    stacks: StacksOption = Path("stacks"),
) -> None:
    """Run the program on the simulated cloud, print what it creates and write the artifacts."""
    # The run, the files and the summary, without the collector walking the run's heap in between.
    with offline_runtime():
        _plan(stack, out_dir or Path("build") / stack, show_secrets, stacks)


def _plan(stack: str, target: Path, show_secrets: bool, stacks: Path) -> None:
    try:
        check_output(target)
        result = run_plan(stacks, stack)
    except (ConfigError, StackNotFound, OutputNotAPlan) as error:
        raise _fail(error, stack_file(stacks, stack)) from None
    write_plan(result, target, show_secrets)
    redactor = Redactor(result.simulation, show_secrets, result.config.secret_values)
    out.print(_tree(result))
    out.print(_summary(result, redactor))
    if result.spec.workloads.containers or result.spec.workloads.virtual_machines:
        out.print(_workloads(result))
    for source in pinned_manifests(result):
        if not source["expanded"]:
            out.print(
                f"{source['component']} {source['version']}: release manifest pinned to {source['url']}"
                + (f" (sha256 {source['sha256']})" if source.get("sha256") else "")
                + "; not expanded offline, `pulumi up` fetches and registers its objects",
                markup=False,
            )
    for warning in result.simulation.warnings:
        err.print(f"warning: {warning}", markup=False)
    durations = stacks.resolve().parent / DURATIONS_FILE
    if durations.is_file():
        path = critical_path(result.simulation.resources, DurationTable.load(durations))
        out.print(path.summary(), markup=False, soft_wrap=True)
    else:
        out.print(f"time to a ready platform not modelled: the project has no {DURATIONS_FILE}", markup=False)
    out.print(f"{len(result.simulation.resources)} resources; plan written to {target}", markup=False)


def _tree(result: Plan) -> Tree:
    resources = result.simulation.resources
    children = defaultdict(list)
    for resource in resources:
        children[resource.parent].append(resource)
    known = {resource.urn for resource in resources}
    root = Tree(f"stack {result.stack}")

    def add(node: Tree, resource_urn: str) -> None:
        for child in children.get(resource_urn, []):
            add(node.add(f"{child.type} [bold]{child.name}[/]"), child.urn)

    for top in (resource for resource in resources if resource.parent not in known):
        add(root.add(f"{top.type} [bold]{top.name}[/]"), top.urn)
    return root


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
