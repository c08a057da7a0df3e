"""Whole-frame motion correction in miniature: integer shifts by cross-correlation.

Each frame is compared with the first one (the reference) at every integer shift
(dy, dx) with |dy|, |dx| <= max_shift; the score is the normalized cross-correlation
over the overlapping pixels, so large shifts with small overlaps are not favoured.
The best shift per frame is undone and the aligned frames are summed.

Convention: a shift (dy, dx) means frame[y][x] ≈ reference[y - dy][x - dx], i.e. the
content moved dy rows down and dx columns right. Aligning reads frame[y + dy][x + dx];
pixels that fall outside the frame are filled with the frame's mean.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from magellon_inputs import image_stack, integer

MAX_PIXELS = 1 << 18
#: frames x candidate shifts x pixels above which a request is refused (pure Python is slow).
MAX_WORK = 300_000_000

Image = list[list[float]]

# --------------------------------------------------------------------------- alignment


def overlap_correlation(reference: Image, frame: Image, dy: int, dx: int) -> float:
    """Normalized cross-correlation of frame[y][x] with reference[y - dy][x - dx] where both exist."""
    h, w = len(reference), len(reference[0])
    y0, y1 = max(0, dy), min(h, h + dy)
    x0, x1 = max(0, dx), min(w, w + dx)
    n = (y1 - y0) * (x1 - x0)
    if n <= 1:
        return 0.0
    sa = sb = saa = sbb = sab = 0.0
    for y in range(y0, y1):
        a = frame[y][x0:x1]
        b = reference[y - dy][x0 - dx : x1 - dx]
        sa += sum(a)
        sb += sum(b)
        saa += sum(v * v for v in a)
        sbb += sum(v * v for v in b)
        sab += sum(p * q for p, q in zip(a, b))
    var_a = saa - sa * sa / n
    var_b = sbb - sb * sb / n
    if var_a <= 1e-12 * max(1.0, saa) or var_b <= 1e-12 * max(1.0, sbb):
        return 0.0
    return max(-1.0, min(1.0, (sab - sa * sb / n) / math.sqrt(var_a * var_b)))


def estimate_shift(reference: Image, frame: Image, max_shift: int) -> tuple[int, int, float]:
    """The (dy, dx) with the best overlap correlation; ties go to the smaller shift."""
    candidates = sorted(
        ((dy, dx) for dy in range(-max_shift, max_shift + 1) for dx in range(-max_shift, max_shift + 1)),
        key=lambda s: (s[0] * s[0] + s[1] * s[1], s),
    )
    best = (0, 0, -2.0)
    for dy, dx in candidates:
        score = overlap_correlation(reference, frame, dy, dx)
        if score > best[2] + 1e-12:
            best = (dy, dx, score)
    return best


def apply_shift(frame: Image, dy: int, dx: int) -> Image:
    """Undoes a shift: out[y][x] = frame[y + dy][x + dx], the frame mean outside it."""
    h, w = len(frame), len(frame[0])
    fill = sum(map(sum, frame)) / (h * w)
    out = []
    for y in range(h):
        sy = y + dy
        if not 0 <= sy < h:
            out.append([fill] * w)
            continue
        row = frame[sy]
        out.append([row[x + dx] if 0 <= x + dx < w else fill for x in range(w)])
    return out


def align_frames(frames: object, max_shift: object = None) -> dict:
    """Shifts of every frame against frame 0, and the sum of the aligned frames."""
    stack = image_stack(frames, "frames", MAX_PIXELS)
    h, w = len(stack[0]), len(stack[0][0])
    limit = (min(h, w) - 1) // 2
    shift = min(5, limit) if max_shift is None else integer(max_shift, "max_shift", 0, limit)
    work = len(stack) * (2 * shift + 1) ** 2 * h * w
    if work > MAX_WORK:
        raise ValueError(f"{len(stack)} frames of {h}x{w} with max_shift {shift} is too much work; shrink the input")

    reference = stack[0]
    shifts = []
    total = [[0.0] * w for _ in range(h)]
    for i, frame in enumerate(stack):
        dy, dx, score = (0, 0, 1.0) if i == 0 else estimate_shift(reference, frame, shift)
        shifts.append({"frame": i, "dy": dy, "dx": dx, "score": round(score, 6)})
        for row_total, row in zip(total, apply_shift(frame, dy, dx)):
            for x, v in enumerate(row):
                row_total[x] += v
    drift = sum(math.hypot(b["dy"] - a["dy"], b["dx"] - a["dx"]) for a, b in zip(shifts, shifts[1:]))
    return {
        "shape": [h, w],
        "frame_count": len(stack),
        "reference_frame": 0,
        "max_shift": shift,
        "shifts": shifts,
        "total_drift_pixels": round(drift, 6),
        "aligned_sum": total,
    }


def shift_image(image: Sequence[Sequence[float]], dy: int, dx: int, fill: float = 0.0) -> Image:
    """Moves content dy rows down and dx columns right (the inverse of apply_shift); for tests and demos."""
    h, w = len(image), len(image[0])
    return [
        [float(image[y - dy][x - dx]) if 0 <= y - dy < h and 0 <= x - dx < w else fill for x in range(w)] for y in range(h)
    ]
