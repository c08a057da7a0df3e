"""The MotionCor plugin: checks the request's fields and calls plugin.compute.align_frames.

The runtime (magellon_runtime.py) calls ``MotionCorPlugin().execute(input, reporter)`` for
every POST /run; a ValueError becomes a 400 answer, anything else a 500. execute() comes
from magellon_inputs.FieldsPlugin: it checks the fields against REQUIRED and OPTIONAL,
then calls run().
"""

from __future__ import annotations

from typing import Any

from magellon_inputs import FieldsPlugin

from . import compute


class MotionCorPlugin(FieldsPlugin):
    REQUIRED = ("frames",)
    OPTIONAL: dict[str, Any] = {"max_shift": None}
    STARTED = "aligning frames"

    def run(self, fields: dict[str, Any]) -> dict[str, Any]:
        return compute.align_frames(**fields)

    def finished(self, result: dict[str, Any]) -> str:
        return f"{result['frame_count']} frames, drift {result['total_drift_pixels']:.1f} px"
