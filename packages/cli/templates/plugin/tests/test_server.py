"""Runs the shared server contract (tests/server_contract.py) against this plugin.

Run from the plugin dir: python3 -m unittest discover -s tests -t .
"""

from __future__ import annotations

import unittest
from pathlib import Path
from typing import Any

from tests.server_contract import contract_tests


PLUGIN_DIR = Path(__file__).resolve().parent.parent
PLUGIN_ID = "{{plugin_id}}"

# What POST /run is asked in these tests, and what the answer must contain.
# Change these three when you change plugin/compute.py.
RUN_INPUT: dict[str, Any] = {"numbers": [1, 2, 3, 4]}
BAD_INPUT: dict[str, Any] = {"numbers": []}  # compute raises ValueError -> 400


def check_result(test: unittest.TestCase, result: dict[str, Any]) -> None:
    test.assertEqual(result, {"count": 4, "sum": 10.0, "mean": 2.5})


ServerTest, LifecycleTest = contract_tests(PLUGIN_DIR, PLUGIN_ID, RUN_INPUT, BAD_INPUT, check_result)


if __name__ == "__main__":
    unittest.main()
