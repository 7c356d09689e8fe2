"""Names the calibration code and its commands share, importable without numpy or scipy."""

from __future__ import annotations

from typing import Literal, get_args

FitModel = Literal["linear", "poly2", "poly3", "monotone"]
"""How reference forces are fitted to readings (:func:`finemotor.calibration.fit.fit_points`)."""
FIT_MODELS: tuple[str, ...] = get_args(FitModel)
DEVICES = ("grip", "stylus")
"""The devices with a calibration procedure (``calibration/<device>.toml``)."""
