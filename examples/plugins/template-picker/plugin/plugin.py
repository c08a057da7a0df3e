"""The Template Picker plugin: checks the request's fields and calls plugin.compute.pick_with_template.

The runtime (magellon_runtime.py) calls ``TemplatePickerPlugin().execute(input, reporter)`` for
every POST /run; a ValueError becomes a 400 answer, anything else a 500. execute() comes
from magellon_inputs.FieldsPlugin: it checks the fields against REQUIRED and OPTIONAL,
then calls run().
"""

from __future__ import annotations

from typing import Any

from magellon_inputs import FieldsPlugin

from . import compute


class TemplatePickerPlugin(FieldsPlugin):
    REQUIRED = ("image", "template")
    OPTIONAL: dict[str, Any] = {"threshold": 0.5, "min_distance": None, "max_picks": 500, "return_map": False}
    STARTED = "correlating"

    def run(self, fields: dict[str, Any]) -> dict[str, Any]:
        return compute.pick_with_template(**fields)

    def finished(self, result: dict[str, Any]) -> str:
        return f"{result['count']} picks"
