"""Defocus from a 1-D radial power spectrum, the way CTFFIND does it in miniature.

The model is the contrast transfer function of an ideal, aberration-free microscope:
the power at spatial frequency k (1/Å) is sin²(π λ Δz k²), with λ the relativistic
electron wavelength (0.0197 Å at 300 kV) and Δz the defocus in Å. Spherical aberration,
amplitude contrast, astigmatism and envelopes are left out on purpose.

The fit: detrend the observed spectrum in the chosen resolution band (a least-squares
quadratic in k removes the smooth background), then grid-search Δz for the highest
Pearson correlation with the model, and refine on a ten-times finer grid around it.

Sampling convention: bin i of an n-bin spectrum is at k_i = i / (2 n · pixel size),
i.e. the radial average of a 2n-pixel box, from 0 up to (not including) Nyquist.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from magellon_inputs import number, vector

PLANCK = 6.62607015e-34  # J s
ELECTRON_MASS = 9.1093837015e-31  # kg
ELEMENTARY_CHARGE = 1.602176634e-19  # C
SPEED_OF_LIGHT = 299792458.0  # m/s

MAX_BINS = 1 << 16
MAX_GRID_POINTS = 200_000
MIN_FIT_POINTS = 8

# --------------------------------------------------------------------------- input checks
# Each raises ValueError with a message fit for the client; the runtime answers 400.
# The generic checks (numbers, images, ...) are in magellon_inputs.py, next to main.py.


def _spectrum(value: object) -> list[float]:
    if not isinstance(value, list) or len(value) < MIN_FIT_POINTS:
        raise ValueError(f"power_spectrum must be a list of at least {MIN_FIT_POINTS} numbers")
    if len(value) > MAX_BINS:
        raise ValueError(f"power_spectrum has {len(value)} bins; the limit is {MAX_BINS}")
    return vector(value, "power_spectrum")


# --------------------------------------------------------------------------- physics


def electron_wavelength_angstrom(voltage_kv: float = 300.0) -> float:
    """Relativistic electron wavelength: λ = h / sqrt(2 m e V (1 + e V / (2 m c²)))."""
    volts = voltage_kv * 1e3
    energy = ELEMENTARY_CHARGE * volts
    momentum = math.sqrt(2 * ELECTRON_MASS * energy * (1 + energy / (2 * ELECTRON_MASS * SPEED_OF_LIGHT**2)))
    return PLANCK / momentum * 1e10


def ctf_power(k: float, defocus_angstrom: float, wavelength_angstrom: float) -> float:
    """The model: sin²(π λ Δz k²)."""
    return math.sin(math.pi * wavelength_angstrom * defocus_angstrom * k * k) ** 2


def frequencies(n_bins: int, pixel_size_angstrom: float) -> list[float]:
    """k_i = i / (2 n · pixel size) in 1/Å (see the module docstring)."""
    return [i / (2 * n_bins * pixel_size_angstrom) for i in range(n_bins)]


# --------------------------------------------------------------------------- fitting


def _solve3(a: list[list[float]], b: list[float]) -> list[float]:
    """Solves a 3x3 linear system by Gaussian elimination with partial pivoting."""
    m = [row[:] + [rhs] for row, rhs in zip(a, b)]
    for col in range(3):
        pivot = max(range(col, 3), key=lambda r: abs(m[r][col]))
        if abs(m[pivot][col]) < 1e-300:
            raise ValueError("the fit range is degenerate")
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(col + 1, 3):
            f = m[r][col] / m[col][col]
            for c in range(col, 4):
                m[r][c] -= f * m[col][c]
    x = [0.0, 0.0, 0.0]
    for r in (2, 1, 0):
        x[r] = (m[r][3] - sum(m[r][c] * x[c] for c in range(r + 1, 3))) / m[r][r]
    return x


def detrend(ks: Sequence[float], values: Sequence[float]) -> list[float]:
    """values minus their least-squares quadratic in k (the smooth background)."""
    k0 = sum(ks) / len(ks)
    scale = max(abs(k - k0) for k in ks) or 1.0
    xs = [(k - k0) / scale for k in ks]  # centred and scaled for a well-conditioned system
    powers = [[x**p for p in range(3)] for x in xs]
    ata = [[sum(row[i] * row[j] for row in powers) for j in range(3)] for i in range(3)]
    atb = [sum(row[i] * v for row, v in zip(powers, values)) for i in range(3)]
    c = _solve3(ata, atb)
    return [v - (c[0] + c[1] * x + c[2] * x * x) for v, x in zip(values, xs)]


def correlation(a: Sequence[float], b: Sequence[float]) -> float:
    """Pearson correlation; 0 when either side is constant."""
    n = len(a)
    ma, mb = sum(a) / n, sum(b) / n
    sab = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    saa = sum((x - ma) ** 2 for x in a)
    sbb = sum((y - mb) ** 2 for y in b)
    if saa <= 1e-300 or sbb <= 1e-300:
        return 0.0
    return max(-1.0, min(1.0, sab / math.sqrt(saa * sbb)))


def _grid(low: float, high: float, step: float) -> list[float]:
    count = int(math.floor((high - low) / step + 1e-9)) + 1
    return [low + i * step for i in range(count)]


def fit_defocus(
    power_spectrum: object,
    pixel_size_angstrom: object,
    voltage_kv: object = 300.0,
    defocus_min_angstrom: object = 5000.0,
    defocus_max_angstrom: object = 50000.0,
    defocus_step_angstrom: object = 100.0,
    min_resolution_angstrom: object = 30.0,
    max_resolution_angstrom: object = 5.0,
) -> dict:
    """Best defocus for a radial power spectrum; see the module docstring for the model."""
    spectrum = _spectrum(power_spectrum)
    apix = number(pixel_size_angstrom, "pixel_size_angstrom", 0.01, 100.0)
    kv = number(voltage_kv, "voltage_kv", 10.0, 3000.0)
    dz_min = number(defocus_min_angstrom, "defocus_min_angstrom", 0.0)
    dz_max = number(defocus_max_angstrom, "defocus_max_angstrom", dz_min)
    dz_step = number(defocus_step_angstrom, "defocus_step_angstrom", 0.01)
    res_low = number(min_resolution_angstrom, "min_resolution_angstrom", 0.01)
    res_high = number(max_resolution_angstrom, "max_resolution_angstrom", 0.01, res_low)
    if (dz_max - dz_min) / dz_step + 1 > MAX_GRID_POINTS:
        raise ValueError(f"the defocus grid has more than {MAX_GRID_POINTS} points; raise defocus_step_angstrom")

    n = len(spectrum)
    ks = frequencies(n, apix)
    k_low, k_high = 1 / res_low, 1 / res_high
    band = [i for i, k in enumerate(ks) if k_low <= k <= k_high]
    if len(band) < MIN_FIT_POINTS:
        raise ValueError(
            f"only {len(band)} spectrum bins fall between {res_low:g} and {res_high:g} Å "
            f"(Nyquist is {2 * apix:g} Å); need {MIN_FIT_POINTS}"
        )
    band_k = [ks[i] for i in band]
    observed = detrend(band_k, [spectrum[i] for i in band])
    if correlation(observed, observed) == 0.0:
        raise ValueError("the spectrum is flat in the fit range; nothing to fit")

    wavelength = electron_wavelength_angstrom(kv)

    def score(dz: float) -> float:
        return correlation(observed, [ctf_power(k, dz, wavelength) for k in band_k])

    best_dz, best_score = dz_min, -2.0
    for dz in _grid(dz_min, dz_max, dz_step):
        s = score(dz)
        if s > best_score + 1e-12:
            best_dz, best_score = dz, s
    fine = dz_step / 10
    for dz in _grid(max(dz_min, best_dz - dz_step), min(dz_max, best_dz + dz_step), fine):
        s = score(dz)
        if s > best_score + 1e-12:
            best_dz, best_score = dz, s

    return {
        "defocus_angstrom": round(best_dz, 3),
        "defocus_micrometer": round(best_dz / 1e4, 6),
        "score": round(best_score, 6),
        "voltage_kv": kv,
        "wavelength_angstrom": wavelength,
        "pixel_size_angstrom": apix,
        "fit_range_angstrom": [1 / band_k[0], 1 / band_k[-1]],
        "points_used": len(band),
        "search": {"min_angstrom": dz_min, "max_angstrom": dz_max, "step_angstrom": dz_step, "refined_step_angstrom": fine},
        "model": [ctf_power(k, best_dz, wavelength) for k in ks],
    }
