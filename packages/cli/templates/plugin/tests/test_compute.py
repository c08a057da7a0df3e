"""Unit tests of plugin.compute and plugin.plugin (stdlib unittest, no server).

Run from the plugin dir: python3 -m unittest discover -s tests -t .
Replace these with tests of your own computation.
"""

import unittest

from plugin import compute
from plugin.plugin import Plugin


class SummarizeTest(unittest.TestCase):
    def test_sum_and_mean(self) -> None:
        self.assertEqual(compute.summarize([1, 2, 3, 6]), {"count": 4, "sum": 12.0, "mean": 3.0})

    def test_single_number(self) -> None:
        self.assertEqual(compute.summarize([-2.5]), {"count": 1, "sum": -2.5, "mean": -2.5})

    def test_sum_is_exact_on_long_lists(self) -> None:
        self.assertEqual(compute.summarize([0.1] * 10)["sum"], 1.0)

    def test_rejects_bad_input(self) -> None:
        for bad in ([], None, "1 2 3", [1, "2"], [True], [float("nan")]):
            with self.assertRaises(ValueError, msg=repr(bad)):
                compute.summarize(bad)


class PluginTest(unittest.TestCase):
    def test_execute(self) -> None:
        self.assertEqual(Plugin().execute({"numbers": [1, 2]})["mean"], 1.5)

    def test_execute_rejects_unknown_and_missing_fields(self) -> None:
        for bad in ({}, {"numbers": [1], "extra": True}, [1, 2]):
            with self.assertRaises(ValueError, msg=repr(bad)):
                Plugin().execute(bad)


if __name__ == "__main__":
    unittest.main()
