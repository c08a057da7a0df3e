"""Runs the shared server contract (tests/server_contract.py) against this plugin.

Run from the plugin dir: python3 -m unittest discover -s tests -t .
"""

from __future__ import annotations

import unittest
from pathlib import Path
from typing import Any

from tests.server_contract import contract_tests


from plugin import compute  # only to build a realistic spectrum

PLUGIN_DIR = Path(__file__).resolve().parent.parent
PLUGIN_ID = "ctf"

_WAVELENGTH = compute.electron_wavelength_angstrom(300)
# What POST /run is asked in these tests, and what the answer must contain.
RUN_INPUT: dict[str, Any] = {
    "power_spectrum": [0.5 + compute.ctf_power(k, 21000.0, _WAVELENGTH) for k in compute.frequencies(128, 1.2)],
    "pixel_size_angstrom": 1.2,
    "defocus_step_angstrom": 250,
}
BAD_INPUT: dict[str, Any] = {"power_spectrum": [1.0] * 128, "pixel_size_angstrom": 1.2}  # flat -> ValueError -> 400


def check_result(test: unittest.TestCase, result: dict[str, Any]) -> None:
    test.assertAlmostEqual(result["defocus_angstrom"], 21000.0, delta=30)
    test.assertGreater(result["score"], 0.9)
    test.assertEqual(len(result["model"]), 128)


ServerTest, LifecycleTest = contract_tests(PLUGIN_DIR, PLUGIN_ID, RUN_INPUT, BAD_INPUT, check_result)


if __name__ == "__main__":
    unittest.main()
