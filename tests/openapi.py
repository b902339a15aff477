"""Objects checked against the KubeVirt and CDI OpenAPI specifications in ``tests/schemas``, strictly:
a field a definition does not name is an error. The examples' tests use them too."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

SCHEMAS = Path(__file__).resolve().parent / "schemas"
KUBEVIRT_SCHEMA = SCHEMAS / "kubevirt-v1.9.0-openapi.json"
CDI_SCHEMA = SCHEMAS / "cdi-v1.66.0-openapi.json"


@cache
def openapi(path: Path) -> dict[str, Any]:
    """The spec's definitions, strict: a field a definition does not name is an error."""
    definitions = copy.deepcopy(json.loads(path.read_text())["definitions"])
    for definition in definitions.values():
        if "properties" in definition and "additionalProperties" not in definition:
            definition["additionalProperties"] = False
    return definitions


def check_openapi(document: dict[str, Any], path: Path, definition: str) -> None:
    schema = {"$ref": f"#/definitions/{definition}", "definitions": openapi(path)}
    errors = sorted(jsonschema.Draft4Validator(schema).iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors)
