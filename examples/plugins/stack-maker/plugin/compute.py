"""Particle extraction in miniature: cut boxes around picks, write RELION-style metadata.

Each coordinate (x = column, y = row, in pixels; fractions are rounded half up) is the
centre of a box_size x box_size box whose top-left pixel is (x - box_size // 2,
y - box_size // 2) — RELION's convention for even boxes. A pick whose centre lies
outside the image is always skipped. A box that crosses the image border is handled
by `edge`:

    skip   drop the particle (RELION's default behaviour)
    pad    fill outside pixels with pad_value (default: the image mean)
    clamp  repeat the nearest border pixel

With normalize, every box is shifted to mean 0 and scaled to standard deviation 1.
The STAR text lists the kept particles as <n>@<stack_name>, 1-based, in stack order.
"""

from __future__ import annotations

import math

from magellon_inputs import choice, flag, integer, matrix, number

MAX_PIXELS = 1 << 22
#: values in the returned stack (particles x box pixels) above which a request is refused.
MAX_STACK_VALUES = 1 << 22
EDGE_MODES = ("skip", "pad", "clamp")

Image = list[list[float]]

# --------------------------------------------------------------------------- input checks
# Each raises ValueError with a message fit for the client; the runtime answers 400.
# The generic checks (numbers, images, ...) are in magellon_inputs.py, next to main.py.


def _coordinates(value: object) -> list[tuple[float, float]]:
    if not isinstance(value, list):
        raise ValueError('coordinates must be a list of {"x": .., "y": ..} objects or [x, y] pairs')
    out = []
    for i, item in enumerate(value):
        if isinstance(item, dict) and set(item) >= {"x", "y"}:
            x, y = item["x"], item["y"]
        elif isinstance(item, list) and len(item) == 2:
            x, y = item
        else:
            raise ValueError(f'coordinates[{i}] must be {{"x": .., "y": ..}} or [x, y], got {item!r}')
        out.append((number(x, f"coordinates[{i}].x"), number(y, f"coordinates[{i}].y")))
    return out


def _star_token(value: object, name: str) -> str:
    if not isinstance(value, str) or not value or any(c.isspace() for c in value) or value[0] in "#_'\"":
        raise ValueError(f"{name} must be a non-empty file name without spaces, got {value!r}")
    return value


# --------------------------------------------------------------------------- extraction


def round_half_up(value: float) -> int:
    return math.floor(value + 0.5)


def cut_box(image: Image, cx: int, cy: int, size: int, edge: str, pad_value: float) -> tuple[Image, bool]:
    """The box centred on (cx, cy) and whether it crossed the border (edge "skip" is the caller's job)."""
    h, w = len(image), len(image[0])
    top, left = cy - size // 2, cx - size // 2
    crosses = top < 0 or left < 0 or top + size > h or left + size > w
    box = []
    for y in range(top, top + size):
        if not crosses:
            box.append(image[y][left : left + size])
            continue
        row = []
        for x in range(left, left + size):
            if 0 <= y < h and 0 <= x < w:
                row.append(image[y][x])
            elif edge == "clamp":
                row.append(image[min(max(y, 0), h - 1)][min(max(x, 0), w - 1)])
            else:
                row.append(pad_value)
        box.append(row)
    return box, crosses


def normalize_box(box: Image) -> Image:
    values = [v for row in box for v in row]
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    scale = 1 / std if std > 1e-12 else 1.0
    return [[(v - mean) * scale for v in row] for row in box]


def star_text(particles: list[dict], micrograph_name: str, stack_name: str) -> str:
    """RELION-style STAR text (version 30001 data_particles loop) for the kept particles."""
    lines = [
        "",
        "# version 30001",
        "# written by the Magellon stack-maker plugin",
        "",
        "data_particles",
        "",
        "loop_",
        "_rlnCoordinateX #1",
        "_rlnCoordinateY #2",
        "_rlnImageName #3",
        "_rlnMicrographName #4",
    ]
    for p in particles:
        lines.append(f"{p['x']:12.6f} {p['y']:12.6f} {p['index']:06d}@{stack_name} {micrograph_name}")
    return "\n".join(lines) + "\n"


def make_stack(
    image: object,
    coordinates: object,
    box_size: object,
    edge: object = "skip",
    pad_value: object = None,
    normalize: object = False,
    micrograph_name: object = "micrograph.mrc",
    stack_name: object = "particles.mrcs",
) -> dict:
    """Boxes around every coordinate, their metadata and STAR text; see the module docstring."""
    pixels = matrix(image, "image", MAX_PIXELS)
    picks = _coordinates(coordinates)
    size = integer(box_size, "box_size", 2, 1024)
    edge = choice(edge, "edge", EDGE_MODES)
    flag(normalize, "normalize")
    micrograph = _star_token(micrograph_name, "micrograph_name")
    stack_file = _star_token(stack_name, "stack_name")
    if len(picks) * size * size > MAX_STACK_VALUES:
        raise ValueError(f"{len(picks)} boxes of {size}x{size} exceed {MAX_STACK_VALUES} values; send fewer")
    h, w = len(pixels), len(pixels[0])
    fill = sum(map(sum, pixels)) / (h * w) if pad_value is None else number(pad_value, "pad_value")

    stack, particles, skipped = [], [], []
    for i, (fx, fy) in enumerate(picks):
        cx, cy = round_half_up(fx), round_half_up(fy)
        if not (0 <= cx < w and 0 <= cy < h):
            skipped.append({"input_index": i, "x": cx, "y": cy, "reason": "centre outside the image"})
            continue
        box, crosses = cut_box(pixels, cx, cy, size, str(edge), fill)
        if crosses and edge == "skip":
            skipped.append({"input_index": i, "x": cx, "y": cy, "reason": "box crosses the image border"})
            continue
        stack.append(normalize_box(box) if normalize else box)
        particles.append({"index": len(stack), "input_index": i, "x": cx, "y": cy, "touches_edge": crosses})
    return {
        "box_size": size,
        "edge": edge,
        "normalized": normalize,
        "count": len(stack),
        "particles": particles,
        "skipped": skipped,
        "stack": stack,
        "star": star_text(particles, micrograph, stack_file),
    }
