"""The CTF plugin: checks the request's fields and calls plugin.compute.fit_defocus.

The runtime (magellon_runtime.py) calls ``CtfPlugin().execute(input, reporter)`` for
every POST /run; a ValueError becomes a 400 answer, anything else a 500. execute() comes
from magellon_inputs.FieldsPlugin: it checks the fields against REQUIRED and OPTIONAL,
then calls run().
"""

from __future__ import annotations

from typing import Any

from magellon_inputs import FieldsPlugin

from . import compute


class CtfPlugin(FieldsPlugin):
    REQUIRED = ("power_spectrum", "pixel_size_angstrom")
    OPTIONAL: dict[str, Any] = {
        "voltage_kv": 300.0,
        "defocus_min_angstrom": 5000.0,
        "defocus_max_angstrom": 50000.0,
        "defocus_step_angstrom": 100.0,
        "min_resolution_angstrom": 30.0,
        "max_resolution_angstrom": 5.0,
    }
    STARTED = "searching defocus"

    def run(self, fields: dict[str, Any]) -> dict[str, Any]:
        return compute.fit_defocus(**fields)

    def finished(self, result: dict[str, Any]) -> str:
        return f"defocus {result['defocus_micrometer']:.3f} µm, score {result['score']:.3f}"
