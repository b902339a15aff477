"""Configuration errors: one line per problem, naming the key path, the value given and what is allowed."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar, Union

from pulumi.errors import RunError
from pydantic import BaseModel, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """Invalid configuration: one human-readable line per problem, ``<key path>: <what is wrong>``.

    A ValueError, as pydantic expects of a validator: one raised while other data is validated (a
    validator that builds a model) becomes that data's problem, and :func:`format_errors` names its
    keys below the key being validated."""

    def __init__(self, problems: Iterable[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))

    def keyed(self) -> list[tuple[str, str]]:
        """Each problem as its key path and what is wrong with the value there."""
        return [_split(line) for line in self.problems]


class ConfigRunError(RunError):
    """A problem of the configuration that shows only while the program runs, inside an Output's apply,
    where no caller of the program can catch it: `hybrid-infra plan` prints its lines as a
    :class:`ConfigError`'s, and `pulumi up` stops on it as on any RunError, with the message and no traceback.

    Not a :class:`ConfigError`: that is a ValueError, and Pulumi re-raises a ValueError it meets while it
    serializes a resource's inputs as a new ValueError ("While processing input: ..."), which the engine
    reports with a traceback, whereas a RunError must reach it as it is. Catch both with ``CONFIG_ERRORS``."""

    def __init__(self, problems: Iterable[str]):
        self.problems = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "invalid stack configuration:\n" + "\n".join(self.problems)


CONFIG_ERRORS: tuple[type[Exception], ...] = (ConfigError, ConfigRunError)
"""What a bad configuration raises, before the program runs or while it does."""


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


def format_problems(found: Sequence[PydanticCustomError]) -> list[str]:
    """The lines of problems made by :func:`problem` outside a validation, each naming its key."""
    return [f"{(error.context or {}).get('key') or TOP_LEVEL}: {error.message()}" for error in found]


def problems_of(check: Callable[[], object]) -> list[PydanticCustomError]:
    """The problems ``check`` raises, one (:func:`problem`) or several (:func:`raise_problems`), to
    report beside others; anything else it raises goes on."""
    try:
        check()
    except PydanticCustomError as error:
        return [error]
    except ValidationError as error:
        items = error.errors(include_url=False)
        if not all(item["type"] == "hybrid_infra" and not item["loc"] for item in items):
            raise
        return [PydanticCustomError("hybrid_infra", "{message}", dict(item["ctx"])) for item in items]
    return []


def validate(model: type[M], value: Any, path: str = "") -> M:
    """Validate one component argument with the same messages as stack config, its keys named below ``path``."""
    if isinstance(value, model):
        return value
    return checked(model, value, path)


def checked(model: type[M], value: Any, path: str = "") -> M:
    """``value`` validated into a ``model``, as pydantic's ``model_validate`` does; :class:`ConfigError` with
    one line per problem, each naming its key below ``path`` as a stack file spells it."""
    try:
        validated: M = model.__pydantic_validator__.validate_python(value)
    except ValidationError as error:
        raise ConfigError(format_errors(error, model, path)) from None
    return validated


def format_errors(error: ValidationError, root: type[BaseModel], prefix: str = "") -> list[str]:
    """One line per error, naming its key as a stack file does (camelCase, below ``prefix``)."""
    lines = []
    for item in error.errors(include_url=False):
        loc = _aliased(root, list(item["loc"]))
        ctx = item.get("ctx") or {}
        nested = ctx.get("error")
        if item["type"] == "hybrid_infra":
            if ctx.get("absolute") and ctx.get("key"):
                # Named from the top of the stack: no prefix.
                lines.append(f"{ctx['key']}: {ctx['message']}")
                continue
            if ctx.get("key"):
                loc = loc + [ctx["key"]]
            message = ctx["message"]
        elif item["type"] == "value_error" and isinstance(nested, ConfigError):
            # A model built while this one was validated: its keys lie below the key at hand.
            here = _path(loc, prefix) if loc or prefix else ""
            lines += [_below(here, line) for line in nested.problems]
            continue
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


TOP_LEVEL = "(top level)"


def _split(line: str) -> tuple[str, str]:
    path, _, message = line.partition(": ")
    return path, message


def _below(prefix: str, line: str) -> str:
    """A problem line whose key path lies below ``prefix``."""
    path, message = _split(line)
    if not prefix:
        return line
    if path == TOP_LEVEL:
        return f"{prefix}: {message}"
    return f"{prefix}{'' if path.startswith('[') else '.'}{path}: {message}"


def _aliased(root: type[BaseModel], loc: list[Any]) -> list[Any]:
    """``loc`` with each field named as a stack file names it (its alias): a model built in Python may
    have been given the fields' Python names. The keys of a mapping (labels, flavors) stay as given."""
    named: list[Any] = []
    current: Any = root
    for part in loc:
        current = _unwrapped(current)
        origin = typing.get_origin(current)
        if isinstance(current, type) and issubclass(current, BaseModel) and isinstance(part, str):
            field = current.model_fields.get(part)
            if field is None:
                field = next((f for f in current.model_fields.values() if f.alias == part), None)
            named.append(field.alias or part if field is not None else part)
            current = field.annotation if field is not None else None
            continue
        if origin is list and isinstance(part, int):
            current = typing.get_args(current)[0]
        elif origin is dict and part != "[key]":
            current = typing.get_args(current)[1]
        else:
            current = None
        named.append(part)
    return named


def _unwrapped(annotation: Any) -> Any:
    """The type inside ``Annotated[...]`` and ``X | None``; a union of several types as it is."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


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
    return ".".join(parts) or TOP_LEVEL


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

