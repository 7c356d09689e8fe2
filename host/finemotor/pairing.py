"""Pairing at the desk: the facilitator presses the button on the kit in front of them, the
computer pairs with the kit whose pairing window opened, blinks its light, and asks whether
it is the one on this desk before remembering it.

The button press proves someone is at the kit; the blink proves it is this desk's kit and not
the one on the next desk whose button was pressed at the same moment.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from finemotor.desk import Desk, DeskKit
from finemotor.errors import TransportError
from finemotor.transport.ble import BleKit
from finemotor.transport.scan import wait_for_button

IDENTIFY_S = 8
"""How long the light blinks while the facilitator is asked."""


async def pair_at_desk(
    kind: str,
    desk: Desk,
    say: Callable[[str], None],
    confirm: Callable[[str], Awaitable[bool]],
    scanner_backend: Any = None,
    client_backend: Any = None,
    press: Callable[[str], bool] | None = None,
    timeout: float = 60.0,
    found: Callable[[str], None] | None = None,
) -> DeskKit:
    """Lead the facilitator through pairing the ``kind`` kit of this desk; remember it.

    Args:
        kind: ``stylus`` or ``grip``.
        desk: where this desk's kits are remembered.
        say: prints a line for the facilitator.
        confirm: asks a yes/no question; True for yes.
        scanner_backend: bleak scanner backend (None: this computer's radio).
        client_backend: bleak client backend.
        press: presses a simulated kit's button (None for real kits).
        timeout: seconds to wait for the button.
        found: told the kit id as soon as the kit whose button was pressed is heard.

    Raises:
        TransportError: no button press was seen, more than one kit opened at once, or the
            facilitator said the blinking kit is not theirs (each says what to do).
    """
    say(
        f"Pairing the {kind}: press the button on the {kind} on your desk once; its light "
        "starts blinking slowly."
    )
    if press is not None and press(kind):
        say("(simulated kit: the button is pressed for you)")
    kits = await wait_for_button(kind, timeout, scanner_backend)
    if not kits:
        raise TransportError(
            f"no {kind} opened its pairing window within {timeout:.0f} s: check it is switched "
            "on and charged, press its button once (briefly), then run this again"
        )
    if len(kits) > 1:
        ids = ", ".join(k.kit_id or k.address for k in kits)
        raise TransportError(
            f"{len(kits)} {kind} kits ({ids}) have their pairing window open at once, so this "
            "computer cannot tell which one is yours: wait a minute until the other lights stop "
            "blinking, then press only your kit's button and run this again"
        )
    kit = kits[0]
    kit_id = kit.kit_id or ""  # an open window always says it
    if found is not None:
        found(kit_id)
    say(f"Found {kind} {kit_id}. Pairing...")
    link = BleKit(kit.address, on_frame=lambda _f: None, backend=client_backend)
    await link.connect()
    identity = link.identity or kit.address  # how this computer knows the kit from now on
    try:
        await link.identify(IDENTIFY_S)
        ok = await confirm(
            f"Is the light on the {kind} on your desk blinking quickly now (label {kit_id})? [y/n] "
        )
    finally:
        await link.disconnect()
    if not ok:
        raise TransportError(
            f"the {kind} that answered ({kit_id}) is not the one on your desk, so it was not "
            "kept. Make sure only your kit's light is blinking, press its button and try again"
        )
    remembered = desk.remember(kit_id, kind, identity)
    say(f"The {kind} {kit_id} is paired with this computer and remembered for next time.")
    return remembered
