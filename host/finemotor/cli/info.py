"""``finemotor info``: what this host library is and the protocol it speaks."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

import finemotor
from finemotor.cli import command_help

if TYPE_CHECKING:
    pass


def register(sub: Any) -> None:
    """Add the ``info`` sub-command."""
    p: argparse.ArgumentParser = sub.add_parser("info", help=command_help("info"))
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the library version and the wire-protocol layouts it decodes."""
    from finemotor import protocol

    info = {
        "version": finemotor.__version__,
        "protocol_version": protocol.PROTOCOL_VERSION,
        "layouts": {
            layout.name: {"id": layout.layout_id, "channels": list(layout.channel_names)}
            for layout in protocol.LAYOUTS.values()
        },
    }
    if args.json:
        print(json.dumps(info))
    else:
        print(f"finemotor {info['version']}, wire protocol v{info['protocol_version']}")
        for name, lay in info["layouts"].items():  # type: ignore[attr-defined]
            print(f"  layout {lay['id']}: {name} ({', '.join(lay['channels'])})")
    return 0
