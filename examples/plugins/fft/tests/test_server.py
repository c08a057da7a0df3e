"""Runs the shared server contract (tests/server_contract.py) against this plugin.

Run from the plugin dir: python3 -m unittest discover -s tests -t .
"""

from __future__ import annotations

import unittest
from pathlib import Path
from typing import Any

from tests.server_contract import contract_tests


PLUGIN_DIR = Path(__file__).resolve().parent.parent
PLUGIN_ID = "fft"

# What POST /run is asked in these tests, and what the answer must contain.
RUN_INPUT: dict[str, Any] = {"data": [1, 0, -1, 0, 1, 0, -1, 0]}  # cos(2*pi*2t/8)
BAD_INPUT: dict[str, Any] = {"data": []}  # compute raises ValueError -> 400


def check_result(test: unittest.TestCase, result: dict[str, Any]) -> None:
    test.assertEqual(result["padded_shape"], [8])
    test.assertEqual(result["peak"]["index"], [2])
    test.assertAlmostEqual(result["peak"]["frequency"][0], 0.25)
    test.assertAlmostEqual(result["peak"]["magnitude"], 4.0, places=9)
    test.assertAlmostEqual(result["spectrum"][6], 4.0, places=9)


ServerTest, LifecycleTest = contract_tests(PLUGIN_DIR, PLUGIN_ID, RUN_INPUT, BAD_INPUT, check_result)


if __name__ == "__main__":
    unittest.main()
