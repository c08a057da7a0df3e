"""The plugin class: turns the request into compute calls.

magellon_runtime (next to main.py) calls ``SamplePlugin().execute(input, reporter)``
for every POST /run, with ``input`` the request's JSON object:

  * return a JSON-serialisable dict: the runtime answers {"result": <it>};
  * raise ValueError for bad input: the runtime answers 400 with your message;
  * any other exception is a bug: the runtime answers 500 and logs the traceback.

execute() comes from magellon_inputs.FieldsPlugin (next to main.py): it refuses unknown
and missing fields (REQUIRED, OPTIONAL), fills in defaults, logs progress and calls
run(fields). ``reporter.progress(fraction, message)`` and ``reporter.log(message)`` write
to the plugin log (stderr). Never print to stdout: it carries only the READY line.
Do not hard-code the version anywhere in Python: manifest.yaml is the only source.
"""

from __future__ import annotations

from typing import Any

from magellon_inputs import FieldsPlugin

from . import compute


class SamplePlugin(FieldsPlugin):
    # The fields of schemas/input.json. Keep the two in step.
    REQUIRED = ("numbers",)
    OPTIONAL: dict[str, Any] = {}

    def started(self, fields: dict[str, Any]) -> str:
        numbers = fields["numbers"]
        # Runs before compute checks the input: describe it without assuming it is a list.
        return f"summarizing {len(numbers)} numbers" if isinstance(numbers, list) else "summarizing"

    def run(self, fields: dict[str, Any]) -> dict[str, Any]:
        return compute.summarize(fields["numbers"])
