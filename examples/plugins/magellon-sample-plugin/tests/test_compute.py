"""Unit tests of plugin.compute and plugin.plugin (stdlib unittest, no server).

Run from the plugin dir: python3 -m unittest discover -s tests -t .
"""

import unittest

from plugin import compute
from plugin.plugin import SamplePlugin


class SummarizeTest(unittest.TestCase):
    def test_mean_min_max(self) -> None:
        self.assertEqual(compute.summarize([3, 1, 2, 6]), {"count": 4, "mean": 3.0, "min": 1, "max": 6})

    def test_single_number(self) -> None:
        self.assertEqual(compute.summarize([-2.5]), {"count": 1, "mean": -2.5, "min": -2.5, "max": -2.5})

    def test_mean_is_exact_on_long_lists(self) -> None:
        self.assertEqual(compute.summarize([0.1] * 10)["mean"], 0.1)

    def test_rejects_bad_input(self) -> None:
        for bad in ([], None, "1 2 3", [1, "2"], [True], [float("nan")], [float("inf")]):
            with self.assertRaises(ValueError, msg=repr(bad)):
                compute.summarize(bad)


class PluginTest(unittest.TestCase):
    def test_execute(self) -> None:
        self.assertEqual(SamplePlugin().execute({"numbers": [1, 2]})["mean"], 1.5)

    def test_execute_rejects_unknown_and_missing_fields(self) -> None:
        for bad in ({}, {"numbers": [1], "median": True}, [1, 2]):
            with self.assertRaises(ValueError, msg=repr(bad)):
                SamplePlugin().execute(bad)


if __name__ == "__main__":
    unittest.main()
