"""MotionCor2-style frame alignment for Magellon, in pure Python."""
