"""The Topaz plugin: checks the request's fields and calls plugin.compute.pick_particles.

The runtime (magellon_runtime.py) calls ``TopazPlugin().execute(input, reporter)`` for
every POST /run; a ValueError becomes a 400 answer, anything else a 500. execute() comes
from magellon_inputs.FieldsPlugin: it checks the fields against REQUIRED and OPTIONAL,
then calls run().
"""

from __future__ import annotations

from typing import Any

from magellon_inputs import FieldsPlugin

from . import compute


class TopazPlugin(FieldsPlugin):
    REQUIRED = ("image",)
    OPTIONAL: dict[str, Any] = {"threshold": None, "min_distance": 5, "max_picks": 1000, "smooth_radius": 0}
    STARTED = "picking"

    def run(self, fields: dict[str, Any]) -> dict[str, Any]:
        return compute.pick_particles(**fields)

    def finished(self, result: dict[str, Any]) -> str:
        return f"{result['count']} picks above {result['threshold']:.4g}"
