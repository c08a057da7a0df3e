"""Unit tests of plugin.compute (stdlib unittest; no server involved)."""

import math
import unittest

from plugin import compute
from plugin.plugin import StackMakerPlugin

# A 20x30 ramp: pixel (y, x) holds 100 * y + x, so a box shows where it came from.
IMAGE = [[100.0 * y + x for x in range(30)] for y in range(20)]


class ExtractTest(unittest.TestCase):
    def test_boxes_are_centred_on_the_coordinates(self) -> None:
        result = compute.make_stack(IMAGE, [{"x": 10, "y": 8}, [20.4, 5.5]], box_size=4)
        self.assertEqual(result["count"], 2)
        first, second = result["stack"]
        self.assertEqual(first[0], [608.0, 609.0, 610.0, 611.0])  # top-left is (x - 2, y - 2)
        self.assertEqual(first[2][2], 810.0)  # the centre pixel sits at [size // 2][size // 2]
        self.assertEqual(second[2][2], 620.0)  # 20.4 -> 20, 5.5 -> 6 (half up)
        self.assertEqual(result["particles"][1], {"index": 2, "input_index": 1, "x": 20, "y": 6, "touches_edge": False})

    def test_edge_skip(self) -> None:
        result = compute.make_stack(IMAGE, [[1, 1], [15, 10], [40, 3]], box_size=6)
        self.assertEqual(result["count"], 1)
        self.assertEqual([s["reason"] for s in result["skipped"]], ["box crosses the image border", "centre outside the image"])
        self.assertEqual(result["particles"][0]["input_index"], 1)

    def test_edge_pad_and_clamp(self) -> None:
        padded = compute.make_stack(IMAGE, [[0, 0]], box_size=4, edge="pad", pad_value=-1)["stack"][0]
        self.assertEqual(padded[0], [-1.0, -1.0, -1.0, -1.0])
        self.assertEqual(padded[2], [-1.0, -1.0, 0.0, 1.0])
        clamped = compute.make_stack(IMAGE, [[0, 0]], box_size=4, edge="clamp")["stack"][0]
        self.assertEqual(clamped[0], [0.0, 0.0, 0.0, 1.0])
        self.assertEqual(clamped[3], [100.0, 100.0, 100.0, 101.0])
        mean_padded = compute.make_stack(IMAGE, [[29, 19]], box_size=4, edge="pad")
        self.assertEqual(mean_padded["stack"][0][3][3], sum(map(sum, IMAGE)) / 600)
        self.assertTrue(mean_padded["particles"][0]["touches_edge"])

    def test_normalize(self) -> None:
        box = compute.make_stack(IMAGE, [[10, 10]], box_size=6, normalize=True)["stack"][0]
        values = [v for row in box for v in row]
        self.assertAlmostEqual(sum(values) / len(values), 0.0, places=9)
        self.assertAlmostEqual(math.sqrt(sum(v * v for v in values) / len(values)), 1.0, places=9)

    def test_star_text(self) -> None:
        result = compute.make_stack(IMAGE, [[10, 8], [1, 1], [20, 6]], box_size=4, micrograph_name="mic_001.mrc")
        star = result["star"]
        self.assertIn("data_particles", star)
        self.assertIn("_rlnImageName #3", star)
        rows = [line.split() for line in star.splitlines() if "@" in line]
        self.assertEqual(rows, [
            ["10.000000", "8.000000", "000001@particles.mrcs", "mic_001.mrc"],
            ["20.000000", "6.000000", "000002@particles.mrcs", "mic_001.mrc"],
        ])

    def test_rejects_bad_input(self) -> None:
        for kwargs in (
            {"image": IMAGE, "coordinates": [[1, 2, 3]], "box_size": 4},
            {"image": IMAGE, "coordinates": [{"x": 1}], "box_size": 4},
            {"image": IMAGE, "coordinates": [[1, 2]], "box_size": 1},
            {"image": IMAGE, "coordinates": [[1, 2]], "box_size": 4, "edge": "wrap"},
            {"image": IMAGE, "coordinates": [[1, 2]], "box_size": 4, "stack_name": "my stack.mrcs"},
            {"image": IMAGE, "coordinates": "1,2", "box_size": 4},
        ):
            with self.assertRaises(ValueError, msg=repr(kwargs)[-80:]):
                compute.make_stack(**kwargs)


class PluginTest(unittest.TestCase):
    def test_execute(self) -> None:
        result = StackMakerPlugin().execute({"image": IMAGE, "coordinates": [[10, 10]], "box_size": 8})
        self.assertEqual(result["count"], 1)
        self.assertEqual(len(result["stack"][0]), 8)

    def test_execute_rejects_unknown_and_missing_fields(self) -> None:
        for bad in ({"image": IMAGE, "coordinates": []}, {"image": IMAGE, "coordinates": [], "box_size": 4, "bin": 2}):
            with self.assertRaises(ValueError, msg=repr(bad)[-40:]):
                StackMakerPlugin().execute(bad)


if __name__ == "__main__":
    unittest.main()
