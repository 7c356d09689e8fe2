"""Which radio a command uses: the computer's own, or a virtual one with simulated kits."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from finemotor.samples import SIM_KIT_IDS

if TYPE_CHECKING:
    from finemotor.transport.virtual.simkit import SimKit


@dataclass
class Radio:
    """Backends to hand to bleak, and the simulated kits when there are any."""

    scanner_backend: Any = None
    client_backend: Any = None
    sims: dict[str, SimKit] = field(default_factory=dict)

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
async def open_radio(sim: bool, seed: int = 1) -> AsyncIterator[Radio]:
    """The computer's Bluetooth radio, or (``sim``) a virtual one with a simulated stylus and
    grip dynamometer on it (kit ids 5A1001 and 5A2002)."""
    from finemotor.transport.virtual.radio import VirtualRadio
    from finemotor.transport.virtual.simkit import SimKit

    if not sim:
        yield Radio()
        return
    async with VirtualRadio() as radio, contextlib.AsyncExitStack() as stack:
        sims = {}
        for i, (kind, kit_id) in enumerate(SIM_KIT_IDS.items()):
            sims[kind] = await stack.enter_async_context(
                SimKit(radio, kind, seed=seed + i, kit_id=kit_id)
            )
        yield Radio(radio.scanner_backend, radio.client_backend, sims)


def add_radio_args(p: Any) -> None:
    """--sim and --timeout, shared by the commands that use the radio."""
    p.add_argument("--sim", action="store_true", help="use simulated kits on a virtual radio")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to scan (default 5)")
