"""2D classification of particle images for Magellon (deterministic k-means, pure Python)."""
