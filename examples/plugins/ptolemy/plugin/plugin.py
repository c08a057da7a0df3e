"""The Ptolemy plugin: checks the request's fields and calls plugin.compute.detect_regions.

The runtime (magellon_runtime.py) calls ``PtolemyPlugin().execute(input, reporter)`` for
every POST /run; a ValueError becomes a 400 answer, anything else a 500. execute() comes
from magellon_inputs.FieldsPlugin: it checks the fields against REQUIRED and OPTIONAL,
then calls run().
"""

from __future__ import annotations

from typing import Any

from magellon_inputs import FieldsPlugin

from . import compute


class PtolemyPlugin(FieldsPlugin):
    REQUIRED = ("image",)
    OPTIONAL: dict[str, Any] = {"threshold": None, "mode": "above", "connectivity": 4, "min_area": 1, "return_labels": False}
    STARTED = "labelling"

    def run(self, fields: dict[str, Any]) -> dict[str, Any]:
        return compute.detect_regions(**fields)

    def finished(self, result: dict[str, Any]) -> str:
        return f"{result['count']} regions"
