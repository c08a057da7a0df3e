"""Particle picking in miniature: local maxima above a threshold, kept min_distance apart.

Topaz scores every pixel with a CNN; this stand-in scores pixels by their own value
(optionally box-smoothed), so a bright blob is a particle. A pick is a pixel that is
above the threshold and not below any of its 8 neighbours; picks are then taken from
the highest score down, skipping any closer than min_distance to one already taken
(greedy non-maximum suppression).

Coordinates are pixel indices: x is the column, y the row, (0, 0) the top-left corner.
"""

from __future__ import annotations

import math

from magellon_inputs import integer, matrix, number

MAX_PIXELS = 1 << 20

Image = list[list[float]]

# --------------------------------------------------------------------------- picking


def box_smooth(image: Image, radius: int) -> Image:
    """Mean over a (2r+1)x(2r+1) window clipped to the image, via a summed-area table."""
    if radius <= 0:
        return [row[:] for row in image]
    h, w = len(image), len(image[0])
    table = [[0.0] * (w + 1) for _ in range(h + 1)]
    for y in range(h):
        running = 0.0
        above, here = table[y], table[y + 1]
        for x in range(w):
            running += image[y][x]
            here[x + 1] = above[x + 1] + running
    out = []
    for y in range(h):
        y0, y1 = max(0, y - radius), min(h, y + radius + 1)
        row = []
        for x in range(w):
            x0, x1 = max(0, x - radius), min(w, x + radius + 1)
            total = table[y1][x1] - table[y0][x1] - table[y1][x0] + table[y0][x0]
            row.append(total / ((y1 - y0) * (x1 - x0)))
        out.append(row)
    return out


def local_maxima(image: Image, threshold: float) -> list[tuple[float, int, int]]:
    """(score, y, x) of every pixel above threshold that no 8-neighbour exceeds."""
    h, w = len(image), len(image[0])
    found = []
    for y in range(h):
        for x in range(w):
            v = image[y][x]
            if v <= threshold:
                continue
            if all(
                image[ny][nx] <= v
                for ny in range(max(0, y - 1), min(h, y + 2))
                for nx in range(max(0, x - 1), min(w, x + 2))
            ):
                found.append((v, y, x))
    return found


def suppress(candidates: list[tuple[float, int, int]], min_distance: float, limit: int) -> list[tuple[float, int, int]]:
    """Greedy non-maximum suppression: best first, none closer than min_distance."""
    ordered = sorted(candidates, key=lambda c: (-c[0], c[1], c[2]))
    cell = max(min_distance, 1.0)
    grid: dict[tuple[int, int], list[tuple[int, int]]] = {}
    kept = []
    for score, y, x in ordered:
        if len(kept) >= limit:
            break
        gy, gx = int(y // cell), int(x // cell)
        near = (
            (py, px)
            for cy in (gy - 1, gy, gy + 1)
            for cx in (gx - 1, gx, gx + 1)
            for py, px in grid.get((cy, cx), ())
        )
        if any((py - y) ** 2 + (px - x) ** 2 < min_distance**2 for py, px in near):
            continue
        kept.append((score, y, x))
        grid.setdefault((gy, gx), []).append((y, x))
    return kept


def pick_particles(
    image: object,
    threshold: object = None,
    min_distance: object = 5,
    max_picks: object = 1000,
    smooth_radius: object = 0,
) -> dict:
    """Picks: {"x", "y", "score"} best first. threshold defaults to mean + 2 standard deviations."""
    pixels = matrix(image, "image", MAX_PIXELS)
    distance = number(min_distance, "min_distance", 0.0, 10_000.0)
    limit = integer(max_picks, "max_picks", 1, 100_000)
    radius = integer(smooth_radius, "smooth_radius", 0, 50)
    scores = box_smooth(pixels, radius)
    values = [v for row in scores for v in row]
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    cut = mean + 2 * std if threshold is None else number(threshold, "threshold")
    candidates = local_maxima(scores, cut)
    picks = suppress(candidates, distance, limit)
    return {
        "shape": [len(pixels), len(pixels[0])],
        "threshold": cut,
        "min_distance": distance,
        "smooth_radius": radius,
        "candidates": len(candidates),
        "count": len(picks),
        "picks": [{"x": x, "y": y, "score": score} for score, y, x in picks],
    }
