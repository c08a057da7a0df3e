"""The Stack Maker plugin: checks the request's fields and calls plugin.compute.make_stack.

The runtime (magellon_runtime.py) calls ``StackMakerPlugin().execute(input, reporter)`` for
every POST /run; a ValueError becomes a 400 answer, anything else a 500.
"""

from __future__ import annotations

from typing import Any

from magellon_runtime import NullReporter

from . import compute

REQUIRED = ("image", "coordinates", "box_size")
OPTIONAL: dict[str, Any] = {
    "edge": "skip",
    "pad_value": None,
    "normalize": False,
    "micrograph_name": "micrograph.mrc",
    "stack_name": "particles.mrcs",
}


def read_input(input: Any) -> dict[str, Any]:
    """The input's fields with defaults filled in; unknown or missing fields are a ValueError."""
    if not isinstance(input, dict):
        raise ValueError("input must be a JSON object")
    unknown = sorted(set(input) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise ValueError(f"unknown input field(s): {', '.join(unknown)}")
    missing = [key for key in REQUIRED if key not in input]
    if missing:
        raise ValueError(f"missing input field(s): {', '.join(missing)}")
    return {**OPTIONAL, **input}


class StackMakerPlugin:
    def execute(self, input: dict[str, Any], reporter: Any = None) -> dict[str, Any]:
        reporter = reporter or NullReporter()
        fields = read_input(input)
        reporter.progress(0.0, 'extracting')
        result = compute.make_stack(**fields)
        reporter.progress(1.0, f"{result['count']} particles, {len(result['skipped'])} skipped")
        return result
