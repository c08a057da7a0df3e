"""FFT plugin for Magellon: magnitude spectrum of a 1-D signal or 2-D image."""
