"""The plugin class: turns the request into compute calls.

magellon_runtime (next to main.py) calls ``Plugin().execute(input, reporter)`` for
every POST /run, with ``input`` the request's JSON object:

  * return a JSON-serialisable dict: the runtime answers {"result": <it>};
  * raise ValueError for bad input: the runtime answers 400 with your message;
  * any other exception is a bug: the runtime answers 500 and logs the traceback.

execute() comes from magellon_inputs.FieldsPlugin (next to main.py): it refuses unknown
and missing fields (REQUIRED, OPTIONAL), fills in defaults, logs progress and calls
run(fields). Override started(fields) or finished(result) for other progress messages,
or read(input) to check more before run(). ``reporter.progress(fraction, message)`` and
``reporter.log(message)`` write to the plugin log (stderr). Never print to stdout: it
carries only the READY line.
"""

from __future__ import annotations

from typing import Any

from magellon_inputs import FieldsPlugin

from . import compute


class Plugin(FieldsPlugin):
    # The fields of schemas/input.json, with the defaults of the optional ones. Keep them in step.
    REQUIRED = ("numbers",)
    OPTIONAL: dict[str, Any] = {}

    def run(self, fields: dict[str, Any]) -> dict[str, Any]:
        return compute.summarize(fields["numbers"])
