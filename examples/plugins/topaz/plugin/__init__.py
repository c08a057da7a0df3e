"""Topaz-style particle picking for Magellon (local maxima, pure Python)."""
