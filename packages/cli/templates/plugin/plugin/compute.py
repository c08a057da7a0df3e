"""The algorithm. Replace summarize() with your own computation.

Keep compute functions pure (data in, data out: no HTTP, no files, no globals) so
tests can call them directly. Raise ValueError for bad input: the runtime turns it
into a 400 answer with your message, so write the message for the person calling.
magellon_inputs.py (next to main.py) has ready-made checks that do so: number, integer,
flag, choice, vector, matrix and image_stack.
Only the Python standard library is used; add dependencies to pyproject.toml if
you need them (and to the Dockerfile).
"""

from __future__ import annotations

import math

from magellon_inputs import vector

#: Refuse absurdly large inputs instead of running out of memory.
MAX_NUMBERS = 1_000_000


def summarize(numbers: object) -> dict:
    """Count, sum and mean of a non-empty list of finite numbers."""
    if not isinstance(numbers, list) or not numbers:
        raise ValueError("numbers must be a non-empty list of numbers")
    if len(numbers) > MAX_NUMBERS:
        raise ValueError(f"numbers has {len(numbers)} items; the limit is {MAX_NUMBERS}")
    values = vector(numbers, "numbers")  # floats; a bad item (JSON true/false too) is a ValueError naming it
    total = math.fsum(values)  # fsum: no rounding drift on long lists
    return {"count": len(values), "sum": total, "mean": total / len(values)}
