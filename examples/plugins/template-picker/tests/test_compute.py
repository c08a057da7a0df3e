"""Unit tests of plugin.compute (stdlib unittest; no server involved)."""

import random
import unittest

from plugin import compute
from plugin.plugin import TemplatePickerPlugin

# A 7x7 ring-shaped "particle".
TEMPLATE = [[1.0 if 4 <= (y - 3) ** 2 + (x - 3) ** 2 <= 9 else 0.0 for x in range(7)] for y in range(7)]
CENTRES = [(8, 9), (20, 30), (33, 12)]  # (y, x) of the template's centre pixel


def micrograph(noise: float = 0.2, seed: int = 2, size: int = 40) -> list[list[float]]:
    rng = random.Random(seed)
    image = [[rng.gauss(0, noise) for _ in range(size)] for _ in range(size)]
    for cy, cx in CENTRES:
        for dy in range(7):
            for dx in range(7):
                image[cy - 3 + dy][cx - 3 + dx] += TEMPLATE[dy][dx]
    return image


class CorrelationTest(unittest.TestCase):
    def test_exact_copy_scores_one(self) -> None:
        scores = compute.normalized_cross_correlation(micrograph(noise=0.0), TEMPLATE)
        self.assertEqual((len(scores), len(scores[0])), (34, 34))
        for cy, cx in CENTRES:
            self.assertAlmostEqual(scores[cy - 3][cx - 3], 1.0, places=9)

    def test_scores_are_invariant_to_brightness_and_contrast(self) -> None:
        image = micrograph()
        scaled = [[5 * v + 100 for v in row] for row in image]
        a = compute.normalized_cross_correlation(image, TEMPLATE)
        b = compute.normalized_cross_correlation(scaled, TEMPLATE)
        self.assertAlmostEqual(a[5][6], b[5][6], places=6)
        self.assertAlmostEqual(a[17][27], b[17][27], places=6)

    def test_inverted_copy_scores_minus_one(self) -> None:
        negative = [[-v for v in row] for row in TEMPLATE]
        self.assertAlmostEqual(compute.normalized_cross_correlation(negative, TEMPLATE)[0][0], -1.0)

    def test_flat_window_scores_zero(self) -> None:
        self.assertEqual(compute.normalized_cross_correlation([[2.0] * 7] * 7, TEMPLATE), [[0.0]])


class PickTest(unittest.TestCase):
    def test_finds_the_embedded_particles(self) -> None:
        result = compute.pick_with_template(micrograph(), TEMPLATE, threshold=0.6)
        self.assertEqual(sorted((p["y"], p["x"]) for p in result["picks"]), sorted(CENTRES))
        self.assertEqual(result["min_distance"], 3.5)
        for p in result["picks"]:
            self.assertGreater(p["score"], 0.8)

    def test_threshold_and_max_picks(self) -> None:
        self.assertEqual(compute.pick_with_template(micrograph(), TEMPLATE, threshold=0.999)["count"], 0)
        self.assertEqual(compute.pick_with_template(micrograph(), TEMPLATE, threshold=0.6, max_picks=1)["count"], 1)

    def test_return_map(self) -> None:
        result = compute.pick_with_template(micrograph(), TEMPLATE, return_map=True)
        self.assertEqual([len(result["correlation_map"]), len(result["correlation_map"][0])], result["map_shape"])
        self.assertNotIn("correlation_map", compute.pick_with_template(micrograph(), TEMPLATE))

    def test_rejects_bad_input(self) -> None:
        for kwargs in (
            {"image": [[1, 2]], "template": TEMPLATE},  # template larger than the image
            {"image": micrograph(), "template": [[1, 1], [1, 1]]},  # no contrast
            {"image": micrograph(), "template": TEMPLATE, "threshold": 2},
            {"image": micrograph(), "template": TEMPLATE, "return_map": "yes"},
            {"image": micrograph(), "template": []},
        ):
            with self.assertRaises(ValueError, msg=repr(kwargs)[:60]):
                compute.pick_with_template(**kwargs)


class PluginTest(unittest.TestCase):
    def test_execute(self) -> None:
        result = TemplatePickerPlugin().execute({"image": micrograph(), "template": TEMPLATE, "threshold": 0.6})
        self.assertEqual(result["count"], 3)

    def test_execute_rejects_unknown_and_missing_fields(self) -> None:
        for bad in ({"image": [[1]]}, {"image": [[1]], "template": [[1]], "angle_step": 10}):
            with self.assertRaises(ValueError, msg=repr(bad)):
                TemplatePickerPlugin().execute(bad)


if __name__ == "__main__":
    unittest.main()
