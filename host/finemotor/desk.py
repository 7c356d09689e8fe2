"""This desk's kits: the kits paired with this computer, remembered between sessions.

``finemotor pair`` (and the pairing step of ``finemotor session``) adds a kit; ``finemotor
session`` then finds this desk's kits by their ids instead of taking whichever kit is nearest,
so a session never records the kit of the desk next door. The list is a small JSON file,
``kits.json``, beside the recording database (``$FINEMOTOR_DATA`` or the user's data
directory). It holds kit ids, kinds and Bluetooth addresses, nothing about students.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from finemotor.errors import InputFileError
from finemotor.recording import default_db_path
from finemotor.samples import DEVICE_KINDS

_KIT_ID = re.compile(r"^[0-9A-F]{6}$")


def default_desk_path() -> Path:
    """``kits.json`` beside the default recording database."""
    return default_db_path().parent / "kits.json"


@dataclass(frozen=True)
class DeskKit:
    """A kit paired with this computer.

    Attributes:
        kit_id: the 6 hex digits on its label.
        kind: ``stylus`` or ``grip``.
        address: its identity address, as this computer's Bluetooth stack knows the bonded
            kit (on the air the kit uses addresses it renews; the stack resolves them to this).
        paired_at: unix seconds of the pairing.
    """

    kit_id: str
    kind: str
    address: str
    paired_at: float


class Desk:
    """The kits of this desk, read from and saved to ``path`` (default: :func:`default_desk_path`).

    Raises:
        InputFileError: the file exists but is not a kit list (it says how to start afresh).
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_desk_path()
        self.kits: dict[str, DeskKit] = {}
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            kits = [DeskKit(**entry) for entry in data["kits"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputFileError(
                str(self.path),
                f"not a list of paired kits ({exc}): delete the file and pair the kits again "
                "with `finemotor pair --kit ID`",
            ) from exc
        self.kits = {k.kit_id: k for k in kits}

    def kit_for(self, kind: str) -> DeskKit | None:
        """The most recently paired kit of ``kind`` (None if there is none)."""
        found = [k for k in self.kits.values() if k.kind == kind]
        return max(found, key=lambda k: k.paired_at) if found else None

    def known(self) -> dict[str, str]:
        """This desk's kits, kit id by address (for ``scan_kits(known=...)``)."""
        return {k.address: k.kit_id for k in self.kits.values()}

    def remember(self, kit_id: str, kind: str, address: str) -> DeskKit:
        """Add (or refresh) a kit as paired now, replacing an older kit of the same kind, and
        save the list."""
        kit_id = kit_id.upper()
        if not _KIT_ID.match(kit_id):
            raise InputFileError(str(self.path), f"{kit_id!r} is not a kit id (6 hex digits)")
        if kind not in DEVICE_KINDS:
            raise InputFileError(str(self.path), f"{kind!r} is not a kit kind ({DEVICE_KINDS})")
        self.kits = {i: k for i, k in self.kits.items() if k.kind != kind}
        kit = DeskKit(kit_id, kind, address.upper(), time.time())
        self.kits[kit_id] = kit
        self._save()
        return kit

    def forget(self, kit_id: str) -> bool:
        """Remove a kit from this desk; True if it was there."""
        gone = self.kits.pop(kit_id.upper(), None) is not None
        if gone:
            self._save()
        return gone

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        body = {"kits": [asdict(k) for k in sorted(self.kits.values(), key=lambda k: k.kind)]}
        tmp.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)
