"""Ptolemy-style square and hole detection for Magellon (connected components, pure Python)."""
