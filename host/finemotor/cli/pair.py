"""``finemotor pair`` and ``finemotor identify``: make sure it is this desk's kit."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finemotor.cli import command_help
from finemotor.cli._radio import add_radio_args, open_radio
from finemotor.errors import TransportError

if TYPE_CHECKING:
    pass


def register(sub: Any) -> None:
    """Add the ``pair`` and ``identify`` sub-commands."""
    for name in ("pair", "identify"):
        p: argparse.ArgumentParser = sub.add_parser(name, help=command_help(name))
        p.add_argument("--kit", required=True, help="the kit id on the kit's label, e.g. 1A2B3C")
        p.add_argument("--seconds", type=int, default=5, help="how long to blink (identify)")
        p.add_argument("--json", action="store_true", help="print one JSON object")
        p.add_argument("--desk", type=Path, default=None, help="this desk's kit list (kits.json)")
        add_radio_args(p)
        p.set_defaults(func=run, action=name)


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    from finemotor.desk import Desk
    from finemotor.transport.ble import BleKit
    from finemotor.transport.scan import scan_kits, wait_for_pairing_window

    def say(msg: str) -> None:
        if not args.json:
            print(msg, flush=True)

    async with open_radio(args.sim) as radio:
        desk = Desk(args.desk)
        wanted = args.kit.upper()
        found = await scan_kits(
            args.timeout, kit_id=wanted, backend=radio.scanner_backend, known=desk.known()
        )
        kit = found[0] if found else None
        # A kit says its id only while its pairing window is open, so a kit this computer has
        # not paired is found by pressing its button. Simulated kits live only as long as this
        # command, so nothing is ever bonded yet.
        if kit is None or ((args.action == "pair" or args.sim) and not kit.pairing_open):
            if radio.press_button(wanted):
                say("(simulated kit: the button is pressed for you)")
            elif args.sim:
                raise TransportError(_not_in_range(wanted))
            else:
                say(f"Press the button on kit {wanted}: its light starts blinking.")
            opened = await wait_for_pairing_window(wanted, 60.0, radio.scanner_backend)
            if opened is None:
                raise TransportError(
                    _not_in_range(wanted)
                    if kit is None
                    else f"kit {wanted}'s pairing window did not open within a minute: press "
                    "its button once (briefly), then run this again"
                )
            kit = opened
        kit_id = kit.kit_id or wanted
        link = BleKit(kit.address, on_frame=lambda _f: None, backend=radio.client_backend)
        info = await link.connect()
        try:
            if args.action == "identify":
                await link.identify(args.seconds)
            else:  # this desk's kit from now on: `finemotor session` finds it by its id
                desk.remember(kit_id, kit.kind, link.identity or kit.address)
            return {
                "kit_id": kit_id,
                "kind": kit.kind,
                "address": link.identity or kit.address,
                "model": info.model,
                "firmware": info.firmware,
                "paired": True,
                "battery_percent": link.status.battery_percent if link.status else None,
                "identify_s": args.seconds if args.action == "identify" else 0,
            }
        finally:
            await link.disconnect()


def _not_in_range(kit_id: str) -> str:
    return (
        f"kit {kit_id} is not in range: switch it on, bring it closer, press its button once, "
        "and check the id on its label"
    )


def run(args: argparse.Namespace) -> int:
    """Pair with, or blink, the kit named by --kit."""
    from finemotor.preflight import LOW_BATTERY_PERCENT

    result = asyncio.run(_run(args))
    if args.json:
        print(json.dumps(result))
    elif args.action == "pair":
        pct = result["battery_percent"]
        if pct is not None and pct < LOW_BATTERY_PERCENT:  # the session's check says the same
            print(f"Warning: the kit's battery is at {pct} %: charge it before the session.")
        print(
            f"Paired with {result['kind']} kit {result['kit_id']} ({result['model']}, "
            f"firmware {result['firmware']}, battery {result['battery_percent']} %). "
            "It is this desk's kit now: `finemotor session` will use it."
        )
    else:
        print(f"Kit {result['kit_id']}'s light is blinking for {args.seconds} s.")
    return 0
