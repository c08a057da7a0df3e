"""Square and hole detection in miniature: threshold, then connected components.

Pixels above (mode "above") or below (mode "below") the threshold are foreground; the
default threshold is Otsu's, which best separates the image's histogram into two
classes. Foreground pixels are grouped into regions by an iterative flood fill with
4- or 8-connectivity; regions smaller than min_area are dropped.

Each region reports its area, its bounding box (inclusive pixel indices), centroid,
mean intensity, fill ratio (area / bounding-box area: 1.0 for a filled square, about
0.785 for a disc) and aspect ratio (width / height). Regions are numbered 1, 2, …
in raster order of their first pixel. x is the column, y the row, (0, 0) top-left.
"""

from __future__ import annotations

from magellon_inputs import choice, flag, integer, matrix, number

MAX_PIXELS = 1 << 20
MODES = ("above", "below")
OTSU_BINS = 256

Image = list[list[float]]

# --------------------------------------------------------------------------- threshold


def otsu_threshold(image: Image, bins: int = OTSU_BINS) -> float:
    """Otsu's threshold over a `bins`-bin histogram; pixels > threshold are the upper class."""
    values = [v for row in image for v in row]
    low, high = min(values), max(values)
    if high == low:
        return low
    width = (high - low) / bins
    hist = [0] * bins
    for v in values:
        hist[min(bins - 1, int((v - low) / width))] += 1
    total = len(values)
    centres = [low + (i + 0.5) * width for i in range(bins)]
    sum_all = sum(c * n for c, n in zip(centres, hist))
    best_i, best_var = 0, -1.0
    count_low = sum_low = 0.0
    for i in range(bins - 1):
        count_low += hist[i]
        sum_low += centres[i] * hist[i]
        count_high = total - count_low
        if count_low == 0 or count_high == 0:
            continue
        mean_low, mean_high = sum_low / count_low, (sum_all - sum_low) / count_high
        between = count_low * count_high * (mean_low - mean_high) ** 2
        if between > best_var:
            best_i, best_var = i, between
    return low + (best_i + 1) * width  # the upper edge of the last low-class bin


# --------------------------------------------------------------------------- labelling


def label_regions(mask: list[list[bool]], connectivity: int = 4) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
    """Labels (0 = background, 1.. in raster order) and each region's pixels, by iterative flood fill."""
    h, w = len(mask), len(mask[0])
    steps = [(-1, 0), (1, 0), (0, -1), (0, 1)]
    if connectivity == 8:
        steps += [(-1, -1), (-1, 1), (1, -1), (1, 1)]
    labels = [[0] * w for _ in range(h)]
    regions: list[list[tuple[int, int]]] = []
    for y in range(h):
        for x in range(w):
            if not mask[y][x] or labels[y][x]:
                continue
            label = len(regions) + 1
            labels[y][x] = label
            stack, pixels = [(y, x)], []
            while stack:
                py, px = stack.pop()
                pixels.append((py, px))
                for dy, dx in steps:
                    ny, nx = py + dy, px + dx
                    if 0 <= ny < h and 0 <= nx < w and mask[ny][nx] and not labels[ny][nx]:
                        labels[ny][nx] = label
                        stack.append((ny, nx))
            regions.append(pixels)
    return labels, regions


def describe(pixels: list[tuple[int, int]], image: Image) -> dict:
    ys = [y for y, _ in pixels]
    xs = [x for _, x in pixels]
    x_min, x_max, y_min, y_max = min(xs), max(xs), min(ys), max(ys)
    width, height = x_max - x_min + 1, y_max - y_min + 1
    area = len(pixels)
    return {
        "area": area,
        "bbox": {"x_min": x_min, "y_min": y_min, "x_max": x_max, "y_max": y_max},
        "centroid": {"x": sum(xs) / area, "y": sum(ys) / area},
        "mean_intensity": sum(image[y][x] for y, x in pixels) / area,
        "fill_ratio": area / (width * height),
        "aspect_ratio": width / height,
    }


def detect_regions(
    image: object,
    threshold: object = None,
    mode: object = "above",
    connectivity: object = 4,
    min_area: object = 1,
    return_labels: object = False,
) -> dict:
    """Regions of the thresholded image; see the module docstring."""
    pixels = matrix(image, "image", MAX_PIXELS)
    mode = choice(mode, "mode", MODES)
    conn = integer(connectivity, "connectivity")
    if conn not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8, got {conn}")
    smallest = integer(min_area, "min_area", 1)
    flag(return_labels, "return_labels")
    cut = otsu_threshold(pixels) if threshold is None else number(threshold, "threshold")

    if mode == "above":
        mask = [[v > cut for v in row] for row in pixels]
    else:
        mask = [[v < cut for v in row] for row in pixels]
    labels, found = label_regions(mask, conn)

    kept, renumber = [], {}
    for old, region in enumerate(found, start=1):
        if len(region) >= smallest:
            renumber[old] = len(kept) + 1
            kept.append({"label": len(kept) + 1, **describe(region, pixels)})
    result = {
        "shape": [len(pixels), len(pixels[0])],
        "threshold": cut,
        "mode": mode,
        "connectivity": conn,
        "foreground_pixels": sum(map(sum, mask)),
        "count": len(kept),
        "regions": kept,
    }
    if return_labels:
        result["labels"] = [[renumber.get(v, 0) for v in row] for row in labels]
    return result
