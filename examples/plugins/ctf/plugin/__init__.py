"""CTFFIND4-style defocus estimation for Magellon, in pure Python."""
