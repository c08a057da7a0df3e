"""The algorithm: summary statistics of a list of numbers.

Keep compute functions pure (data in, data out: no HTTP, no files, no globals) so
tests can call them directly. Raise ValueError for bad input: the runtime turns it
into a 400 answer with your message, so write the message for the person calling.
magellon_inputs.py (next to main.py) has ready-made checks that do so: number, integer,
flag, choice, vector, matrix and image_stack.
"""

from __future__ import annotations

import math

from magellon_inputs import vector

#: Refuse absurdly large inputs instead of running out of memory.
MAX_NUMBERS = 1_000_000


def summarize(numbers: object) -> dict:
    """Count, mean, min and max of a non-empty list of finite numbers."""
    if not isinstance(numbers, list) or not numbers:
        raise ValueError("numbers must be a non-empty list of numbers")
    if len(numbers) > MAX_NUMBERS:
        raise ValueError(f"numbers has {len(numbers)} items; the limit is {MAX_NUMBERS}")
    # Each item must be a finite number (JSON true/false is not one); the error names the first bad one.
    # vector() also returns them as floats; the originals are kept here so whole numbers stay whole.
    vector(numbers, "numbers")
    return {
        "count": len(numbers),
        "mean": math.fsum(numbers) / len(numbers),  # fsum: no rounding drift on long lists
        "min": min(numbers),
        "max": max(numbers),
    }
