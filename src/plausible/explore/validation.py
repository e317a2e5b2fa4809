"""Strict checks of the explorer's JSON requests; a failure is a :class:`BadRequestError` (400)."""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any

__all__ = [
    "BadRequestError",
    "NotFoundError",
    "check_fields",
    "choice_field",
    "int_field",
    "number_field",
    "parse_json_object",
    "vector_field",
]

_MAX_INT = 2**31 - 1


class BadRequestError(ValueError):
    """A request the explorer refuses; its message is sent back to the client as it is."""


class NotFoundError(LookupError):
    """A path or an endpoint the explorer does not serve (HTTP 404)."""


def _reject_constant(name: str) -> Any:
    raise BadRequestError(
        f"the JSON body holds {name}, which is not a finite number; send finite numbers"
    )


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """Decode a request body that must be a UTF-8 JSON object (``{}`` for an empty body)."""
    if not raw.strip():
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BadRequestError(
            f"the request body is not UTF-8 ({err.reason} at byte {err.start})"
        ) from None
    try:
        body = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as err:
        raise BadRequestError(
            f"the request body is not valid JSON: {err.msg} at character {err.pos}"
        ) from None
    if not isinstance(body, dict):
        raise BadRequestError(
            f"the request body must be a JSON object {{...}}, got {type(body).__name__}"
        )
    return body


def check_fields(
    body: Mapping[str, Any], *, required: Collection[str] = (), optional: Collection[str] = ()
) -> None:
    """Refuse unknown fields and missing required ones, naming what is accepted."""
    allowed = set(required) | set(optional)
    unknown = sorted(set(body) - allowed)
    if unknown:
        names = ", ".join(sorted(allowed)) or "none"
        raise BadRequestError(
            f"unknown field(s) {', '.join(map(repr, unknown))}; accepted fields: {names}"
        )
    missing = [name for name in required if name not in body]
    if missing:
        raise BadRequestError(f"missing field(s) {', '.join(map(repr, missing))}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def int_field(
    body: Mapping[str, Any],
    name: str,
    *,
    low: int = 0,
    high: int = _MAX_INT,
    default: int | None = None,
) -> int:
    """An integer field in ``[low, high]``; ``default`` when absent (required when ``None``)."""
    if name not in body:
        if default is None:
            raise BadRequestError(f"missing field {name!r}: an integer in [{low}, {high}]")
        return default
    value = body[name]
    if not _is_int(value):
        raise BadRequestError(f"{name!r} must be an integer in [{low}, {high}], got {value!r}")
    if not low <= value <= high:
        raise BadRequestError(f"{name!r} = {value} is out of range; it must lie in [{low}, {high}]")
    return int(value)


def number_field(
    body: Mapping[str, Any], name: str, *, low: float, high: float, default: float | None = None
) -> float:
    """A finite number in ``[low, high]``; ``default`` when absent (required when ``None``)."""
    if name not in body:
        if default is None:
            raise BadRequestError(f"missing field {name!r}: a number in [{low:g}, {high:g}]")
        return default
    value = body[name]
    if not _is_number(value) or not math.isfinite(value):
        raise BadRequestError(
            f"{name!r} must be a finite number in [{low:g}, {high:g}], got {value!r}"
        )
    if not low <= value <= high:
        raise BadRequestError(
            f"{name!r} = {value:g} is out of range; it must lie in [{low:g}, {high:g}]"
        )
    return float(value)


def vector_field(body: Mapping[str, Any], name: str, *, length: int, limit: float) -> list[float]:
    """A list of exactly ``length`` finite numbers, each with ``|v| <= limit``."""
    if name not in body:
        raise BadRequestError(
            f"missing field {name!r}: a list of {length} numbers in [-{limit:g}, {limit:g}]"
        )
    values = body[name]
    if not isinstance(values, list):
        raise BadRequestError(
            f"{name!r} must be a list of {length} numbers, got {type(values).__name__}"
        )
    if len(values) != length:
        raise BadRequestError(
            f"{name!r} must hold exactly {length} numbers (one per latent dimension), "
            f"got {len(values)}"
        )
    for i, v in enumerate(values):
        if not _is_number(v) or not math.isfinite(v):
            raise BadRequestError(f"{name}[{i}] must be a finite number, got {v!r}")
        if abs(v) > limit:
            raise BadRequestError(
                f"{name}[{i}] = {v:g} is out of range; values must lie in "
                f"[-{limit:g}, {limit:g}] (prior standard deviations)"
            )
    return [float(v) for v in values]


def choice_field(body: Mapping[str, Any], name: str, choices: Sequence[str], default: str) -> str:
    """One of ``choices``; ``default`` when absent."""
    value = body.get(name, default)
    if value not in choices:
        raise BadRequestError(
            f"{name!r} must be one of {', '.join(map(repr, choices))}, got {value!r}"
        )
    return str(value)
