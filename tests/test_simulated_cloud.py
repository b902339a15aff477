"""The simulated cloud answers look-ups as the engine relays a provider's answers."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from hybrid_infra.config import ConfigError
from hybrid_infra.testing import LookupFailed, SimulatedCloud, simulate

TOKEN = "test:index/getImage:getImage"


def image_look_up(cloud: SimulatedCloud) -> None:
    """A look-up answered like a platform's: found, or failed because nothing matches."""

    def answer(args: dict[str, Any]) -> dict[str, Any]:
        if args["name"] != "present":
            raise LookupFailed(f"no image named {args['name']!r}")
        return {"id": "image-1"}

    cloud.answer_call(TOKEN, answer)


def test_a_failed_look_up_fails_the_call_where_the_program_can_name_the_key():
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
        simulate(program, stack="test", config={}, answers=image_look_up)
    assert caught.value.problems == ["section.image: 'missing' matches no image"]
    assert seen == [f"invoke of {TOKEN} failed: no image named 'missing' ()"]


def test_a_tests_own_answer_to_a_resource_replaces_the_clouds():
    def program() -> None:
        pulumi.CustomResource("tls:index/privateKey:PrivateKey", "key", {"algorithm": "ED25519"})

    result = simulate(
        program,
        stack="test",
        config={},
        answers=lambda cloud: cloud.answer_resource(
            "tls:index/privateKey:PrivateKey", lambda id_, name, inputs: {"publicKeyOpenssh": f"made for {name}"}
        ),
    )
    (key,) = result.of_type("tls:index/privateKey:PrivateKey")
    assert key.outputs["publicKeyOpenssh"] == "made for key"
    assert key.outputs["algorithm"] == "ED25519"
