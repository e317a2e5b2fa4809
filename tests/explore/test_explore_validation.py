"""Request checks: each failure is a BadRequestError whose message says what was wrong."""

from __future__ import annotations

import math

import pytest

from plausible.explore.validation import (
    BadRequestError,
    check_fields,
    choice_field,
    int_field,
    number_field,
    parse_json_object,
    vector_field,
)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"[1, 2]", "JSON object"),
        (b"{", "not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b'{"z": NaN}', "NaN"),
        (b'{"z": Infinity}', "Infinity"),
        (b'"text"', "JSON object"),
    ],
    ids=str,
)
def test_bad_bodies(raw: bytes, message: str) -> None:
    with pytest.raises(BadRequestError, match=message):
        parse_json_object(raw)


def test_empty_body_is_an_empty_object() -> None:
    assert parse_json_object(b"") == {}
    assert parse_json_object(b'{"a": 1}') == {"a": 1}


def test_fields_unknown_and_missing() -> None:
    check_fields({"z": 1}, required=("z",), optional=("format",))
    with pytest.raises(
        BadRequestError, match=r"unknown field\(s\) 'zz'; accepted fields: format, z"
    ):
        check_fields({"zz": 1}, required=("z",), optional=("format",))
    with pytest.raises(BadRequestError, match="missing field"):
        check_fields({}, required=("z",))


@pytest.mark.parametrize("value", [True, 1.5, "3", None, [1], -1, 11], ids=str)
def test_int_field_refuses(value: object) -> None:
    with pytest.raises(BadRequestError, match="'index'"):
        int_field({"index": value}, "index", low=0, high=10)


def test_int_and_number_fields_accept_and_default() -> None:
    assert int_field({"index": 10}, "index", low=0, high=10) == 10
    assert int_field({}, "count", low=1, high=5, default=3) == 3
    with pytest.raises(BadRequestError, match="missing field 'index'"):
        int_field({}, "index")
    assert number_field({"x": 0}, "x", low=-1, high=1) == 0.0
    for bad in (2.0, math.inf, True, "0"):
        with pytest.raises(BadRequestError, match="'x'"):
            number_field({"x": bad}, "x", low=-1, high=1)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([0.0, 0.0], "exactly 3 numbers"),
        ("0,0,0", "must be a list"),
        ([0, 0, "1"], r"z\[2\] must be a finite number"),
        ([0, True, 0], r"z\[1\] must be a finite number"),
        ([0, 0, math.nan], r"z\[2\] must be a finite number"),
        ([0, 5.01, 0], r"z\[1\] = 5.01 is out of range"),
    ],
    ids=str,
)
def test_vector_field_refuses(values: object, message: str) -> None:
    with pytest.raises(BadRequestError, match=message):
        vector_field({"z": values}, "z", length=3, limit=5.0)


def test_vector_field_accepts_the_limits() -> None:
    assert vector_field({"z": [-5, 0, 5.0]}, "z", length=3, limit=5.0) == [-5.0, 0.0, 5.0]
    with pytest.raises(BadRequestError, match="missing field 'z'"):
        vector_field({}, "z", length=3, limit=5.0)


def test_choice_field() -> None:
    assert choice_field({}, "format", ("png", "array"), "png") == "png"
    assert choice_field({"format": "array"}, "format", ("png", "array"), "png") == "array"
    for bad in ("jpeg", ["png"], 1):
        with pytest.raises(BadRequestError, match="'format' must be one of"):
            choice_field({"format": bad}, "format", ("png", "array"), "png")
