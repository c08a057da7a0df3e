"""Runs the shared server contract (tests/server_contract.py) against this plugin.

Run from the plugin dir: python3 -m unittest discover -s tests -t .
"""

from __future__ import annotations

import unittest
from pathlib import Path
from typing import Any

from tests.server_contract import contract_tests


PLUGIN_DIR = Path(__file__).resolve().parent.parent
PLUGIN_ID = "ptolemy"

_IMAGE = [[1.0] * 12 for _ in range(10)]
for _y in range(1, 4):
    for _x in range(2, 5):
        _IMAGE[_y][_x] = 9.0  # a 3x3 square
for _y in range(6, 9):
    _IMAGE[_y][9] = 9.0  # a 1x3 bar
# What POST /run is asked in these tests, and what the answer must contain.
RUN_INPUT: dict[str, Any] = {"image": _IMAGE, "threshold": 5}
BAD_INPUT: dict[str, Any] = {"image": _IMAGE, "connectivity": 6}  # only 4 or 8 -> 400


def check_result(test: unittest.TestCase, result: dict[str, Any]) -> None:
    test.assertEqual(result["count"], 2)
    square, bar = result["regions"]
    test.assertEqual(square["bbox"], {"x_min": 2, "y_min": 1, "x_max": 4, "y_max": 3})
    test.assertEqual(square["centroid"], {"x": 3.0, "y": 2.0})
    test.assertEqual((bar["area"], bar["aspect_ratio"]), (3, 1 / 3))


ServerTest, LifecycleTest = contract_tests(PLUGIN_DIR, PLUGIN_ID, RUN_INPUT, BAD_INPUT, check_result)


if __name__ == "__main__":
    unittest.main()
