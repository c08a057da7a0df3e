"""The FFT plugin: checks the request and calls plugin.compute.

The runtime (magellon_runtime.py) calls ``FftPlugin().execute(input, reporter)`` for
every POST /run; a ValueError becomes a 400 answer, anything else a 500. execute() comes
from magellon_inputs.FieldsPlugin: it checks the fields against REQUIRED and OPTIONAL,
then calls run().
"""

from __future__ import annotations

from typing import Any

from magellon_inputs import FieldsPlugin, flag

from . import compute


class FftPlugin(FieldsPlugin):
    REQUIRED = ("data",)
    OPTIONAL: dict[str, Any] = {"shift": False, "log_scale": False}
    STARTED = "transforming"

    def read(self, input: Any) -> dict[str, Any]:
        fields = super().read(input)
        for key in ("shift", "log_scale"):
            flag(fields[key], key)
        return fields

    def run(self, fields: dict[str, Any]) -> dict[str, Any]:
        return compute.magnitude_spectrum(fields["data"], shift=fields["shift"], log_scale=fields["log_scale"])

    def finished(self, result: dict[str, Any]) -> str:
        return f"padded to {'x'.join(map(str, result['padded_shape']))}"
