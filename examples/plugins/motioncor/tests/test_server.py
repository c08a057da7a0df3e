"""Runs the shared server contract (tests/server_contract.py) against this plugin.

Run from the plugin dir: python3 -m unittest discover -s tests -t .
"""

from __future__ import annotations

import unittest
from pathlib import Path
from typing import Any

from tests.server_contract import contract_tests


PLUGIN_DIR = Path(__file__).resolve().parent.parent
PLUGIN_ID = "motioncor"

_BASE = [[float((7 * y * y + 13 * x + 5 * x * y) % 17) for x in range(16)] for y in range(16)]
_MOVED = [[_BASE[y - 1][x + 2] if y >= 1 and x + 2 < 16 else 0.0 for x in range(16)] for y in range(16)]
# What POST /run is asked in these tests, and what the answer must contain.
RUN_INPUT: dict[str, Any] = {"frames": [_BASE, _MOVED], "max_shift": 3}  # frame 1 moved 1 down, 2 left
BAD_INPUT: dict[str, Any] = {"frames": [_BASE, _MOVED], "max_shift": 99}  # larger than the frame allows -> 400


def check_result(test: unittest.TestCase, result: dict[str, Any]) -> None:
    test.assertEqual([(s["dy"], s["dx"]) for s in result["shifts"]], [(0, 0), (1, -2)])
    test.assertEqual(result["shape"], [16, 16])
    test.assertEqual(result["aligned_sum"][5][5], 2 * _BASE[5][5])


ServerTest, LifecycleTest = contract_tests(PLUGIN_DIR, PLUGIN_ID, RUN_INPUT, BAD_INPUT, check_result)


if __name__ == "__main__":
    unittest.main()
