"""Flashing a kit: compare what it holds with the plan, remove stale firmware files, copy what
differs, set the kit id, read every file back, import a few modules there, and restart it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from finemotor.errors import FinemotorError, TransportError
from finemotor.flash.plan import (
    KINDS,
    MANAGED_DIRS,
    FlashPlan,
    PlannedFile,
    build_plan,
    normalize_kit_id,
)
from finemotor.flash.repl import KitRepl, on_kit_call

LOAD_CHECK = ("fm.wire", "fm.cobs", "fm.ring")
"""Modules imported on the kit after copying (they touch no hardware)."""


@dataclass
class FlashResult:
    """What a flash did.

    Attributes:
        port: the serial port.
        kind: the firmware flashed.
        kit_id: the kit id now on the kit.
        kit_id_source: ``"given"`` (``--kit-id``), ``"kept"`` (already on the kit) or
            ``"chip"`` (from the chip's unique id, the firmware's own rule).
        board: what the kit's MicroPython says it runs on.
        micropython: its version.
        written: files copied; ``unchanged``: files already right; ``removed``: stale files.
        bytes_written: bytes copied.
        seconds: time from opening the port to the end.
        warnings: things the person flashing should know (e.g. a changed kit id).
    """

    port: str
    kind: str
    kit_id: str
    kit_id_source: str
    board: str
    micropython: str
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    bytes_written: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)


def _kind_on_kit(main: str | None) -> str | None:
    if not main:
        return None
    for kind in KINDS:
        if f"from boards import {kind}" in main:
            return kind
    return None


def _chip_kit_id(uid: str | None) -> str | None:
    # fm.kit.kit_id(): the last 3 bytes of machine.unique_id(), upper-case hex.
    if not uid or len(uid) < 6:
        return None
    return uid[-6:].upper()


def flash(
    port: str,
    kind: str,
    kit_id: str | None = None,
    *,
    firmware: Path | None = None,
    plan: FlashPlan | None = None,
    change_kind: bool = False,
    on_progress: Callable[[int, int, str], None] | None = None,
    restart: bool = True,
    soft_reset: bool = True,
    timeout: float = 10.0,
) -> FlashResult:
    """Put the ``kind`` firmware on the kit at ``port`` and set its kit id.

    Args:
        port: the kit's serial port (``/dev/ttyACM0``, ``/dev/cu.usbmodem1101``, ``COM3``).
        kind: ``"stylus"`` or ``"grip"``.
        kit_id: the 6 hex digits for the kit's label; None keeps the kit's own, or sets the
            one the firmware derives from its chip id.
        firmware: the ``firmware/`` folder (this source tree's by default).
        plan: the files to copy (built from ``firmware`` if None).
        change_kind: allow flashing a kit that has the other kind's firmware.
        on_progress: called with (bytes done, bytes in all, file) while copying.
        restart: soft-reset the kit at the end, so it runs its new firmware.
        soft_reset: soft-reset the kit before copying (stops its timers and radio).
        timeout: seconds for the kit to answer at its REPL.

    Raises:
        FinemotorError: a bad kit id or kind.
        TransportError: the port, the kit or the copy failed (the message says what to do).
    """
    t0 = time.monotonic()
    wanted_id = normalize_kit_id(kit_id) if kit_id is not None else None
    plan = plan or build_plan(kind, firmware)
    if plan.kind != kind:
        raise FinemotorError(f"This plan is for a {plan.kind}, not a {kind}.")
    kit = KitRepl(port, timeout, soft_reset)
    try:
        result = _flash_open_kit(kit, plan, wanted_id, change_kind, on_progress)
        if restart:
            kit.restart()
    finally:
        kit.close()
    result.seconds = time.monotonic() - t0
    return result


def _flash_open_kit(
    kit: KitRepl,
    plan: FlashPlan,
    wanted_id: str | None,
    change_kind: bool,
    on_progress: Callable[[int, int, str], None] | None,
) -> FlashResult:
    port, kind = kit.port, plan.kind
    state = kit.inspect()
    mpy = int(state.get("mpy") or 0) & 0xFF
    if mpy != plan.mpy_version:
        raise TransportError(
            f"The kit's MicroPython {state.get('version')} loads .mpy version {mpy or 'unknown'}"
            f", this firmware is version {plan.mpy_version}: install MicroPython 1.23 or newer "
            "for the ESP32-S3 on it first (see docs/flashing.md).",
            port,
        )
    present = _kind_on_kit(state.get("main"))
    if present is not None and present != kind and not change_kind:
        raise TransportError(
            f"This kit has the {present} firmware: is it the {present}? Plug in the {kind} "
            f"instead, or, to turn this board into a {kind}, run flash again with "
            "--change-kind.",
            port,
        )
    warnings: list[str] = []
    board = str(state.get("machine") or "unknown board")
    if "ESP32S3" not in board.replace("-", "").upper():
        warnings.append(
            f"this board says it is a {board!r}, not the kit's ESP32-S3: the firmware's pin "
            "maps are for the Seeed Studio XIAO ESP32S3"
        )
    current = state.get("kit_id")
    try:
        current_id = normalize_kit_id(current) if current else None
    except FinemotorError:
        current_id = None
    if wanted_id is not None:
        new_id, id_source = wanted_id, "given"
        if current_id is not None and current_id != wanted_id:
            warnings.append(f"kit id changed from {current_id} to {wanted_id}: relabel the kit")
    elif current_id is not None:
        new_id, id_source = current_id, "kept"
    else:
        chip = _chip_kit_id(state.get("uid"))
        if chip is None:
            raise TransportError(
                "This kit has no kit id yet and its chip id cannot be read: give one with "
                "--kit-id (the 6 hex digits on its label, e.g. 1A2B3C).",
                port,
            )
        new_id, id_source = chip, "chip"
    result = FlashResult(
        port, kind, new_id, id_source, board, str(state.get("version") or "?"), warnings=warnings
    )

    on_kit: dict[str, tuple[int, str]] = {
        k.removeprefix("./"): tuple(v) for k, v in state.get("files", {}).items()
    }
    hashed = bool(state.get("hashlib"))
    id_file = PlannedFile("kit_id.txt", new_id.encode(), Path("kit_id.txt"))
    files = [*plan.files, id_file]

    def same(f: PlannedFile) -> bool:
        have = on_kit.get(f.dest)
        return have is not None and have[0] == len(f.data) and (have[1] == f.sha256 or not hashed)

    todo = [f for f in files if not (hashed and same(f))]
    result.unchanged = [f.dest for f in files if f not in todo]
    planned = {f.dest for f in files}
    stale = [
        p
        for p in sorted(on_kit)
        if p not in planned and any(p.startswith(d + "/") for d in MANAGED_DIRS)
    ]
    for p in stale:
        kit.call(f"removing the old file {p}", lambda p=p: kit.t.fs_rmfile(p))  # type: ignore[misc]
    result.removed = stale

    existing_dirs = {"/".join(p.split("/")[:i]) for p in on_kit for i in range(1, p.count("/") + 1)}
    for d in plan.dirs:
        if d not in existing_dirs:
            with contextlib.suppress(OSError):  # already there (an empty folder)
                kit.call(f"making the folder {d}", lambda d=d: kit.t.fs_mkdir(d))  # type: ignore[misc]

    total = sum(len(f.data) for f in todo)
    done = 0
    for f in todo:

        def tick(written: int, size: int, f: PlannedFile = f, base: int = done) -> None:
            if on_progress is not None:
                on_progress(base + written, total, f.dest)

        kit.call(
            f"copying {f.dest}",
            lambda f=f, tick=tick: kit.t.fs_writefile(  # type: ignore[misc]
                f.dest, f.data, chunk_size=512, progress_callback=tick
            ),
        )
        done += len(f.data)
        result.written.append(f.dest)
    result.bytes_written = done
    if on_progress is not None and total == 0:
        on_progress(0, 0, "")

    _verify(kit, files, hashed)
    return result


def _verify(kit: KitRepl, files: list[PlannedFile], hashed: bool) -> None:
    after = kit.inspect()
    on_kit = {k.removeprefix("./"): tuple(v) for k, v in after.get("files", {}).items()}
    bad = [
        f.dest
        for f in files
        if on_kit.get(f.dest) is None
        or on_kit[f.dest][0] != len(f.data)
        or (hashed and on_kit[f.dest][1] != f.sha256)
    ]
    if bad:
        raise TransportError(
            f"After copying, {len(bad)} file(s) on the kit differ from the firmware "
            f"({', '.join(bad[:3])}): the kit's storage may be full or failing. Flash again; "
            "if it fails again, the board needs its filesystem erased (docs/flashing.md).",
            kit.port,
        )
    out = kit.run(on_kit_call("load_check", list(LOAD_CHECK)), "loading the new firmware")
    if b"loaded" not in out:
        raise TransportError(
            f"The kit on {kit.port} could not load its new firmware ({out[-200:]!r}): install "
            "a current MicroPython for the ESP32-S3 on it (docs/flashing.md).",
            kit.port,
        )
