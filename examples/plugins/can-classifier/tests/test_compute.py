"""Unit tests of plugin.compute (stdlib unittest; no server involved)."""

import random
import unittest

from plugin import compute
from plugin.plugin import CanClassifierPlugin

SIZE = 8


def disc(y0: float, x0: float, radius: float) -> list[list[float]]:
    return [[1.0 if (y - y0) ** 2 + (x - x0) ** 2 <= radius**2 else 0.0 for x in range(SIZE)] for y in range(SIZE)]


BIG_DISC = disc(3.5, 3.5, 3.2)
SMALL_CORNER = disc(1.5, 1.5, 1.5)


def noisy(image: list[list[float]], rng: random.Random, noise: float = 0.15) -> list[list[float]]:
    return [[v + rng.gauss(0, noise) for v in row] for row in image]


def two_populations(seed: int = 3) -> tuple[list[list[list[float]]], list[str]]:
    """12 noisy big discs and 7 noisy corner spots, interleaved."""
    rng = random.Random(seed)
    kinds = ["big" if i % 3 else "small" for i in range(19)]
    particles = [noisy(BIG_DISC if kind == "big" else SMALL_CORNER, rng) for kind in kinds]
    return particles, kinds


class KmeansTest(unittest.TestCase):
    def test_separates_two_obvious_clusters(self) -> None:
        particles, kinds = two_populations()
        result = compute.classify(particles, n_classes=2)
        by_kind = {kind: {a for a, k in zip(result["assignments"], kinds) if k == kind} for kind in set(kinds)}
        self.assertEqual(by_kind, {"big": {0}, "small": {1}})  # the larger class is class 0
        self.assertEqual(result["class_sizes"], [kinds.count("big"), kinds.count("small")])
        self.assertTrue(result["converged"])

    def test_class_averages_approach_the_prototypes(self) -> None:
        particles, _ = two_populations()
        averages = compute.classify(particles, n_classes=2)["class_averages"]
        for average, prototype in ((averages[0], BIG_DISC), (averages[1], SMALL_CORNER)):
            self.assertEqual((len(average), len(average[0])), (SIZE, SIZE))
            for row, truth in zip(average, prototype):
                for value, expected in zip(row, truth):
                    self.assertAlmostEqual(value, expected, delta=0.25)

    def test_is_deterministic(self) -> None:
        particles, _ = two_populations(seed=9)
        self.assertEqual(compute.classify(particles, n_classes=3), compute.classify(particles, n_classes=3))

    def test_one_class_is_the_mean(self) -> None:
        result = compute.classify([[[0.0, 2.0]], [[2.0, 4.0]]], n_classes=1)
        self.assertEqual(result["assignments"], [0, 0])
        self.assertEqual(result["class_averages"], [[[1.0, 3.0]]])
        self.assertEqual(result["inertia"], 4.0)

    def test_as_many_classes_as_particles(self) -> None:
        result = compute.classify([[[0.0]], [[5.0]], [[9.0]]], n_classes=3)
        self.assertEqual(sorted(result["assignments"]), [0, 1, 2])
        self.assertEqual(result["inertia"], 0.0)

    def test_identical_particles_never_leave_a_class_empty(self) -> None:
        result = compute.classify([[[1.0]]] * 4, n_classes=2)
        self.assertEqual(result["class_sizes"], [3, 1])

    def test_normalize_groups_by_shape_not_brightness(self) -> None:
        dim, bright = BIG_DISC, [[10 * v + 5 for v in row] for row in BIG_DISC]
        result = compute.classify([dim, SMALL_CORNER, bright, SMALL_CORNER], n_classes=2, normalize=True)
        self.assertEqual(result["assignments"][0], result["assignments"][2])
        self.assertNotEqual(result["assignments"][0], result["assignments"][1])

    def test_farthest_point_seeds(self) -> None:
        data = [[0.0], [1.0], [10.0], [4.0]]
        self.assertEqual(compute.farthest_point_seeds(data, 3), [3, 2, 0])

    def test_rejects_bad_input(self) -> None:
        for kwargs in (
            {"particles": []},
            {"particles": [[[1.0]], [[1.0, 2.0]]]},
            {"particles": [[[1.0]]], "n_classes": 2},
            {"particles": [[[1.0]]], "n_classes": 0},
            {"particles": [[[1.0]]], "max_iterations": 0},
            {"particles": [[[1.0]]], "normalize": "no"},
        ):
            with self.assertRaises(ValueError, msg=repr(kwargs)):
                compute.classify(**kwargs)


class PluginTest(unittest.TestCase):
    def test_execute(self) -> None:
        particles, kinds = two_populations()
        result = CanClassifierPlugin().execute({"particles": particles, "n_classes": 2})
        self.assertEqual(result["class_sizes"], [12, 7])

    def test_execute_rejects_unknown_and_missing_fields(self) -> None:
        for bad in ({}, {"particles": [[[1.0]]], "mask_radius": 3}):
            with self.assertRaises(ValueError, msg=repr(bad)):
                CanClassifierPlugin().execute(bad)


if __name__ == "__main__":
    unittest.main()
