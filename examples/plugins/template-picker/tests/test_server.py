"""Runs the shared server contract (tests/server_contract.py) against this plugin.

Run from the plugin dir: python3 -m unittest discover -s tests -t .
"""

from __future__ import annotations

import unittest
from pathlib import Path
from typing import Any

from tests.server_contract import contract_tests


PLUGIN_DIR = Path(__file__).resolve().parent.parent
PLUGIN_ID = "template-picker"

_TEMPLATE = [[0.0, 1.0, 0.0], [1.0, 2.0, 1.0], [0.0, 1.0, 0.0]]
_IMAGE = [[0.0] * 20 for _ in range(16)]
for _cy, _cx in ((4, 5), (11, 14)):
    for _dy in range(3):
        for _dx in range(3):
            _IMAGE[_cy - 1 + _dy][_cx - 1 + _dx] = _TEMPLATE[_dy][_dx]
# What POST /run is asked in these tests, and what the answer must contain.
RUN_INPUT: dict[str, Any] = {"image": _IMAGE, "template": _TEMPLATE, "threshold": 0.9}
BAD_INPUT: dict[str, Any] = {"image": _IMAGE, "template": [[1.0, 1.0], [1.0, 1.0]]}  # no contrast -> 400


def check_result(test: unittest.TestCase, result: dict[str, Any]) -> None:
    test.assertEqual(sorted((p["y"], p["x"]) for p in result["picks"]), [(4, 5), (11, 14)])
    for pick in result["picks"]:
        test.assertAlmostEqual(pick["score"], 1.0, places=6)


ServerTest, LifecycleTest = contract_tests(PLUGIN_DIR, PLUGIN_ID, RUN_INPUT, BAD_INPUT, check_result)


if __name__ == "__main__":
    unittest.main()
