"""The plugin class: turns the request into compute calls.

magellon_runtime (next to main.py) calls ``SamplePlugin().execute(input, reporter)``
for every POST /run, with ``input`` the request's JSON object:

  * return a JSON-serialisable dict: the runtime answers {"result": <it>};
  * raise ValueError for bad input: the runtime answers 400 with your message;
  * any other exception is a bug: the runtime answers 500 and logs the traceback.

``reporter.progress(fraction, message)`` and ``reporter.log(message)`` write to the
plugin log (stderr). Never print to stdout: it carries only the READY line.
Do not hard-code the version anywhere in Python: manifest.yaml is the only source.
"""

from __future__ import annotations

from typing import Any

from magellon_runtime import NullReporter

from . import compute

# The fields of schemas/input.json. Keep the two in step.
REQUIRED = ("numbers",)
OPTIONAL: dict[str, Any] = {}


def read_input(input: Any) -> dict[str, Any]:
    """The input's fields with defaults filled in; unknown or missing fields are a ValueError."""
    if not isinstance(input, dict):
        raise ValueError("input must be a JSON object")
    unknown = sorted(set(input) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise ValueError(f"unknown input field(s): {', '.join(unknown)}")
    missing = [key for key in REQUIRED if key not in input]
    if missing:
        raise ValueError(f"missing input field(s): {', '.join(missing)}")
    return {**OPTIONAL, **input}


class SamplePlugin:
    def execute(self, input: dict[str, Any], reporter: Any = None) -> dict[str, Any]:
        reporter = reporter or NullReporter()  # tests may call execute without a server
        fields = read_input(input)
        reporter.progress(0.0, f"summarizing {len(fields['numbers'])} numbers")
        result = compute.summarize(fields["numbers"])
        reporter.progress(1.0, "done")
        return result
