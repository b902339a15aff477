"""``make bench``: the offline plan against the Pulumi SDK's floor, for every stack at 10, 100 and 1000 workers.

Each stack in stacks/ is scaled to 3 control-plane nodes and N workers (``benchmarks.scaling``).
For each size the plan is recorded once, then the plan command (``hybrid-infra plan``, files
written) and its floor (``benchmarks.floor``: the bare SDK registering the same resources with the
same inputs, echo mocks) run alternately, each in a fresh process whose wall time and peak
resident memory (``os.wait4``'s resource usage of that child) are taken. The table shows medians;
the ratios are the figures that count, as both sides run on the same machine at the same time.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from .scaling import CLUSTER_KEY, STACK_FILE, discover, write_scaled

PROJECT = Path(__file__).resolve().parent.parent
SIZES = (10, 100, 1000)
RUNS = {10: 7, 100: 7, 1000: 5}
GENERIC_SECTIONS = {"cluster", "addons", "workloads"}
# The acceptance lines: plan / floor at 100 and 1000 workers, growth, memory at 1000.
TIME_RATIO_LIMITS = {100: 2.0, 1000: 1.5}
GROWTH_LIMIT = 10.0
MEMORY_RATIO_LIMIT = 1.5


@dataclass
class Measured:
    seconds: float
    peak_mib: float
    output: str


@dataclass
class Row:
    stack: str
    platform: str
    workers: int
    resources: int = 0
    plan: list[Measured] = field(default_factory=list)
    floor: list[Measured] = field(default_factory=list)
    critical_path: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    def median(self, side: str, what: str) -> float:
        return statistics.median(getattr(run, what) for run in getattr(self, side))

    @property
    def time_ratio(self) -> float:
        return self.median("plan", "seconds") / self.median("floor", "seconds")

    @property
    def memory_ratio(self) -> float:
        return self.median("plan", "peak_mib") / self.median("floor", "peak_mib")


def run_child(command: list[str], cwd: Path) -> Measured:
    """Run ``command`` in a fresh process: its wall time, its own peak RSS and its standard output."""
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        child = subprocess.Popen(command, cwd=cwd, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        if child.returncode != 0:
            problem = stderr.read().decode(errors="replace").strip().splitlines() or ["no output"]
            raise RuntimeError(f"{' '.join(command[1:4])}: exit {child.returncode}: {problem[-1]}")
        # Linux reports ru_maxrss in KiB.
        return Measured(seconds, usage.ru_maxrss / 1024, stdout.read().decode())


def platform_of(stacks_dir: Path, stack: str) -> str:
    config = (yaml.safe_load((stacks_dir / STACK_FILE.format(stack=stack)).read_text()) or {}).get("config", {})
    sections = [key.partition(":")[2] for key in config if key.startswith("hybrid-infra:") and key != CLUSTER_KEY]
    return ", ".join(name for name in sections if name not in GENERIC_SECTIONS) or "?"


def bench(stack: str, workers: int, runs: int, scratch: Path) -> Row:
    row = Row(stack, platform_of(PROJECT / "stacks", stack), workers)
    directory = scratch / f"{stack}-{workers}"
    python = sys.executable
    try:
        stacks = write_scaled(PROJECT, stack, workers, directory)
        recording = directory / "recording.json"
        recorded = json.loads(
            run_child([python, "-m", "benchmarks.floor", "record", str(stacks), stack, str(recording)], PROJECT).output
        )
        row.resources = recorded["resources"]
        row.critical_path = recorded.get("criticalPath", {})
        for attempt in range(runs):
            # Each run writes into a new directory; they are removed together once the size is done,
            # not between runs: creating files right after deleting as many makes some file systems
            # (ext4 here) look past every recently deleted inode, which would bill the bench's own
            # clean-up to the next run.
            out = directory / f"plan-{attempt}"
            plan = [python, "-m", "hybrid_infra", "plan", stack, "--stacks", str(stacks), "--out", str(out)]
            row.plan.append(run_child(plan, directory))
            floor = run_child([python, "-m", "benchmarks.floor", "replay", str(recording)], PROJECT)
            loaded = json.loads(floor.output)["loadSeconds"]
            # Reading the recording is the bench's doing, not the SDK's.
            row.floor.append(Measured(floor.seconds - loaded, floor.peak_mib, floor.output))
    except (RuntimeError, ValueError, KeyError) as error:
        row.error = str(error)
    shutil.rmtree(directory, ignore_errors=True)
    return row


def table(rows: list[Row]) -> list[str]:
    header = (
        f"{'stack':<10} {'platform':<10} {'workers':>7} {'resources':>9} "
        f"{'plan s':>7} {'floor s':>7} {'ratio':>5}  {'plan MiB':>8} {'floor MiB':>9} {'ratio':>5}  "
        f"{'path':>4} {'ready in':>8}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        lead = f"{row.stack:<10} {row.platform:<10} {row.workers:>7}"
        if row.error:
            lines.append(f"{lead} not measured: {row.error}")
            continue
        path = row.critical_path
        steps = str(path.get("steps", "-"))
        ready = f"{path['seconds'] / 60:.1f} min" if "seconds" in path else "-"
        lines.append(
            f"{lead} {row.resources:>9} "
            f"{row.median('plan', 'seconds'):>7.2f} {row.median('floor', 'seconds'):>7.2f} {row.time_ratio:>5.2f}  "
            f"{row.median('plan', 'peak_mib'):>8.0f} {row.median('floor', 'peak_mib'):>9.0f} {row.memory_ratio:>5.2f}  "
            f"{steps:>4} {ready:>8}"
        )
    return lines


def checks(rows: list[Row]) -> list[str]:
    """The acceptance lines, per stack."""
    lines = []
    for stack in dict.fromkeys(row.stack for row in rows):
        sized = {row.workers: row for row in rows if row.stack == stack and not row.error}
        for workers, limit in TIME_RATIO_LIMITS.items():
            if workers in sized:
                ratio = sized[workers].time_ratio
                lines.append(f"{stack}: plan / floor at {workers} workers {ratio:.2f} (limit {limit}) {_verdict(ratio, limit)}")
        if 100 in sized and 1000 in sized:
            growth = sized[1000].median("plan", "seconds") / sized[100].median("plan", "seconds")
            floor_growth = sized[1000].median("floor", "seconds") / sized[100].median("floor", "seconds")
            lines.append(
                f"{stack}: plan time 100 -> 1000 workers x{growth:.1f} (limit x{GROWTH_LIMIT:.0f}; floor x{floor_growth:.1f}) "
                f"{_verdict(growth, GROWTH_LIMIT)}"
            )
        if 1000 in sized:
            ratio = sized[1000].memory_ratio
            lines.append(
                f"{stack}: peak memory / floor's at 1000 workers {ratio:.2f} (limit {MEMORY_RATIO_LIMIT}) "
                f"{_verdict(ratio, MEMORY_RATIO_LIMIT)}"
            )
        paths = {
            workers: (row.critical_path["steps"], round(row.critical_path["seconds"] / 60, 1))
            for workers, row in sized.items()
            if row.critical_path
        }
        if len(set(paths.values())) == 1:
            steps, minutes = next(iter(paths.values()))
            lines.append(f"{stack}: time to a ready platform: a chain of {steps} resources, {minutes} min modelled, at every size")
        elif paths:
            lines.append(f"{stack}: time to a ready platform by workers (chain, minutes): {paths}")
    return lines


def _verdict(value: float, limit: float) -> str:
    return "ok" if value <= limit else "OVER"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--stacks", nargs="*", help="stack names (default: every stacks/Pulumi.*.yaml)")
    parser.add_argument("--workers", nargs="*", type=int, default=list(SIZES), help="worker counts")
    parser.add_argument("--runs", type=int, help="runs per size (default: 7, 5 at 1000 workers and more)")
    options = parser.parse_args()
    stacks = options.stacks or discover(PROJECT / "stacks")
    started = time.perf_counter()
    print(
        f"hybrid-infra bench {datetime.date.today().isoformat()}: Python {platform.python_version()}, "
        f"pulumi {metadata.version('pulumi')}, {os.cpu_count()} cores; medians, fresh process per run",
        flush=True,
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="hybrid-infra-bench-") as scratch:
        for stack in stacks:
            for workers in options.workers:
                runs = options.runs or RUNS.get(workers, 5 if workers >= 1000 else 7)
                rows.append(bench(stack, workers, runs, Path(scratch)))
                print(table(rows)[-1], flush=True)
    print()
    print("\n".join(table(rows)))
    print()
    print("\n".join(checks(rows)))
    print(f"\nbench took {time.perf_counter() - started:.0f} s")


main()
