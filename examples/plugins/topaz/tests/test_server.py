"""Runs the shared server contract (tests/server_contract.py) against this plugin.

Run from the plugin dir: python3 -m unittest discover -s tests -t .
"""

from __future__ import annotations

import unittest
from pathlib import Path
from typing import Any

from tests.server_contract import contract_tests


PLUGIN_DIR = Path(__file__).resolve().parent.parent
PLUGIN_ID = "topaz"

_IMAGE = [[0.0] * 24 for _ in range(24)]
_IMAGE[5][7], _IMAGE[18][15], _IMAGE[6][8] = 5.0, 3.0, 4.0  # (6, 8) is within min_distance of (5, 7)
# What POST /run is asked in these tests, and what the answer must contain.
RUN_INPUT: dict[str, Any] = {"image": _IMAGE, "threshold": 1.0, "min_distance": 4}
BAD_INPUT: dict[str, Any] = {"image": [[1, 2], [3]]}  # ragged rows -> 400


def check_result(test: unittest.TestCase, result: dict[str, Any]) -> None:
    test.assertEqual(result["picks"], [{"x": 7, "y": 5, "score": 5.0}, {"x": 15, "y": 18, "score": 3.0}])
    test.assertEqual(result["count"], 2)


ServerTest, LifecycleTest = contract_tests(PLUGIN_DIR, PLUGIN_ID, RUN_INPUT, BAD_INPUT, check_result)


if __name__ == "__main__":
    unittest.main()
