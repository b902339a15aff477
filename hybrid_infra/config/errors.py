"""Configuration errors: one line per problem, naming the key path, the value given and what is allowed."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Union

from pulumi.errors import RunError
from pydantic import BaseModel, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError


class ConfigError(Exception):
    """Invalid configuration: one human-readable line per problem."""

    def __init__(self, problems: Iterable[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class ConfigRunError(ConfigError, RunError):
    """A problem of the configuration that shows only while the program runs, inside an Output's apply,
    where no caller of the program can catch it: `hybrid-infra plan` prints its lines as a
    :class:`ConfigError`'s, and `pulumi up` stops on it as on any RunError, with the message and no traceback."""

    def __str__(self) -> str:
        return "invalid stack configuration:\n" + "\n".join(self.problems)


def problem(message: str, key: str | None = None, absolute: bool = False) -> PydanticCustomError:
    """A validation error whose message is final; ``key`` extends the path below the model, or with
    ``absolute`` replaces it (checks across sections name the key from the top)."""
    return PydanticCustomError("hybrid_infra", "{message}", {"message": message, "key": key, "absolute": absolute})


def raise_problems(found: Sequence[PydanticCustomError]) -> None:
    """Raise every problem a check found, at once: raised one by one, a validator reports only its first.

    Each is made by :func:`problem`; pydantic takes a ValidationError raised in a validator as its line
    errors, which :func:`format_errors` turns into one line each, in order."""
    if len(found) == 1:
        raise found[0]
    if found:
        raise ValidationError.from_exception_data(
            "problems", [InitErrorDetails(type=error, loc=(), input=None) for error in found]
        )


def validate(model: type[BaseModel], value: Any, path: str = "") -> Any:
    """Validate one component argument with the same messages as stack config."""
    if isinstance(value, model):
        return value
    try:
        return model.model_validate(value)
    except ValidationError as error:
        raise ConfigError(format_errors(error, model, path)) from None


def format_errors(error: ValidationError, root: type[BaseModel], prefix: str = "") -> list[str]:
    lines = []
    for item in error.errors(include_url=False):
        loc = list(item["loc"])
        ctx = item.get("ctx") or {}
        if item["type"] == "hybrid_infra":
            if ctx.get("key"):
                loc = [ctx["key"]] if ctx.get("absolute") else loc + [ctx["key"]]
            message = ctx["message"]
        else:
            message = _message(item, root, loc)
        lines.append(f"{_path(loc, prefix)}: {message}")
    return lines


def _message(item: Mapping[str, Any], root: type[BaseModel], loc: list[Any]) -> str:
    kind = item["type"]
    given = item.get("input")
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        model = _model_at(root, loc[:-1])
        allowed = [field.alias or name for name, field in model.model_fields.items()] if model else []
        return f"unknown key{suggestion(str(loc[-1]), allowed)}"
    if kind == "literal_error":
        return f"{given!r} is not allowed; use one of {item['ctx']['expected']}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"{given!r} is not allowed; expected a whole number"
    if kind in ("bool_type", "bool_parsing"):
        return f"{given!r} is not allowed; expected true or false"
    if kind in ("list_type",):
        return f"{given!r} is not allowed; expected a list"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"{given!r} is not allowed; expected a mapping of keys to values"
    if kind in ("string_type",):
        return f"{given!r} is not allowed; expected a string"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        limit = next(iter(item["ctx"].values()))
        relation = {"greater_than_equal": ">=", "less_than_equal": "<=", "greater_than": ">", "less_than": "<"}
        return f"{given!r} is not allowed; use a number {relation[kind]} {limit}"
    return f"{given!r} is not allowed; {item['msg'][0].lower()}{item['msg'][1:]}"


def suggestion(word: str, allowed: list[str], prefix: str = "") -> str:
    close = difflib.get_close_matches(word, allowed, n=1, cutoff=0.6)
    if close:
        return f"; did you mean '{prefix}{close[0]}'?"
    return f"; allowed keys: {', '.join(allowed)}" if allowed else ""


def _path(loc: list[Any], prefix: str = "") -> str:
    parts = [prefix] if prefix else []
    for part in loc:
        if part == "[key]":  # pydantic marks an invalid dict key this way; the key itself is named already
            continue
        if isinstance(part, int):
            part = f"[{part}]"
        if part.startswith("[") and parts:
            parts[-1] += part
        else:
            parts.append(part)
    return ".".join(parts) or "(top level)"


def _model_at(root: type[BaseModel], loc: list[Any]) -> type[BaseModel] | None:
    """The model class reached by following ``loc`` (aliases and list indexes) from ``root``."""
    current: Any = root
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = next((f for n, f in current.model_fields.items() if part in (n, f.alias)), None)
        if field is None:
            return None
        current = _model_in(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _model_in(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType, list, typing.Annotated):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if isinstance(found, type) and issubclass(found, BaseModel):
                return found
        return None
    return annotation

