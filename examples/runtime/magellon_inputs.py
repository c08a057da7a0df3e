"""Request checks shared by the Magellon example plugins: field lists, numbers, images.

One copy lives in examples/runtime/; each plugin's magellon_inputs.py links to it, and
`hub pack` stores the file's contents in the archive. Every check raises ValueError with
a message written for the client (the runtime answers 400 with it) and returns the value
in the type compute code wants. A plugin class subclasses FieldsPlugin:

    class TopazPlugin(FieldsPlugin):
        REQUIRED = ("image",)
        OPTIONAL = {"threshold": None}

        def run(self, fields):
            return compute.pick_particles(**fields)
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from magellon_runtime import NullReporter

__all__ = [
    "FieldsPlugin",
    "NullReporter",
    "choice",
    "flag",
    "image_stack",
    "integer",
    "matrix",
    "number",
    "out_of_range",
    "read_fields",
    "vector",
]

# --------------------------------------------------------------------------- fields


def read_fields(input: Any, required: Sequence[str], optional: Mapping[str, Any]) -> dict[str, Any]:
    """The input's fields with the optional ones' defaults filled in; unknown or missing fields are a ValueError."""
    if not isinstance(input, dict):
        raise ValueError("input must be a JSON object")
    unknown = sorted(set(input) - set(required) - set(optional))
    if unknown:
        raise ValueError(f"unknown input field(s): {', '.join(unknown)}")
    missing = [key for key in required if key not in input]
    if missing:
        raise ValueError(f"missing input field(s): {', '.join(missing)}")
    return {**optional, **input}


class FieldsPlugin:
    """execute() for a plugin that checks the request's fields, then hands them to run()."""

    #: Fields the request must have, and the optional ones with their defaults (keep in step with schemas/input.json).
    REQUIRED: Sequence[str] = ()
    OPTIONAL: Mapping[str, Any] = {}
    #: The progress message logged before run().
    STARTED = "started"

    def read(self, input: Any) -> dict[str, Any]:
        """The request's fields with defaults filled in; override to check more before run()."""
        return read_fields(input, self.REQUIRED, self.OPTIONAL)

    def started(self, fields: dict[str, Any]) -> str:
        """The progress message logged before run()."""
        return self.STARTED

    def run(self, fields: dict[str, Any]) -> dict[str, Any]:
        """The work: the result for checked fields (a JSON-serialisable dict)."""
        raise NotImplementedError

    def finished(self, result: dict[str, Any]) -> str:
        """The progress message logged after run()."""
        return "done"

    def execute(self, input: Any, reporter: Any = None) -> dict[str, Any]:
        """What the runtime calls for every POST /run; without a reporter (in tests) nothing is logged."""
        reporter = reporter or NullReporter()
        fields = self.read(input)
        reporter.progress(0.0, self.started(fields))
        result = self.run(fields)
        reporter.progress(1.0, self.finished(result))
        return result


# --------------------------------------------------------------------------- values


def out_of_range(name: str, value: object, low: object, high: object) -> ValueError:
    """The error for a value outside [low, high] (either bound may be None)."""
    if low is not None and high is not None:
        return ValueError(f"{name} must be between {low} and {high}, got {value}")
    if low is not None:
        return ValueError(f"{name} must be at least {low}, got {value}")
    return ValueError(f"{name} must be at most {high}, got {value}")


def number(value: object, name: str, low: float | None = None, high: float | None = None) -> float:
    """A finite number (not a bool) within the optional bounds, as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise out_of_range(name, value, low, high)
    return float(value)


def integer(value: object, name: str, low: int | None = None, high: int | None = None) -> int:
    """A whole number (2.0 counts, a bool does not) within the optional bounds, as an int."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise out_of_range(name, value, low, high)
    return value


def flag(value: object, name: str) -> bool:
    """A JSON true or false."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false")
    return value


def choice(value: object, name: str, options: Collection[str]) -> str:
    """One of the given strings."""
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(options)}, got {value!r}")
    return str(value)


def vector(values: Sequence[object], name: str) -> list[float]:
    """Every item a finite number, as floats; the caller checks that values is a list of a fitting length."""
    return [number(v, f"{name}[{i}]") for i, v in enumerate(values)]


def matrix(value: object, name: str, max_elements: int | None = None) -> list[list[float]]:
    """A non-empty rectangular list of rows of finite numbers, as floats; at most max_elements of them if given."""
    if not isinstance(value, list) or not value or not all(isinstance(row, list) for row in value):
        raise ValueError(f"{name} must be a non-empty list of rows (a 2-D image)")
    width = len(value[0])
    if width == 0:
        raise ValueError(f"{name} rows must not be empty")
    if max_elements is not None and len(value) * width > max_elements:
        raise ValueError(f"{name} has {len(value) * width} pixels; the limit is {max_elements}")
    out = []
    for r, row in enumerate(value):
        if len(row) != width:
            raise ValueError(f"{name} row {r} has {len(row)} values; row 0 has {width}")
        out.append(vector(row, f"{name}[{r}]"))
    return out


def image_stack(value: object, name: str, max_elements: int | None = None) -> list[list[list[float]]]:
    """A non-empty list of matrices (each at most max_elements) that all have the first one's shape."""
    if not isinstance(value, list) or not value:
        raise ValueError(f"{name} must be a non-empty list of 2-D images")
    images = [matrix(image, f"{name}[{i}]", max_elements) for i, image in enumerate(value)]
    h, w = len(images[0]), len(images[0][0])
    for i, image in enumerate(images):
        if (len(image), len(image[0])) != (h, w):
            raise ValueError(f"{name}[{i}] is {len(image)}x{len(image[0])}; {name}[0] is {h}x{w}")
    return images
