"""Where a plan's time goes: ``python -m benchmarks.profile [--stack dev] [--workers 1000]``.

Runs ``hybrid-infra plan`` in-process under cProfile, in every thread (the simulation runs in its
own), on the stack scaled as the bench scales it. Prints the wall time, the time Python's cyclic
collector took (from ``gc.callbacks``: cProfile does not see it), own time by area (the library
each function belongs to) and the functions with the most own time. cProfile slows everything
down, the interpreter's own work least: compare shares, not seconds, with the bench.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import os
import pstats
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from .scaling import write_scaled

PROJECT = Path(__file__).resolve().parent.parent
AREAS = (
    ("/yaml/", "PyYAML"),
    ("/pulumi_kubernetes/", "provider SDKs"),
    ("/pulumi_openstack/", "provider SDKs"),
    ("/pulumi_tls/", "provider SDKs"),
    ("/pulumi_random/", "provider SDKs"),
    ("/pulumiverse_time/", "provider SDKs"),
    ("/pulumi/", "Pulumi SDK"),
    ("/google/protobuf/", "protobuf"),
    ("/grpc/", "gRPC"),
    ("/asyncio/", "asyncio"),
    ("/concurrent/", "threads"),
    ("threading.py", "threads"),
    ("/json/", "json"),
    ("/rich/", "terminal output"),
    ("/hybrid_infra/offline/", "hybrid-infra offline"),
    ("/hybrid_infra/", "hybrid-infra program"),
    ("/cryptography/", "cryptography"),
    ("/Crypto/", "cryptography"),
    ("/pydantic", "pydantic"),
    ("<frozen importlib", "imports"),
)


def area(filename: str, function: str) -> str:
    for marker, name in AREAS:
        if marker in filename:
            return name
    if filename == "~":
        if "lock" in function or "SimpleQueue" in function or "poll" in function:
            return "waiting (other threads)"
        return "built-ins"
    return "other"


class CollectorClock:
    """Time spent in Python's cyclic garbage collector, in every thread."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = Counter[int]()
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.collections[info["generation"]] += 1


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--workers", type=int, default=1000)
    parser.add_argument("--top", type=int, default=25, help="functions listed")
    parser.add_argument("--save", type=Path, help="write the merged pstats here too")
    options = parser.parse_args()

    profilers: list[cProfile.Profile] = []
    thread_run = threading.Thread.run

    def profiled_run(self: threading.Thread) -> None:
        profiler = cProfile.Profile()
        profilers.append(profiler)
        profiler.enable()
        try:
            thread_run(self)
        finally:
            profiler.disable()

    threading.Thread.run = profiled_run  # type: ignore[method-assign]
    clock = CollectorClock()
    gc.callbacks.append(clock)
    with tempfile.TemporaryDirectory(prefix="hybrid-infra-profile-") as scratch:
        stacks = write_scaled(PROJECT, options.stack, options.workers, Path(scratch))
        sys.argv = ["hybrid-infra", "plan", options.stack, "--stacks", str(stacks), "--out", f"{scratch}/out"]
        main_profiler = cProfile.Profile()
        profilers.append(main_profiler)
        started = time.perf_counter()
        main_profiler.enable()
        from hybrid_infra.cli import app

        try:
            with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
                app(standalone_mode=False)
        finally:
            main_profiler.disable()
        wall = time.perf_counter() - started
    gc.callbacks.remove(clock)
    threading.Thread.run = thread_run  # type: ignore[method-assign]

    stats = pstats.Stats(profilers[0])
    for profiler in profilers[1:]:
        stats.add(profiler)
    if options.save:
        stats.dump_stats(options.save)
    by_area: Counter[str] = Counter()
    functions = []
    raw = stats.stats  # type: ignore[attr-defined]
    for (filename, line, function), (_, calls, own, _, _) in raw.items():
        by_area[area(filename, function)] += own
        functions.append((own, calls, f"{_short(filename)}:{line}({function})"))
    working = sum(seconds for name, seconds in by_area.items() if name != "waiting (other threads)")
    print(
        f"{options.stack}, 3 control-plane nodes + {options.workers} workers: {wall:.2f} s under cProfile; "
        f"cyclic GC {clock.seconds:.2f} s ({clock.seconds / wall:.0%} of wall) in "
        f"{sum(clock.collections.values())} collections ({dict(sorted(clock.collections.items()))} by generation)"
    )
    print(f"\nown time by area (profiled, {working:.2f} s outside waits):")
    for name, seconds in by_area.most_common():
        if name != "waiting (other threads)":
            print(f"  {seconds:7.2f} s {seconds / working:5.0%}  {name}")
    print(f"\n{options.top} functions with the most own time (waits left out):")
    working_functions = [
        entry for entry in functions if not any(wait in entry[2] for wait in ("acquire", "SimpleQueue", "epoll"))
    ]
    for own, calls, where in sorted(working_functions, reverse=True)[: options.top]:
        print(f"  {own:7.3f} s {calls:>9}  {where}")


def _short(filename: str) -> str:
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1]
    if filename.startswith(f"{PROJECT}/"):
        return filename[len(f"{PROJECT}/") :]
    if "/lib/python3" in filename:
        return filename.split("/lib/python3", 1)[1].partition("/")[2]
    return filename


if __name__ == "__main__":
    main()
