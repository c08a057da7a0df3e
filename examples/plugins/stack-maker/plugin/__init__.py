"""Particle extraction (box stacks + RELION-style STAR text) for Magellon, in pure Python."""
