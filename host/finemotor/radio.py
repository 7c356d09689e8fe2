"""Which radio a session uses: the computer's own, or a virtual one with simulated kits."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from finemotor.samples import SIM_KIT_IDS

if TYPE_CHECKING:
    from finemotor.transport.virtual.simkit import SimKit

__all__ = ["FLAT_MV", "SIM_KIT_IDS", "Radio", "open_radio"]

FLAT_MV = 3300
"""A simulated cell this low is flat (about 1 %)."""


@dataclass
class Radio:
    """Backends to hand to bleak, and the simulated kits when there are any."""

    scanner_backend: Any = None
    client_backend: Any = None
    sims: dict[str, SimKit] = field(default_factory=dict)
    simulated: bool = False
    """A virtual radio (even if some of its kits are away)."""

    def press_button(self, kit_id: str) -> bool:
        """Press a simulated kit's button (what the facilitator does); False if not simulated."""
        for kind, sim in self.sims.items():
            if SIM_KIT_IDS[kind] == kit_id.upper():
                sim.press_button(300)
                return True
        return False

    def press_kind(self, kind: str) -> bool:
        """Press the simulated ``kind`` kit's button; False if there is none."""
        sim = self.sims.get(kind)
        if sim is None:
            return False
        sim.press_button(300)
        return True


@contextlib.asynccontextmanager
async def open_radio(
    sim: bool,
    seed: int = 1,
    away: Collection[str] = (),
    battery_mv: Mapping[str, int] | None = None,
) -> AsyncIterator[Radio]:
    """The computer's Bluetooth radio, or (``sim``) a virtual one with a simulated stylus and
    grip dynamometer on it (kit ids 5A1001 and 5A2002).

    Args:
        sim: simulated kits on a virtual radio.
        seed: seeds the simulated kits.
        away: kinds whose simulated kit is switched off or out of range (not started).
        battery_mv: a simulated kit's cell voltage from power-on, by kind.
    """
    # The virtual radio (bumble) only when simulating: a command's --help stays light.
    from finemotor.transport.virtual.radio import VirtualRadio  # noqa: PLC0415
    from finemotor.transport.virtual.simkit import SimKit  # noqa: PLC0415

    if not sim:
        yield Radio()
        return
    async with VirtualRadio() as radio, contextlib.AsyncExitStack() as stack:
        sims = {}
        for i, (kind, kit_id) in enumerate(SIM_KIT_IDS.items()):
            if kind in away:
                continue
            sims[kind] = await stack.enter_async_context(
                SimKit(
                    radio,
                    kind,
                    seed=seed + i,
                    kit_id=kit_id,
                    battery_mv=(battery_mv or {}).get(kind),
                )
            )
        yield Radio(radio.scanner_backend, radio.client_backend, sims, simulated=True)
