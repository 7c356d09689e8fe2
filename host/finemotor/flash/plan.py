"""What flashing puts on a kit: the firmware compiled by mpy-cross for the ESP32-S3, as a
:class:`FlashPlan` of files with their place on the kit, and the kit id's form.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

from finemotor.errors import FinemotorError, TransportError
from finemotor.firmware import firmware_dir, mpy_cross
from finemotor.samples import DEVICE_KINDS

KINDS = DEVICE_KINDS
"""The kits that can be flashed (every device kind)."""
MARCH = "xtensawin"
"""mpy-cross's architecture for the ESP32-S3 (Xtensa LX7, windowed ABI)."""

MANAGED_DIRS = ("lib/fm", "lib/boards")
"""Folders on the kit that hold only firmware: whatever else is in them is removed."""

_HEX = frozenset("0123456789ABCDEF")


def normalize_kit_id(text: str) -> str:
    """The kit id as the firmware stores it: 6 hex digits, upper case.

    Raises:
        FinemotorError: ``text`` is not 6 hex digits.
    """
    kit_id = text.strip().upper()
    if len(kit_id) != 6 or not set(kit_id) <= _HEX:
        raise FinemotorError(
            f"Kit id {text!r} is not 6 hex digits (0-9, A-F), e.g. 1A2B3C: copy it from the "
            "kit's label."
        )
    return kit_id


@dataclass(frozen=True)
class PlannedFile:
    """One file to put on the kit.

    Attributes:
        dest: its path on the kit, relative to the kit's working directory (``lib/fm/kit.mpy``).
        data: its bytes.
        source: the source file it was made from.
    """

    dest: str
    data: bytes
    source: Path

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of ``data``."""
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class FlashPlan:
    """What flashing puts on a kit of one kind.

    Attributes:
        kind: ``"stylus"`` or ``"grip"``.
        files: the files, libraries first and ``main.py`` last (a kit cut off half-way keeps
            booting its old entry point rather than a new one over old libraries).
        mpy_version: the .mpy format version the files were compiled to (the kit's MicroPython
            must load it).
    """

    kind: str
    files: tuple[PlannedFile, ...]
    mpy_version: int

    @property
    def dirs(self) -> list[str]:
        """The folders the files need, parents first."""
        found: set[str] = set()
        for f in self.files:
            parts = f.dest.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                found.add("/".join(parts[:i]))
        return sorted(found, key=lambda d: (d.count("/"), d))

    @property
    def size(self) -> int:
        """Bytes in all the files."""
        return sum(len(f.data) for f in self.files)


def build_plan(kind: str, firmware: Path | None = None, march: str = MARCH) -> FlashPlan:
    """Compile the firmware for one kind of kit and list the files to put on it.

    Args:
        kind: ``"stylus"`` or ``"grip"``.
        firmware: the ``firmware/`` folder (this source tree's by default).
        march: mpy-cross architecture (the ESP32-S3's by default).

    Raises:
        FinemotorError: an unknown kind.
        TransportError: no firmware sources, or mpy-cross failed.
    """
    if kind not in KINDS:
        raise FinemotorError(f"Unknown kit kind {kind!r}: flash a stylus or a grip.")
    firmware = firmware or firmware_dir()
    main = firmware / kind / "main.py"
    board = firmware / "boards" / f"{kind}.py"
    lib = firmware / "lib" / "fm"
    if not (main.is_file() and board.is_file() and lib.is_dir()):
        raise TransportError(
            f"{firmware} does not hold the {kind} firmware (main.py, boards/, lib/fm/): give "
            "the firmware/ folder of a finemotor source tree."
        )
    sources: list[tuple[Path, str]] = [
        (py, "lib/" + py.relative_to(firmware / "lib").as_posix())
        for py in sorted(lib.rglob("*.py"))
    ]
    sources += [
        (firmware / "boards" / "__init__.py", "lib/boards/__init__.py"),
        (board, f"lib/boards/{kind}.py"),
    ]
    files: list[PlannedFile] = []
    with tempfile.TemporaryDirectory(prefix="finemotor-flash-") as tmp:
        for i, (py, dest) in enumerate(sources):
            out = Path(tmp) / f"{i}.mpy"
            mpy_cross(py, out, march, dest.removeprefix("lib/"))
            files.append(PlannedFile(dest.removesuffix(".py") + ".mpy", out.read_bytes(), py))
    files.append(PlannedFile("main.py", main.read_bytes(), main))
    return FlashPlan(kind, tuple(files), files[0].data[1])
