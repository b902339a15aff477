from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from hybrid_infra.config.cluster import NodeLimit
from hybrid_infra.platforms.contract import PlatformSection, PoolPlacement
from hybrid_infra.topology import NodeGroup, node_groups

if TYPE_CHECKING:
    from hybrid_infra.stack import StackSpec


class FakeSpec(PlatformSection):
    stack_key: ClassVar[str] = "fake"

    size_map: ClassVar[str | None] = "machines"

    machines: dict[str, str] = {}
    """size -> machine type"""
    max_machines: int | None = None
    """The project's quota of machines, as a stack may state it."""
    max_by_size: dict[str, int] = {}
    """size -> the quota of machines of that size"""

    def provides_storage_class(self) -> bool:
        return True

    def placement(self, group: NodeGroup) -> PoolPlacement:
        return PoolPlacement(self.machines.get(group.size, "-"))

    def check(self, stack: StackSpec) -> None:
        limits = []
        if self.max_machines is not None:
            limits.append(NodeLimit("fake.maxMachines", str(self.max_machines), self.max_machines, "one machine each"))
        for size, quota in self.max_by_size.items():
            pools = [group.name for group in node_groups(stack.cluster) if group.size == size]
            limits.append(NodeLimit(f"fake.maxBySize.{size}", str(quota), quota, pools=pools))
        for limit in limits:
            limit.check(stack.nodes_on("fake", limit.pools))


SECTION = FakeSpec
