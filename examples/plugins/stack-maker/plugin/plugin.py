"""The Stack Maker plugin: checks the request's fields and calls plugin.compute.make_stack.

The runtime (magellon_runtime.py) calls ``StackMakerPlugin().execute(input, reporter)`` for
every POST /run; a ValueError becomes a 400 answer, anything else a 500. execute() comes
from magellon_inputs.FieldsPlugin: it checks the fields against REQUIRED and OPTIONAL,
then calls run().
"""

from __future__ import annotations

from typing import Any

from magellon_inputs import FieldsPlugin

from . import compute


class StackMakerPlugin(FieldsPlugin):
    REQUIRED = ("image", "coordinates", "box_size")
    OPTIONAL: dict[str, Any] = {
        "edge": "skip",
        "pad_value": None,
        "normalize": False,
        "micrograph_name": "micrograph.mrc",
        "stack_name": "particles.mrcs",
    }
    STARTED = "extracting"

    def run(self, fields: dict[str, Any]) -> dict[str, Any]:
        return compute.make_stack(**fields)

    def finished(self, result: dict[str, Any]) -> str:
        return f"{result['count']} particles, {len(result['skipped'])} skipped"
