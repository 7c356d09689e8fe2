"""Which radio a command uses: the computer's own, or a virtual one with simulated kits
(:mod:`finemotor.radio`), and the options that choose it."""

from __future__ import annotations

from typing import Any

from finemotor.radio import SIM_KIT_IDS, Radio, open_radio

__all__ = ["SIM_KIT_IDS", "Radio", "add_radio_args", "open_radio"]


def add_radio_args(p: Any) -> None:
    """--sim and --timeout, shared by the commands that use the radio."""
    p.add_argument("--sim", action="store_true", help="use simulated kits on a virtual radio")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to scan (default 5)")
