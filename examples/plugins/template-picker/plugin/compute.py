"""Template matching in miniature: normalized cross-correlation, then peak picking.

The template slides over every position where it fits entirely inside the image
("valid" correlation). At each position the score is the Pearson correlation between
the template and the image window under it, in [-1, 1]; a window with no contrast
scores 0. Window sums come from summed-area tables, so only the template products
are computed directly.

Picks are local maxima of the score map at or above the threshold, taken best first
and at least min_distance apart (default: half the template's larger side). A pick's
x, y is the pixel under the template's centre (column, row; (0, 0) is top-left).
"""

from __future__ import annotations

import math

from magellon_inputs import flag, integer, matrix, number

MAX_PIXELS = 1 << 20
#: positions x template pixels above which a request is refused (pure Python is slow).
MAX_WORK = 50_000_000

Image = list[list[float]]

# --------------------------------------------------------------------------- correlation


def _summed_area(image: Image, square: bool = False) -> list[list[float]]:
    h, w = len(image), len(image[0])
    table = [[0.0] * (w + 1) for _ in range(h + 1)]
    for y in range(h):
        running = 0.0
        above, here = table[y], table[y + 1]
        for x in range(w):
            v = image[y][x]
            running += v * v if square else v
            here[x + 1] = above[x + 1] + running
    return table


def normalized_cross_correlation(image: Image, template: Image) -> Image:
    """Score map of shape (H - th + 1) x (W - tw + 1); entry [y][x] puts the template's top-left at (y, x)."""
    h, w = len(image), len(image[0])
    th, tw = len(template), len(template[0])
    if th > h or tw > w:
        raise ValueError(f"the template ({th}x{tw}) is larger than the image ({h}x{w})")
    n = th * tw
    t_mean = sum(map(sum, template)) / n
    centred = [[v - t_mean for v in row] for row in template]
    t_norm = math.sqrt(sum(v * v for row in centred for v in row))
    if t_norm <= 1e-12 * max(1.0, abs(t_mean)) * n:
        raise ValueError("the template has no contrast (all its pixels are equal)")
    sums, squares = _summed_area(image), _summed_area(image, square=True)
    scores = []
    for y in range(h - th + 1):
        row = []
        for x in range(w - tw + 1):
            s = sums[y + th][x + tw] - sums[y][x + tw] - sums[y + th][x] + sums[y][x]
            ss = squares[y + th][x + tw] - squares[y][x + tw] - squares[y + th][x] + squares[y][x]
            variance = ss - s * s / n
            if variance <= 1e-12 * max(1.0, ss):
                row.append(0.0)
                continue
            # sum((I - mean_I) * T') = sum(I * T') because T' sums to zero
            dot = sum(sum(p * q for p, q in zip(image[y + dy][x : x + tw], centred[dy])) for dy in range(th))
            row.append(max(-1.0, min(1.0, dot / (t_norm * math.sqrt(variance)))))
        scores.append(row)
    return scores


def find_peaks(scores: Image, threshold: float, min_distance: float, limit: int) -> list[tuple[float, int, int]]:
    """(score, y, x) of local maxima >= threshold, best first, at least min_distance apart."""
    h, w = len(scores), len(scores[0])
    candidates = []
    for y in range(h):
        for x in range(w):
            v = scores[y][x]
            if v < threshold:
                continue
            if all(
                scores[ny][nx] <= v
                for ny in range(max(0, y - 1), min(h, y + 2))
                for nx in range(max(0, x - 1), min(w, x + 2))
            ):
                candidates.append((v, y, x))
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    kept: list[tuple[float, int, int]] = []
    for score, y, x in candidates:
        if len(kept) >= limit:
            break
        if all((ky - y) ** 2 + (kx - x) ** 2 >= min_distance**2 for _, ky, kx in kept):
            kept.append((score, y, x))
    return kept


def pick_with_template(
    image: object,
    template: object,
    threshold: object = 0.5,
    min_distance: object = None,
    max_picks: object = 500,
    return_map: object = False,
) -> dict:
    """Picks where the template correlates best; see the module docstring."""
    pixels = matrix(image, "image", MAX_PIXELS)
    kernel = matrix(template, "template", 128 * 128)
    th, tw = len(kernel), len(kernel[0])
    cut = number(threshold, "threshold", -1.0, 1.0)
    distance = max(th, tw) / 2 if min_distance is None else number(min_distance, "min_distance", 0.0, 10_000.0)
    limit = integer(max_picks, "max_picks", 1, 100_000)
    flag(return_map, "return_map")
    positions = max(0, len(pixels) - th + 1) * max(0, len(pixels[0]) - tw + 1)
    if positions * th * tw > MAX_WORK:
        raise ValueError(f"{positions} positions x {th * tw} template pixels is too much work; shrink the input")
    scores = normalized_cross_correlation(pixels, kernel)
    peaks = find_peaks(scores, cut, distance, limit)
    result = {
        "shape": [len(pixels), len(pixels[0])],
        "template_shape": [th, tw],
        "map_shape": [len(scores), len(scores[0])],
        "threshold": cut,
        "min_distance": distance,
        "count": len(peaks),
        "picks": [{"x": x + tw // 2, "y": y + th // 2, "score": round(s, 6)} for s, y, x in peaks],
    }
    if return_map:
        result["correlation_map"] = scores
    return result
