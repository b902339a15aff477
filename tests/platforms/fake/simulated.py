from __future__ import annotations

from types import SimpleNamespace
from typing import Any


def answers(cloud: Any) -> SimpleNamespace:
    def network(resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        cloud.add_network(resource_id, inputs["cidr"])
        return {}

    def address(resource_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        return {"address": cloud.allocate(inputs["network"])}

    return SimpleNamespace(
        resources={"fake:index:Network": network, "fake:index:Address": address, "fake:index:Machine": address}, calls={}
    )
