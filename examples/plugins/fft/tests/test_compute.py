"""Unit tests of plugin.compute (stdlib unittest; no server involved)."""

import cmath
import math
import unittest

from plugin import compute
from plugin.plugin import FftPlugin


class FftTest(unittest.TestCase):
    def test_matches_the_naive_dft(self) -> None:
        signal = [math.sin(0.7 * t) + 0.3 * (t % 5) - 1 for t in range(16)]
        for fast, slow in zip(compute.fft(signal), compute.dft(signal)):
            self.assertLess(abs(fast - slow), 1e-9)

    def test_impulse_has_a_flat_spectrum(self) -> None:
        self.assertEqual([abs(v) for v in compute.fft([1, 0, 0, 0, 0, 0, 0, 0])], [1.0] * 8)

    def test_rejects_non_power_of_two_lengths(self) -> None:
        with self.assertRaises(ValueError):
            compute.fft([1, 2, 3])

    def test_next_power_of_two(self) -> None:
        self.assertEqual([compute.next_power_of_two(n) for n in (1, 2, 3, 5, 64, 65)], [1, 2, 4, 8, 64, 128])


class MagnitudeSpectrumTest(unittest.TestCase):
    def test_cosine_peaks_at_its_frequency(self) -> None:
        n, k, amplitude = 64, 5, 3.0
        signal = [amplitude * math.cos(2 * math.pi * k * t / n) for t in range(n)]
        result = compute.magnitude_spectrum(signal)
        spectrum = result["spectrum"]
        self.assertEqual(result["peak"]["index"], [k])
        self.assertAlmostEqual(result["peak"]["frequency"][0], k / n)
        self.assertAlmostEqual(result["peak"]["magnitude"], amplitude * n / 2, places=6)
        self.assertAlmostEqual(spectrum[n - k], amplitude * n / 2, places=6)  # the mirror bin
        for i, value in enumerate(spectrum):
            if i not in (k, n - k):
                self.assertLess(value, 1e-6)

    def test_pads_to_a_power_of_two(self) -> None:
        result = compute.magnitude_spectrum([1.0] * 5)
        self.assertEqual(result["original_shape"], [5])
        self.assertEqual(result["padded_shape"], [8])
        self.assertEqual(len(result["spectrum"]), 8)
        self.assertAlmostEqual(result["spectrum"][0], 5.0)  # DC = sum of the samples

    def test_image_plane_wave(self) -> None:
        h, w, ky, kx = 8, 16, 1, 3
        image = [[math.cos(2 * math.pi * (ky * y / h + kx * x / w)) for x in range(w)] for y in range(h)]
        result = compute.magnitude_spectrum(image)
        self.assertEqual(result["padded_shape"], [8, 16])
        self.assertEqual(result["peak"]["index"], [ky, kx])
        self.assertEqual(result["peak"]["frequency"], [ky / h, kx / w])
        self.assertAlmostEqual(result["peak"]["magnitude"], h * w / 2, places=6)
        self.assertAlmostEqual(result["spectrum"][h - ky][w - kx], h * w / 2, places=6)

    def test_image_matches_row_column_dft(self) -> None:
        image = [[(3 * y + x * x) % 7 for x in range(3)] for y in range(3)]  # padded to 4x4
        result = compute.magnitude_spectrum(image)
        padded = [row + [0] for row in image] + [[0] * 4]
        for u in range(4):
            for v in range(4):
                expected = sum(
                    padded[y][x] * cmath.exp(-2j * math.pi * (u * y + v * x) / 4) for y in range(4) for x in range(4)
                )
                self.assertAlmostEqual(result["spectrum"][u][v], abs(expected), places=9)

    def test_shift_puts_zero_frequency_in_the_middle(self) -> None:
        signal = [2.0] * 8
        plain = compute.magnitude_spectrum(signal)["spectrum"]
        shifted = compute.magnitude_spectrum(signal, shift=True)["spectrum"]
        self.assertAlmostEqual(plain[0], 16.0)
        self.assertAlmostEqual(shifted[4], 16.0)
        self.assertAlmostEqual(sum(shifted), sum(plain))

    def test_shifted_peak_index_points_at_the_peak(self) -> None:
        image = [[math.cos(2 * math.pi * 2 * x / 8) for x in range(8)] for _ in range(4)]
        result = compute.magnitude_spectrum(image, shift=True)
        r, c = result["peak"]["index"]
        self.assertAlmostEqual(result["spectrum"][r][c], result["peak"]["magnitude"])
        self.assertEqual(result["peak"]["frequency"], [0.0, 0.25])

    def test_log_scale(self) -> None:
        result = compute.magnitude_spectrum([1, 0, 0, 0], log_scale=True)
        self.assertEqual(result["spectrum"], [math.log(2)] * 4)

    def test_rejects_bad_data(self) -> None:
        for bad in ([], [[]], [[1, 2], [3]], ["a"], [True, 1], [float("nan")], "1,2", [[1], 2]):
            with self.assertRaises(ValueError, msg=repr(bad)):
                compute.magnitude_spectrum(bad)


class PluginTest(unittest.TestCase):
    def test_execute(self) -> None:
        result = FftPlugin().execute({"data": [0, 1, 0, -1], "shift": False})
        self.assertEqual(result["peak"]["index"], [1])

    def test_execute_rejects_unknown_and_missing_fields(self) -> None:
        for bad in ({}, {"data": [1], "colour": "red"}, {"data": [1], "shift": "yes"}):
            with self.assertRaises(ValueError, msg=repr(bad)):
                FftPlugin().execute(bad)


if __name__ == "__main__":
    unittest.main()
