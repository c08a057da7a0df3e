"""Unit tests of plugin.compute (stdlib unittest; no server involved)."""

import random
import unittest

from plugin import compute
from plugin.plugin import MotionCorPlugin


def noise_image(size: int, seed: int) -> list[list[float]]:
    rng = random.Random(seed)
    return [[rng.gauss(0, 1) for _ in range(size)] for _ in range(size)]


class ShiftTest(unittest.TestCase):
    def test_recovers_known_integer_shifts(self) -> None:
        rng = random.Random(11)
        base = noise_image(40, seed=1)
        truth = [(0, 0), (1, 0), (2, -1), (3, -1), (-4, 5)]
        frames = [
            [[v + rng.gauss(0, 0.5) for v in row] for row in compute.shift_image(base, dy, dx)] for dy, dx in truth
        ]
        result = compute.align_frames(frames, max_shift=5)
        self.assertEqual([(s["dy"], s["dx"]) for s in result["shifts"]], truth)
        self.assertEqual(result["shifts"][0]["score"], 1.0)
        for s in result["shifts"][1:]:
            self.assertGreater(s["score"], 0.6)

    def test_aligned_sum_restores_the_image(self) -> None:
        base = noise_image(24, seed=2)
        frames = [base, compute.shift_image(base, 2, 3), compute.shift_image(base, -1, 2)]
        result = compute.align_frames(frames, max_shift=4)
        total = result["aligned_sum"]
        # Away from the borders every aligned frame equals the base.
        for y in range(4, 20):
            for x in range(4, 20):
                self.assertAlmostEqual(total[y][x], 3 * base[y][x], places=9)

    def test_total_drift(self) -> None:
        base = noise_image(24, seed=3)
        frames = [base, compute.shift_image(base, 3, 4), compute.shift_image(base, 3, 4)]
        result = compute.align_frames(frames)
        self.assertEqual(result["max_shift"], 5)
        self.assertAlmostEqual(result["total_drift_pixels"], 5.0)

    def test_apply_shift_undoes_shift_image(self) -> None:
        base = [[float(10 * y + x) for x in range(5)] for y in range(5)]
        moved = compute.shift_image(base, 1, -2)
        back = compute.apply_shift(moved, 1, -2)
        self.assertEqual(back[1][2:], base[1][2:])  # columns 0-1 came from outside the frame
        self.assertEqual(back[3][2:], base[3][2:])
        self.assertEqual(back[4], [sum(map(sum, moved)) / 25] * 5)  # row 4 is filled with the mean

    def test_single_frame(self) -> None:
        result = compute.align_frames([[[1, 2, 3], [4, 5, 6], [7, 8, 10]]])
        self.assertEqual(result["shifts"], [{"frame": 0, "dy": 0, "dx": 0, "score": 1.0}])
        self.assertEqual(result["max_shift"], 1)

    def test_rejects_bad_frames(self) -> None:
        image = noise_image(8, seed=4)
        for frames, max_shift in (
            ([], None),
            ([image, [row[:-1] for row in image]], None),  # shapes differ
            ([image, image], 4),  # more than (8 - 1) // 2
            ([image, image], -1),
            ([image, image], 1.5),
            ([[[1, "x"]]], None),
        ):
            with self.assertRaises(ValueError, msg=repr(max_shift)):
                compute.align_frames(frames, max_shift)


class PluginTest(unittest.TestCase):
    def test_execute(self) -> None:
        base = noise_image(16, seed=5)
        result = MotionCorPlugin().execute({"frames": [base, compute.shift_image(base, -2, 1)], "max_shift": 3})
        self.assertEqual((result["shifts"][1]["dy"], result["shifts"][1]["dx"]), (-2, 1))

    def test_execute_rejects_unknown_and_missing_fields(self) -> None:
        for bad in ({}, {"frames": [[[1]]], "patches": 5}):
            with self.assertRaises(ValueError, msg=repr(bad)):
                MotionCorPlugin().execute(bad)


if __name__ == "__main__":
    unittest.main()
