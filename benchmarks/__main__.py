"""Time the offline plan of the dev stack and of a large stack (5 control-plane nodes, 200 workers).

Reports the median of several runs; nothing is asserted, numbers are for comparison between commits.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from hybrid_infra.config import parse_stack_config
from hybrid_infra.offline.plan import (
    Plan,
    Redactor,
    StackConfig,
    load_stack,
    plan_document,
)
from hybrid_infra.offline.simulate import simulate
from hybrid_infra.platform import program

STACKS = Path(__file__).resolve().parent.parent / "stacks"


def measure(label: str, action: Callable[[], object], runs: int) -> None:
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        timings.append(time.perf_counter() - start)
    print(f"{label:<40} median {statistics.median(timings) * 1000:9.1f} ms over {runs} runs")


def main() -> None:
    dev = load_stack(STACKS, "dev").values
    large = copy.deepcopy(dev)
    large["hybrid-infra:cluster"]["controlPlane"]["count"] = 5
    large["hybrid-infra:cluster"]["network"]["nodeCidr"] = "10.20.0.0/22"
    large["hybrid-infra:cluster"]["pools"][0]["count"] = 150
    large["hybrid-infra:cluster"]["pools"][1]["count"] = 50
    for label, config, runs in (("dev (8 nodes)", dev, 10), ("large (205 nodes)", large, 3)):
        bench_stack(label, config, runs)


def bench_stack(label: str, config: dict, runs: int) -> None:
    spec = parse_stack_config(config)
    measure(f"validate {label}", lambda: parse_stack_config(config), runs)
    measure(f"simulate {label}", lambda: simulate(program, stack="bench", config=config, spec=spec), runs)
    result = simulate(program, stack="bench", config=config, spec=spec)
    plan = Plan("bench", spec, result, StackConfig(STACKS / "bench", config, [], []))
    measure(f"render plan {label}", lambda: plan_document(plan, Redactor(result, False)), runs)

main()
