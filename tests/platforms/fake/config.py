from __future__ import annotations

from hybrid_infra.platforms.contract import PlatformSection, PoolPlacement
from hybrid_infra.topology import NodeGroup


class FakeSpec(PlatformSection):
    machines: dict[str, str] = {}
    """size -> machine type"""

    def provides_storage_class(self) -> bool:
        return True

    def placement(self, group: NodeGroup) -> PoolPlacement:
        return PoolPlacement(self.machines.get(group.size, "-"))


SECTION = FakeSpec
