"""2D classification in miniature: k-means on flattened particle images.

Appion's CAN (a topology-representing neural network) grows class averages from the
data; this stand-in uses Lloyd's k-means, which is easier to read and gives the same
kind of answer: a class per particle and an average image per class.

Everything is deterministic. Initial centres are chosen by farthest-point seeding: the
particle nearest the overall mean first, then repeatedly the particle farthest from
every centre chosen so far (ties: the lowest index). A class that empties takes over
the particle farthest from its own centre. Finally classes are renumbered by size,
largest first (ties: the class whose first member comes first).

With normalize, each particle is first shifted to mean 0 and scaled to standard
deviation 1, so classes follow shape rather than brightness.
"""

from __future__ import annotations

import math

from magellon_inputs import flag, image_stack, integer

MAX_PIXELS = 1 << 16
#: particles x pixels accepted in one request.
MAX_VALUES = 1 << 22

Image = list[list[float]]
Vector = list[float]

# --------------------------------------------------------------------------- input checks
# Each raises ValueError with a message fit for the client; the runtime answers 400.
# The generic checks (numbers, images, ...) are in magellon_inputs.py, next to main.py.


def _particles(value: object) -> list[Image]:
    images = image_stack(value, "particles", MAX_PIXELS)
    shape = (len(images[0]), len(images[0][0]))
    if len(images) * shape[0] * shape[1] > MAX_VALUES:
        raise ValueError(f"{len(images)} particles of {shape[0]}x{shape[1]} exceed {MAX_VALUES} values")
    return images


# --------------------------------------------------------------------------- k-means


def squared_distance(a: Vector, b: Vector) -> float:
    return sum((p - q) * (p - q) for p, q in zip(a, b))


def mean_vector(vectors: list[Vector]) -> Vector:
    n = len(vectors)
    return [sum(column) / n for column in zip(*vectors)]


def normalize_vector(v: Vector) -> Vector:
    mean = sum(v) / len(v)
    std = math.sqrt(sum((x - mean) ** 2 for x in v) / len(v))
    scale = 1 / std if std > 1e-12 else 1.0
    return [(x - mean) * scale for x in v]


def farthest_point_seeds(data: list[Vector], k: int) -> list[int]:
    """Indices of k initial centres (see the module docstring)."""
    overall = mean_vector(data)
    first = min(range(len(data)), key=lambda i: (squared_distance(data[i], overall), i))
    seeds = [first]
    nearest = [squared_distance(v, data[first]) for v in data]
    while len(seeds) < k:
        pick = max(range(len(data)), key=lambda i: (nearest[i], -i))
        seeds.append(pick)
        nearest = [min(d, squared_distance(v, data[pick])) for d, v in zip(nearest, data)]
    return seeds


def kmeans(data: list[Vector], k: int, max_iterations: int) -> tuple[list[int], list[Vector], int, bool]:
    """Lloyd's algorithm from farthest-point seeds: (assignments, centres, iterations, converged)."""
    centres = [data[i][:] for i in farthest_point_seeds(data, k)]
    assignments: list[int] = []
    for iteration in range(1, max_iterations + 1):
        new = [min(range(k), key=lambda c: (squared_distance(v, centres[c]), c)) for v in data]
        sizes = [new.count(c) for c in range(k)]
        for empty in (c for c in range(k) if sizes[c] == 0):
            # Hand the empty class the particle farthest from its centre (in a class of 2+).
            donors = [i for i in range(len(data)) if sizes[new[i]] > 1]
            far = max(donors, key=lambda i: (squared_distance(data[i], centres[new[i]]), -i))
            sizes[new[far]] -= 1
            new[far], sizes[empty] = empty, 1
        converged = new == assignments
        assignments = new
        centres = [mean_vector([v for v, a in zip(data, assignments) if a == c]) for c in range(k)]
        if converged:
            return assignments, centres, iteration, True
    return assignments, centres, max_iterations, False


def classify(particles: object, n_classes: object = 2, max_iterations: object = 100, normalize: object = False) -> dict:
    """Class per particle and class averages; see the module docstring."""
    images = _particles(particles)
    k = integer(n_classes, "n_classes", 1, 256)
    if k > len(images):
        raise ValueError(f"n_classes ({k}) exceeds the number of particles ({len(images)})")
    iterations_cap = integer(max_iterations, "max_iterations", 1, 10_000)
    flag(normalize, "normalize")
    h, w = len(images[0]), len(images[0][0])
    data = [[v for row in image for v in row] for image in images]
    if normalize:
        data = [normalize_vector(v) for v in data]

    assignments, centres, iterations, converged = kmeans(data, k, iterations_cap)

    first_member = {c: assignments.index(c) for c in range(k)}
    order = sorted(range(k), key=lambda c: (-assignments.count(c), first_member[c]))
    rank = {old: new for new, old in enumerate(order)}
    assignments = [rank[a] for a in assignments]
    centres = [centres[old] for old in order]
    inertia = sum(squared_distance(v, centres[a]) for v, a in zip(data, assignments))
    return {
        "shape": [h, w],
        "n_particles": len(images),
        "n_classes": k,
        "assignments": assignments,
        "class_sizes": [assignments.count(c) for c in range(k)],
        "class_averages": [[centre[r * w : (r + 1) * w] for r in range(h)] for centre in centres],
        "iterations": iterations,
        "converged": converged,
        "inertia": inertia,
        "normalized": normalize,
    }
