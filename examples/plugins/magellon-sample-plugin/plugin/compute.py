"""The algorithm: summary statistics of a list of numbers.

Keep compute functions pure (data in, data out: no HTTP, no files, no globals) so
tests can call them directly. Raise ValueError for bad input: the runtime turns it
into a 400 answer with your message, so write the message for the person calling.
"""

from __future__ import annotations

import math

#: Refuse absurdly large inputs instead of running out of memory.
MAX_NUMBERS = 1_000_000


def summarize(numbers: object) -> dict:
    """Count, mean, min and max of a non-empty list of finite numbers."""
    if not isinstance(numbers, list) or not numbers:
        raise ValueError("numbers must be a non-empty list of numbers")
    if len(numbers) > MAX_NUMBERS:
        raise ValueError(f"numbers has {len(numbers)} items; the limit is {MAX_NUMBERS}")
    for i, value in enumerate(numbers):
        # bool is a subclass of int in Python; JSON true/false is not a number here.
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"numbers[{i}] must be a finite number, got {value!r}")
    return {
        "count": len(numbers),
        "mean": math.fsum(numbers) / len(numbers),  # fsum: no rounding drift on long lists
        "min": min(numbers),
        "max": max(numbers),
    }
