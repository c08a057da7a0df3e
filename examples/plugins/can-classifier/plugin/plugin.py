"""The CAN Classifier plugin: checks the request's fields and calls plugin.compute.classify.

The runtime (magellon_runtime.py) calls ``CanClassifierPlugin().execute(input, reporter)`` for
every POST /run; a ValueError becomes a 400 answer, anything else a 500. execute() comes
from magellon_inputs.FieldsPlugin: it checks the fields against REQUIRED and OPTIONAL,
then calls run().
"""

from __future__ import annotations

from typing import Any

from magellon_inputs import FieldsPlugin

from . import compute


class CanClassifierPlugin(FieldsPlugin):
    REQUIRED = ("particles",)
    OPTIONAL: dict[str, Any] = {"n_classes": 2, "max_iterations": 100, "normalize": False}
    STARTED = "classifying"

    def run(self, fields: dict[str, Any]) -> dict[str, Any]:
        return compute.classify(**fields)

    def finished(self, result: dict[str, Any]) -> str:
        return f"{len(result['class_sizes'])} classes after {result['iterations']} iterations"
