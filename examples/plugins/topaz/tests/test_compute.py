"""Unit tests of plugin.compute (stdlib unittest; no server involved)."""

import math
import random
import unittest

from plugin import compute
from plugin.plugin import TopazPlugin

CENTRES = [(10, 12), (30, 40), (45, 8), (50, 50)]  # (y, x)


def micrograph(centres=CENTRES, size: int = 64, noise: float = 0.05, seed: int = 1) -> list[list[float]]:
    """Gaussian blobs (sigma 2 px, peak 1) on weak Gaussian noise."""
    rng = random.Random(seed)
    return [
        [
            sum(math.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 8) for cy, cx in centres) + rng.gauss(0, noise)
            for x in range(size)
        ]
        for y in range(size)
    ]


class PickTest(unittest.TestCase):
    def test_finds_every_blob_and_nothing_else(self) -> None:
        result = compute.pick_particles(micrograph(), threshold=0.5, min_distance=6)
        self.assertEqual(result["count"], 4)
        for cy, cx in CENTRES:  # noise may move a peak by a pixel, no more
            self.assertTrue(any(math.hypot(p["y"] - cy, p["x"] - cx) <= 1.5 for p in result["picks"]), (cy, cx))
        for p in result["picks"]:
            self.assertGreater(p["score"], 0.8)

    def test_picks_are_best_first(self) -> None:
        image = micrograph(noise=0.0)
        image[30][40] += 1.0  # make one blob clearly the strongest
        picks = compute.pick_particles(image, threshold=0.5)["picks"]
        self.assertEqual((picks[0]["y"], picks[0]["x"]), (30, 40))
        scores = [p["score"] for p in picks]
        self.assertEqual(scores, sorted(scores, reverse=True))

    def test_min_distance_suppresses_the_weaker_neighbour(self) -> None:
        image = [[0.0] * 20 for _ in range(20)]
        image[5][5], image[5][8], image[15][15] = 3.0, 2.0, 1.0
        near = compute.pick_particles(image, threshold=0.5, min_distance=5)
        self.assertEqual([(p["y"], p["x"]) for p in near["picks"]], [(5, 5), (15, 15)])
        self.assertEqual(near["candidates"], 3)
        apart = compute.pick_particles(image, threshold=0.5, min_distance=2)
        self.assertEqual(apart["count"], 3)

    def test_max_picks(self) -> None:
        result = compute.pick_particles(micrograph(), threshold=0.5, max_picks=2)
        self.assertEqual(result["count"], 2)

    def test_default_threshold_is_mean_plus_two_sigma(self) -> None:
        image = [[0.0, 0.0, 0.0], [0.0, 9.0, 0.0], [0.0, 0.0, 0.0]]
        result = compute.pick_particles(image)
        self.assertAlmostEqual(result["threshold"], 1.0 + 2 * math.sqrt(8.0))
        self.assertEqual(result["picks"], [{"x": 1, "y": 1, "score": 9.0}])

    def test_smoothing_finds_a_blob_hidden_in_noise(self) -> None:
        image = micrograph(centres=[(32, 32)], noise=0.6, seed=4)
        result = compute.pick_particles(image, smooth_radius=2, min_distance=10, max_picks=1)
        pick = result["picks"][0]
        self.assertLessEqual(math.hypot(pick["y"] - 32, pick["x"] - 32), 2)

    def test_box_smooth(self) -> None:
        smoothed = compute.box_smooth([[0, 0, 0], [0, 9, 0], [0, 0, 0]], 1)
        self.assertEqual(smoothed[1][1], 1.0)
        self.assertEqual(smoothed[0][0], 9 / 4)

    def test_rejects_bad_input(self) -> None:
        for kwargs in (
            {"image": []},
            {"image": [[1, 2], [3]]},
            {"image": [[1]], "min_distance": -1},
            {"image": [[1]], "max_picks": 0},
            {"image": [[1]], "threshold": "high"},
        ):
            with self.assertRaises(ValueError, msg=repr(kwargs)):
                compute.pick_particles(**kwargs)


class PluginTest(unittest.TestCase):
    def test_execute(self) -> None:
        result = TopazPlugin().execute({"image": micrograph(), "threshold": 0.5})
        self.assertEqual(result["count"], 4)

    def test_execute_rejects_unknown_and_missing_fields(self) -> None:
        for bad in ({}, {"image": [[1]], "model": "resnet16"}):
            with self.assertRaises(ValueError, msg=repr(bad)):
                TopazPlugin().execute(bad)


if __name__ == "__main__":
    unittest.main()
