"""Runs the shared server contract (tests/server_contract.py) against this plugin.

Run from the plugin dir: python3 -m unittest discover -s tests -t .
"""

from __future__ import annotations

import unittest
from pathlib import Path
from typing import Any

from tests.server_contract import contract_tests


PLUGIN_DIR = Path(__file__).resolve().parent.parent
PLUGIN_ID = "magellon-sample-plugin"

# What POST /run is asked in these tests, and what the answer must contain.
RUN_INPUT: dict[str, Any] = {"numbers": [4, 8, 15, 16, 23, 42]}
BAD_INPUT: dict[str, Any] = {"numbers": []}  # compute raises ValueError -> 400


def check_result(test: unittest.TestCase, result: dict[str, Any]) -> None:
    test.assertEqual(result, {"count": 6, "mean": 18.0, "min": 4, "max": 42})


ServerTest, LifecycleTest = contract_tests(PLUGIN_DIR, PLUGIN_ID, RUN_INPUT, BAD_INPUT, check_result)


class ServerTest(ServerTest):  # noqa: F811 - the shared contract plus this plugin's own checks
    """Rebinding the name keeps unittest from running the contract twice."""

    def test_run_rejects_a_number_where_a_list_belongs(self) -> None:
        status, body = self.server.request("POST", "/run", {"numbers": 5})
        self.assertEqual(status, 400, body)
        self.assertEqual(body["error"]["code"], "bad_input")


if __name__ == "__main__":
    unittest.main()
