"""Magnitude spectrum of a 1-D signal or a 2-D image, in pure Python.

The transform is an iterative radix-2 Cooley-Tukey FFT on complex numbers (cmath);
inputs are zero-padded to the next power of two along each axis. ``dft`` is the
naive O(n^2) transform, kept as the reference the tests check the FFT against.
"""

from __future__ import annotations

import cmath
import math
from collections.abc import Sequence

from magellon_inputs import matrix, vector

#: Largest padded transform accepted (elements); pure Python takes a few seconds here.
MAX_ELEMENTS = 1 << 20

Number = int | float


def next_power_of_two(n: int) -> int:
    if n < 1:
        raise ValueError("length must be at least 1")
    return 1 << (n - 1).bit_length()


def fft(values: Sequence[complex]) -> list[complex]:
    """Forward DFT, X[k] = sum_t x[t] exp(-2*pi*i*k*t/n); len(values) must be a power of two."""
    n = len(values)
    if n == 0 or n & (n - 1):
        raise ValueError(f"fft needs a power-of-two length, got {n}")
    bits = n.bit_length() - 1
    out = [complex(0)] * n
    for i, v in enumerate(values):  # bit-reversal permutation
        out[int(format(i, f"0{bits}b")[::-1], 2) if bits else 0] = complex(v)
    size = 2
    while size <= n:
        half = size // 2
        step = cmath.exp(-2j * math.pi / size)
        twiddles = [step**k for k in range(half)]
        for start in range(0, n, size):
            for k in range(half):
                a = out[start + k]
                b = out[start + k + half] * twiddles[k]
                out[start + k] = a + b
                out[start + k + half] = a - b
        size *= 2
    return out


def dft(values: Sequence[complex]) -> list[complex]:
    """Naive O(n^2) DFT of any length (the reference implementation)."""
    n = len(values)
    return [sum(complex(x) * cmath.exp(-2j * math.pi * k * t / n) for t, x in enumerate(values)) for k in range(n)]


def fft2(rows: Sequence[Sequence[complex]]) -> list[list[complex]]:
    """2-D FFT: every row, then every column."""
    by_rows = [fft(row) for row in rows]
    columns = [fft([row[c] for row in by_rows]) for c in range(len(by_rows[0]))]
    return [[columns[c][r] for c in range(len(columns))] for r in range(len(by_rows))]


def as_signal_or_image(data: object) -> list[float] | list[list[float]]:
    """Validates ``data``: a non-empty list of numbers, or a rectangular list of such lists."""
    if not isinstance(data, list) or not data:
        raise ValueError("data must be a non-empty list of numbers or a list of rows")
    if all(isinstance(row, list) for row in data):
        return matrix(data, "data")  # no size limit here: magnitude_spectrum checks the padded size
    return vector(data, "data")


def _frequency(index: int, n: int) -> float:
    """Signed frequency of FFT bin ``index`` in cycles per sample, in (-0.5, 0.5]."""
    return index / n if index <= n // 2 else (index - n) / n


def _shift(values: list, n: int) -> list:
    """Moves the zero frequency to the middle (numpy's fftshift)."""
    return values[(n + 1) // 2 :] + values[: (n + 1) // 2] if n > 1 else values[:]


def magnitude_spectrum(data: object, shift: bool = False, log_scale: bool = False) -> dict:
    """|FFT| of a 1-D signal or 2-D image, zero-padded to powers of two.

    Returns the spectrum (optionally log1p-scaled and/or with the zero frequency in the
    middle), the shapes, and the strongest non-DC peak with its frequency in cycles per
    sample (ties go to the first bin in row-major order, i.e. the lower frequency).
    """
    values = as_signal_or_image(data)
    two_d = isinstance(values[0], list)
    shape = [len(values), len(values[0])] if two_d else [len(values)]
    padded = [next_power_of_two(n) for n in shape]
    if math.prod(padded) > MAX_ELEMENTS:
        raise ValueError(f"padded size {'x'.join(map(str, padded))} exceeds {MAX_ELEMENTS} elements")

    if two_d:
        h, w = padded
        grid = [row + [0.0] * (w - len(row)) for row in values] + [[0.0] * w for _ in range(h - len(values))]
        mags = [[abs(v) for v in row] for row in fft2(grid)]
    else:
        mags = [[abs(v) for v in fft(values + [0.0] * (padded[0] - len(values)))]]

    rows, cols = len(mags), len(mags[0])
    best, best_at = -1.0, (0, 0)
    for r in range(rows):
        for c in range(cols):
            if (r, c) != (0, 0) and mags[r][c] > best * (1 + 1e-9) + 1e-12:
                best, best_at = mags[r][c], (r, c)
    if rows * cols == 1:
        best, best_at = mags[0][0], (0, 0)

    out_rows = mags
    peak_index = list(best_at)
    if shift:
        out_rows = _shift([_shift(row, cols) for row in mags], rows)
        peak_index = [(best_at[0] + rows // 2) % rows, (best_at[1] + cols // 2) % cols]
    if log_scale:
        out_rows = [[math.log1p(v) for v in row] for row in out_rows]

    peak_frequency = [_frequency(best_at[0], rows), _frequency(best_at[1], cols)]
    if not two_d:
        out_rows, peak_index, peak_frequency = out_rows[0], peak_index[1:], peak_frequency[1:]
    return {
        "original_shape": shape,
        "padded_shape": padded,
        "shifted": shift,
        "log_scale": log_scale,
        "spectrum": out_rows,
        "peak": {"index": peak_index, "frequency": peak_frequency, "magnitude": best},
    }
