"""Unit constants named once: the library works in newtons, seconds and hertz."""

from __future__ import annotations

KGF_N = 9.80665
"""One kilogram-force in newtons (standard gravity, also kilograms of a weight to newtons);
kgf is used only for display."""
