"""``finemotor scan``: list the kits in range, nearest first."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finemotor.cli import command_help
from finemotor.cli._radio import add_radio_args, open_radio

if TYPE_CHECKING:
    from finemotor.transport.advert import KitAdvert


def register(sub: Any) -> None:
    """Add the ``scan`` sub-command."""
    p: argparse.ArgumentParser = sub.add_parser("scan", help=command_help("scan"))
    add_radio_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--desk", type=Path, default=None, help="this desk's kit list (kits.json)")
    p.set_defaults(func=run)


async def _scan(args: argparse.Namespace) -> list[KitAdvert]:
    from finemotor.desk import Desk
    from finemotor.transport.scan import scan_kits

    # Kits say their ids only while their pairing window is open; this desk's kits are named
    # by their bonds (the identity the computer's Bluetooth resolves their addresses to).
    known = Desk(args.desk).known()
    async with open_radio(args.sim) as radio:
        return await scan_kits(args.timeout, backend=radio.scanner_backend, known=known)


def run(args: argparse.Namespace) -> int:
    """Print the kits found; 1 if none."""
    kits = asyncio.run(_scan(args))
    if args.json:
        print(json.dumps({"kits": [dataclasses.asdict(k) for k in kits]}))
    elif kits:
        for k in kits:
            print(k.describe())
    else:
        print(
            "No kit found. Switch the kit on (its light blinks), bring it within a few metres, "
            "and check that this computer's Bluetooth is on."
        )
    return 0 if kits else 1
