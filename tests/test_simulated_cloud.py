"""The simulated cloud answers look-ups as the engine relays a provider's answers."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from hybrid_infra.config import ConfigError
from hybrid_infra.offline import cloud
from hybrid_infra.offline.cloud import LookupFailed
from hybrid_infra.testing import simulate

TOKEN = "test:index/getImage:getImage"


@pytest.fixture
def image_look_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """A look-up answered like a platform's: found, or failed because nothing matches."""
    original = cloud.SimulatedCloud.__init__

    def with_look_up(self: cloud.SimulatedCloud, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)

        def answer(args: dict[str, Any]) -> dict[str, Any]:
            if args["name"] != "present":
                raise LookupFailed(f"no image named {args['name']!r}")
            return {"id": "image-1"}

        self._calls[TOKEN] = answer

    monkeypatch.setattr(cloud.SimulatedCloud, "__init__", with_look_up)


def test_a_failed_look_up_fails_the_call_where_the_program_can_name_the_key(image_look_up):
    seen: list[str] = []

    def program() -> None:
        assert pulumi.runtime.invoke(TOKEN, {"name": "present"}).value == {"id": "image-1"}
        try:
            pulumi.runtime.invoke(TOKEN, {"name": "missing"})
        except Exception as error:
            seen.append(str(error))
            raise ConfigError(["section.image: 'missing' matches no image"]) from None

    # The program's own error ends the run, not the look-up's.
    with pytest.raises(ConfigError) as caught:
        simulate(program, stack="test", config={})
    assert caught.value.problems == ["section.image: 'missing' matches no image"]
    assert seen == [f"invoke of {TOKEN} failed: no image named 'missing' ()"]
