"""Checking one field of a JSON body: every problem is an Invalid naming the field, e.g.
`gpus[2].samples`, so a sender learns exactly what to fix."""

from __future__ import annotations

import math
from typing import Any

import orjson

from runtime.text import unsafe_character

MAX_TEXT = 256
NUMERIC = (int, float)
# (key, low, high, whole, required): one number of an object, checked by `numbers`.
NumberField = tuple[str, float, float, bool, bool]


class Invalid(ValueError):
    """A body we cannot store; becomes a 400 naming the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message

    def body(self) -> dict:
        """The JSON error body."""
        return {"error": self.message, "field": self.field}


def parse_json(raw: bytes, *, lists: bool = False) -> dict | list:
    """The body as a JSON object (or, with `lists`, an array); Invalid naming `body`.
    orjson parses a payload about 3x faster than json, and refuses what JSON does not
    allow (NaN, Infinity, bad UTF-8)."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as problem:
        raise Invalid("body", f"body is not valid JSON: {problem}") from None
    if not isinstance(data, dict) and not (lists and isinstance(data, list)):
        raise Invalid("body", "body must be a JSON object" + (" or array" if lists else ""))
    return data


def present(obj: dict, key: str, path: str, required: bool) -> tuple[Any, str]:
    """(obj[key] or None, the field's name); Invalid when it is required and missing."""
    value, where = obj.get(key), f"{path}{key}"
    if value is None and required:
        raise Invalid(where, f"{where} is required")
    return value, where


def number(
    obj: dict,
    key: str,
    path: str,
    low: float,
    high: float,
    *,
    whole: bool = False,
    required: bool = False,
) -> float | None:
    """obj[key] if it is a number in [low, high] (or absent/null when not required)."""
    value, where = present(obj, key, path, required)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Invalid(where, f"{where} must be a number")
    if whole and value != int(value):
        raise Invalid(where, f"{where} must be a whole number")
    if not low <= value <= high:
        raise Invalid(where, f"{where} must be from {low:g} to {high:g}")
    return value


def text(
    obj: dict, key: str, path: str, *, required: bool = False, most: int = MAX_TEXT
) -> str | None:
    """obj[key] if it is a string of at most `most` characters without control characters."""
    value, where = present(obj, key, path, required)
    if value is None:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise Invalid(where, f"{where} must be a non-empty string")
    if len(value) > most:
        raise Invalid(where, f"{where} must be at most {most} printable characters")
    bad = unsafe_character(value)  # C0/C1 controls and bidi overrides reach the hub's pages
    if bad is not None:
        raise Invalid(where, f"{where} contains the control character {bad}")
    return value


def items(obj: dict, key: str, path: str, most: int, *, required: bool = False) -> list:
    """obj[key] if it is a list of at most `most` JSON objects."""
    value = obj.get(key)
    where = f"{path}{key}"
    if value is None and not required:
        return []
    if not isinstance(value, list) or len(value) > most:
        raise Invalid(where, f"{where} must be a list of at most {most} objects")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise Invalid(f"{where}[{i}]", f"{where}[{i}] must be an object")
    return value


def obj(data: dict, key: str, path: str = "") -> dict:
    """data[key] if it is a JSON object."""
    value = data.get(key)
    if not isinstance(value, dict):
        raise Invalid(f"{path}{key}", f"{path}{key} must be an object")
    return value


def numbers(obj: dict, fields: tuple[NumberField, ...], path: str) -> None:
    """Check many numbers at once; only a bad one takes the slow path that words the error.
    (NaN and infinities cannot pass: JSON parsing refuses them and ranges exclude them.)"""
    for key, low, high, whole, required in fields:
        value = obj.get(key)
        if value is None:
            if required:
                number(obj, key, path, low, high, required=True)
        elif (
            type(value) not in NUMERIC
            or not low <= value <= high
            or (whole and value != int(value))
        ):
            number(obj, key, path, low, high, whole=whole, required=required)
