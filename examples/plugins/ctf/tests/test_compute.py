"""Unit tests of plugin.compute (stdlib unittest; no server involved)."""

import math
import random
import unittest

from plugin import compute
from plugin.plugin import CtfPlugin

APIX = 1.0
BINS = 256


def synthetic_spectrum(defocus: float, noise: float = 0.0, seed: int = 7) -> list[float]:
    """A radial power spectrum: background + damped Thon rings + Gaussian noise."""
    wavelength = compute.electron_wavelength_angstrom(300)
    rng = random.Random(seed)
    return [
        0.4 + 2.0 / (1 + 60 * k) + math.exp(-30 * k * k) * compute.ctf_power(k, defocus, wavelength) + rng.gauss(0, noise)
        for k in compute.frequencies(BINS, APIX)
    ]


class PhysicsTest(unittest.TestCase):
    def test_electron_wavelength(self) -> None:
        self.assertAlmostEqual(compute.electron_wavelength_angstrom(300), 0.019687, places=6)
        self.assertAlmostEqual(compute.electron_wavelength_angstrom(200), 0.025079, places=6)
        self.assertAlmostEqual(compute.electron_wavelength_angstrom(100), 0.037014, places=6)

    def test_frequency_sampling(self) -> None:
        ks = compute.frequencies(4, 2.0)
        self.assertEqual(ks, [0.0, 1 / 16, 2 / 16, 3 / 16])  # Nyquist 1/4 is not included

    def test_first_zero_of_the_model(self) -> None:
        wavelength, defocus = compute.electron_wavelength_angstrom(300), 20000.0
        k_zero = math.sqrt(1 / (wavelength * defocus))  # π λ Δz k² = π
        self.assertAlmostEqual(compute.ctf_power(k_zero, defocus, wavelength), 0.0, places=12)
        self.assertAlmostEqual(compute.ctf_power(k_zero / math.sqrt(2), defocus, wavelength), 1.0, places=12)


class FitTest(unittest.TestCase):
    def test_recovers_defocus_from_a_clean_spectrum(self) -> None:
        wavelength = compute.electron_wavelength_angstrom(300)
        for defocus in (8000.0, 15000.0, 23450.0, 40000.0):
            clean = [compute.ctf_power(k, defocus, wavelength) for k in compute.frequencies(BINS, APIX)]
            result = compute.fit_defocus(clean, APIX)
            self.assertAlmostEqual(result["defocus_angstrom"], defocus, delta=10, msg=defocus)
            self.assertGreater(result["score"], 0.95)

    def test_recovers_defocus_despite_background_envelope_and_noise(self) -> None:
        for defocus in (12000.0, 27500.0):
            result = compute.fit_defocus(synthetic_spectrum(defocus, noise=0.1), APIX)
            self.assertAlmostEqual(result["defocus_angstrom"], defocus, delta=100, msg=defocus)
            self.assertGreater(result["score"], 0.8)

    def test_noise_alone_scores_low(self) -> None:
        rng = random.Random(3)
        result = compute.fit_defocus([rng.random() for _ in range(BINS)], APIX)
        self.assertLess(result["score"], 0.5)

    def test_result_fields(self) -> None:
        result = compute.fit_defocus(synthetic_spectrum(20000.0), APIX, defocus_step_angstrom=500)
        self.assertEqual(result["voltage_kv"], 300.0)
        self.assertEqual(len(result["model"]), BINS)
        self.assertAlmostEqual(result["defocus_micrometer"], result["defocus_angstrom"] / 1e4)
        low, high = result["fit_range_angstrom"]
        self.assertTrue(30 >= low > high >= 5)
        self.assertEqual(result["search"]["refined_step_angstrom"], 50)

    def test_rejects_bad_input(self) -> None:
        good = synthetic_spectrum(20000.0)
        for kwargs in (
            {"power_spectrum": [1, 2, 3], "pixel_size_angstrom": 1},
            {"power_spectrum": good, "pixel_size_angstrom": 0},
            {"power_spectrum": good, "pixel_size_angstrom": "1"},
            {"power_spectrum": [1.0] * BINS, "pixel_size_angstrom": 1},  # flat
            {"power_spectrum": good, "pixel_size_angstrom": 1, "defocus_max_angstrom": 100},  # below the minimum
            {"power_spectrum": good, "pixel_size_angstrom": 20},  # Nyquist 40 Å: no bins in 30-5 Å
            {"power_spectrum": good[:-1] + [float("inf")], "pixel_size_angstrom": 1},
        ):
            with self.assertRaises(ValueError, msg=repr(kwargs)[:80]):
                compute.fit_defocus(**kwargs)


class PluginTest(unittest.TestCase):
    def test_execute(self) -> None:
        result = CtfPlugin().execute({"power_spectrum": synthetic_spectrum(18000.0), "pixel_size_angstrom": APIX})
        self.assertAlmostEqual(result["defocus_angstrom"], 18000.0, delta=100)

    def test_execute_rejects_unknown_and_missing_fields(self) -> None:
        for bad in ({"power_spectrum": [1.0] * 16}, {"power_spectrum": [], "pixel_size_angstrom": 1, "cs_mm": 2.7}):
            with self.assertRaises(ValueError, msg=repr(bad)):
                CtfPlugin().execute(bad)


if __name__ == "__main__":
    unittest.main()
