"""The CTF plugin: checks the request's fields and calls plugin.compute.fit_defocus.

The runtime (magellon_runtime.py) calls ``CtfPlugin().execute(input, reporter)`` for
every POST /run; a ValueError becomes a 400 answer, anything else a 500.
"""

from __future__ import annotations

from typing import Any

from magellon_runtime import NullReporter

from . import compute

REQUIRED = ("power_spectrum", "pixel_size_angstrom")
OPTIONAL = {
    "voltage_kv": 300.0,
    "defocus_min_angstrom": 5000.0,
    "defocus_max_angstrom": 50000.0,
    "defocus_step_angstrom": 100.0,
    "min_resolution_angstrom": 30.0,
    "max_resolution_angstrom": 5.0,
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


class CtfPlugin:
    def execute(self, input: dict[str, Any], reporter: Any = None) -> dict[str, Any]:
        reporter = reporter or NullReporter()
        fields = read_input(input)
        reporter.progress(0.0, "searching defocus")
        result = compute.fit_defocus(**fields)
        reporter.progress(1.0, f"defocus {result['defocus_micrometer']:.3f} µm, score {result['score']:.3f}")
        return result
