"""The algorithm. Replace summarize() with your own computation.

Keep compute functions pure (data in, data out: no HTTP, no files, no globals) so
tests can call them directly. Raise ValueError for bad input: the runtime turns it
into a 400 answer with your message, so write the message for the person calling.
Only the Python standard library is used; add dependencies to pyproject.toml if
you need them (and to the Dockerfile).
"""

from __future__ import annotations

import math

#: Refuse absurdly large inputs instead of running out of memory.
MAX_NUMBERS = 1_000_000


def summarize(numbers: object) -> dict:
    """Count, sum and mean of a non-empty list of finite numbers."""
    if not isinstance(numbers, list) or not numbers:
        raise ValueError("numbers must be a non-empty list of numbers")
    if len(numbers) > MAX_NUMBERS:
        raise ValueError(f"numbers has {len(numbers)} items; the limit is {MAX_NUMBERS}")
    for i, value in enumerate(numbers):
        # bool is a subclass of int in Python; JSON true/false is not a number here.
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"numbers[{i}] must be a finite number, got {value!r}")
    total = math.fsum(numbers)  # fsum: no rounding drift on long lists
    return {"count": len(numbers), "sum": total, "mean": total / len(numbers)}
