"""The FFT plugin: checks the request and calls plugin.compute.

The runtime (magellon_runtime.py) calls ``FftPlugin().execute(input, reporter)`` for
every POST /run; a ValueError becomes a 400 answer, anything else a 500.
"""

from __future__ import annotations

from typing import Any

from magellon_runtime import NullReporter

from . import compute

REQUIRED = ("data",)
OPTIONAL = {"shift": False, "log_scale": False}


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
    fields = {**OPTIONAL, **input}
    for key in ("shift", "log_scale"):
        if not isinstance(fields[key], bool):
            raise ValueError(f"{key} must be true or false")
    return fields


class FftPlugin:
    def execute(self, input: dict[str, Any], reporter: Any = None) -> dict[str, Any]:
        reporter = reporter or NullReporter()
        fields = read_input(input)
        reporter.progress(0.0, "transforming")
        result = compute.magnitude_spectrum(fields["data"], shift=fields["shift"], log_scale=fields["log_scale"])
        reporter.progress(1.0, f"padded to {'x'.join(map(str, result['padded_shape']))}")
        return result
