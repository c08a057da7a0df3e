"""Runs the shared server contract (tests/server_contract.py) against this plugin.

Run from the plugin dir: python3 -m unittest discover -s tests -t .
"""

from __future__ import annotations

import unittest
from pathlib import Path
from typing import Any

from tests.server_contract import contract_tests


PLUGIN_DIR = Path(__file__).resolve().parent.parent
PLUGIN_ID = "can-classifier"

_BRIGHT = [[9.0, 9.0], [9.0, 8.0]]
_DARK = [[0.0, 1.0], [0.0, 0.0]]
# What POST /run is asked in these tests, and what the answer must contain.
RUN_INPUT: dict[str, Any] = {"particles": [_BRIGHT, _DARK, _BRIGHT, _DARK, _BRIGHT], "n_classes": 2}
BAD_INPUT: dict[str, Any] = {"particles": [_BRIGHT], "n_classes": 2}  # more classes than particles -> 400


def check_result(test: unittest.TestCase, result: dict[str, Any]) -> None:
    test.assertEqual(result["assignments"], [0, 1, 0, 1, 0])
    test.assertEqual(result["class_sizes"], [3, 2])
    test.assertEqual(result["class_averages"], [_BRIGHT, _DARK])


ServerTest, LifecycleTest = contract_tests(PLUGIN_DIR, PLUGIN_ID, RUN_INPUT, BAD_INPUT, check_result)


if __name__ == "__main__":
    unittest.main()
