"""Template-matching particle picker for Magellon (normalized cross-correlation, pure Python)."""
