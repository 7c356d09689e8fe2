"""``finemotor enrol``: enrol this desk with the school's server, once, with a code."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from finemotor.cli import command_help
from finemotor.errors import FinemotorError


def register(sub: Any) -> None:
    """Add the ``enrol`` sub-command."""
    p: argparse.ArgumentParser = sub.add_parser(
        "enrol",
        help=command_help("enrol"),
        description=(
            "Enrols this computer (the desk) with the school's finemotor server, using the "
            "single-use code the server's admin gave you. Afterwards this desk's sessions are "
            "shown live to the student's therapist and uploaded to the server."
        ),
    )
    p.add_argument("--server", required=True, help="the server's address (https://...)")
    p.add_argument("--code", required=True, help="the enrolment code (XXXX-XXXX-XXXX)")
    p.add_argument("--name", default=None, help="this desk's name (default: computer name)")
    p.add_argument("--force", action="store_true", help="replace an existing enrolment")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Enrol; 0."""
    from finemotor.sync.credential import credential_path, enrol, load_credential, save_credential

    old = load_credential()
    if old is not None and not args.force:
        raise FinemotorError(
            f"this desk is already enrolled (desk {old.desk_id} at {old.school}): add --force "
            "to enrol it again with the new code"
        )
    cred = asyncio.run(enrol(args.server, args.code, args.name))
    save_credential(cred, credential_path())
    print(f"this desk is enrolled at {cred.school} (desk {cred.desk_id})")
    return 0
