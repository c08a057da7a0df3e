"""Runs the shared server contract (tests/server_contract.py) against this plugin.

Run from the plugin dir: python3 -m unittest discover -s tests -t .
"""

from __future__ import annotations

import unittest
from pathlib import Path
from typing import Any

from tests.server_contract import contract_tests


PLUGIN_DIR = Path(__file__).resolve().parent.parent
PLUGIN_ID = "stack-maker"

_IMAGE = [[float(10 * y + x) for x in range(10)] for y in range(10)]
# What POST /run is asked in these tests, and what the answer must contain.
RUN_INPUT: dict[str, Any] = {"image": _IMAGE, "coordinates": [{"x": 4, "y": 5}, {"x": 0, "y": 0}], "box_size": 4}
BAD_INPUT: dict[str, Any] = {"image": _IMAGE, "coordinates": [[1, 2]], "box_size": 4, "edge": "wrap"}  # -> 400


def check_result(test: unittest.TestCase, result: dict[str, Any]) -> None:
    test.assertEqual(result["count"], 1)
    test.assertEqual(result["stack"][0][0], [32.0, 33.0, 34.0, 35.0])
    test.assertEqual(result["skipped"][0]["input_index"], 1)
    test.assertIn("000001@particles.mrcs", result["star"])


ServerTest, LifecycleTest = contract_tests(PLUGIN_DIR, PLUGIN_ID, RUN_INPUT, BAD_INPUT, check_result)


if __name__ == "__main__":
    unittest.main()
