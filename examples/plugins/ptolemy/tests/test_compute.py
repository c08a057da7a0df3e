"""Unit tests of plugin.compute (stdlib unittest; no server involved)."""

import unittest

from plugin import compute
from plugin.plugin import PtolemyPlugin


def grid_atlas() -> list[list[float]]:
    """A 30x40 dark field with a bright 8x8 square, a bright 5x10 bar and a bright disc (r=4)."""
    image = [[10.0] * 40 for _ in range(30)]
    for y in range(2, 10):
        for x in range(3, 11):
            image[y][x] = 200.0
    for y in range(20, 25):
        for x in range(25, 35):
            image[y][x] = 180.0
    for y in range(30):
        for x in range(40):
            if (y - 20) ** 2 + (x - 8) ** 2 <= 16:
                image[y][x] = 220.0
    return image


class ThresholdTest(unittest.TestCase):
    def test_otsu_splits_two_levels(self) -> None:
        cut = compute.otsu_threshold([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0]])
        self.assertTrue(0.0 < cut < 10.0)

    def test_otsu_of_a_flat_image(self) -> None:
        self.assertEqual(compute.otsu_threshold([[3.0, 3.0]]), 3.0)


class LabelTest(unittest.TestCase):
    def test_four_versus_eight_connectivity(self) -> None:
        diagonal = [[True, False], [False, True]]
        self.assertEqual(len(compute.label_regions(diagonal, 4)[1]), 2)
        self.assertEqual(len(compute.label_regions(diagonal, 8)[1]), 1)

    def test_u_shape_is_one_region(self) -> None:
        u = [[c == "#" for c in row] for row in ("#..#", "#..#", "####")]
        labels, regions = compute.label_regions(u)
        self.assertEqual(len(regions), 1)
        self.assertEqual(labels[0][0], labels[0][3])

    def test_large_region_does_not_recurse(self) -> None:
        labels, regions = compute.label_regions([[True] * 300 for _ in range(300)])
        self.assertEqual(len(regions[0]), 90_000)


class DetectTest(unittest.TestCase):
    def test_finds_square_bar_and_disc(self) -> None:
        result = compute.detect_regions(grid_atlas())
        self.assertEqual(result["count"], 3)
        square, disc, bar = result["regions"]  # raster order of each region's first pixel
        self.assertEqual(square["area"], 64)
        self.assertEqual(square["bbox"], {"x_min": 3, "y_min": 2, "x_max": 10, "y_max": 9})
        self.assertEqual(square["centroid"], {"x": 6.5, "y": 5.5})
        self.assertEqual(square["fill_ratio"], 1.0)
        self.assertEqual(square["aspect_ratio"], 1.0)
        self.assertEqual(square["mean_intensity"], 200.0)
        self.assertEqual(bar["area"], 50)
        self.assertEqual(bar["aspect_ratio"], 2.0)
        self.assertEqual(disc["centroid"], {"x": 8.0, "y": 20.0})
        self.assertLess(disc["fill_ratio"], 0.9)
        self.assertEqual([r["label"] for r in result["regions"]], [1, 2, 3])
        self.assertEqual(result["foreground_pixels"], 64 + 50 + disc["area"])

    def test_min_area_and_labels(self) -> None:
        result = compute.detect_regions(grid_atlas(), threshold=100, min_area=55, return_labels=True)
        self.assertEqual([r["area"] for r in result["regions"]], [64])
        labels = result["labels"]
        self.assertEqual(labels[5][5], 1)
        self.assertEqual(labels[22][30], 0)  # the dropped bar is background in the label map

    def test_mode_below_finds_dark_holes(self) -> None:
        image = [[100.0] * 10 for _ in range(10)]
        image[2][2] = image[2][3] = image[7][7] = 0.0
        result = compute.detect_regions(image, threshold=50, mode="below")
        self.assertEqual([r["area"] for r in result["regions"]], [2, 1])

    def test_rejects_bad_input(self) -> None:
        for kwargs in (
            {"image": [[1, 2], [3]]},
            {"image": [[1]], "mode": "sideways"},
            {"image": [[1]], "connectivity": 6},
            {"image": [[1]], "min_area": 0},
            {"image": [[1]], "return_labels": 1},
        ):
            with self.assertRaises(ValueError, msg=repr(kwargs)):
                compute.detect_regions(**kwargs)


class PluginTest(unittest.TestCase):
    def test_execute(self) -> None:
        result = PtolemyPlugin().execute({"image": grid_atlas(), "connectivity": 8})
        self.assertEqual(result["count"], 3)

    def test_execute_rejects_unknown_and_missing_fields(self) -> None:
        for bad in ({}, {"image": [[1]], "model": "ptolemy-v2"}):
            with self.assertRaises(ValueError, msg=repr(bad)):
                PtolemyPlugin().execute(bad)


if __name__ == "__main__":
    unittest.main()
