"""Waiting for a kit's button: one scan that ends when a pairing window opens, then a second's
listening for another kit whose window is open too (two at once is refused by the caller)."""

from __future__ import annotations

import asyncio

from aiotest import run

from finemotor.transport.scan import wait_for_button, wait_for_pairing_window
from finemotor.transport.virtual.radio import VirtualRadio
from finemotor.transport.virtual.simkit import SimKit


def test_one_press_is_found_and_two_at_once_are_both_reported() -> None:
    async def main() -> None:
        async with (
            VirtualRadio() as radio,
            SimKit(radio, "grip", seed=1, kit_id="5A2002") as a,
            SimKit(radio, "grip", seed=2, kit_id="5A2003") as b,
        ):
            scanner = radio.scanner_backend
            assert await wait_for_button("grip", 1.5, scanner) == []  # nobody pressed
            a.press_button(300)
            one = await wait_for_button("grip", 10.0, scanner)
            assert [k.kit_id for k in one] == ["5A2002"]
            found = await wait_for_pairing_window("5A2002", 10.0, scanner)
            assert found is not None and found.pairing_open
            b.press_button(300)
            await asyncio.sleep(0.5)
            both = await wait_for_button("grip", 10.0, scanner)
            assert sorted(k.kit_id for k in both) == ["5A2002", "5A2003"]

    run(main(), 90.0)
