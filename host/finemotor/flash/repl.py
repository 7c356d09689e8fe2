"""One open connection to a kit's MicroPython REPL over its USB cable (mpremote's serial
transport), and the scripts run there (``on_kit/*.py``, package data).
"""

from __future__ import annotations

import ast
import contextlib
import io
import time
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any, Protocol, cast

import serial  # type: ignore[import-untyped]  # pyserial ships no type information
from mpremote import transport as mp_transport  # type: ignore[import-untyped]
from mpremote import transport_serial

from finemotor.errors import TransportError
from finemotor.flash.plan import MANAGED_DIRS
from finemotor.flash.ports import port_problem
from finemotor.transport.serial import release_console


def on_kit_call(script: str, *args: Any) -> str:
    """The code that runs ``on_kit/<script>.py`` on the kit: the file, then a call of its
    function of the same name with ``args`` (written as Python literals)."""
    source = (resources.files("finemotor.flash") / "on_kit" / f"{script}.py").read_text(
        encoding="utf-8"
    )
    return f"{source}\n{script}({', '.join(repr(a) for a in args)})\n"


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


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    # mpremote prints what it read when it cannot enter the raw REPL: keep it off the screen.
    with contextlib.redirect_stdout(io.StringIO()):
        yield


class KitRepl:
    """One open connection to a kit's MicroPython REPL, in its raw REPL once made.

    Raises:
        TransportError: the port cannot be opened, or what is there does not answer as
            MicroPython (the message says what to do).
    """

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
        """Run ``code`` on the kit; what it printed. ``what`` names the step for the error."""
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
        """Call ``fn`` (a transport operation), its failure named by ``what``."""
        try:
            fn()
        except (self._error, OSError, serial.SerialException) as exc:
            raise TransportError(
                f"The kit on {self.port} failed while {what} ({exc}): check the USB cable, "
                "unplug the kit and plug it back in, then flash again.",
                self.port,
            ) from exc

    def inspect(self) -> dict[str, Any]:
        """What the kit holds (``on_kit/inspect_kit.py`` says which keys)."""
        out = self.run(on_kit_call("inspect_kit", list(MANAGED_DIRS)), "listing its files")
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
        """Soft-reset the kit so it starts its firmware (errors are ignored)."""
        # Out of the raw REPL, then Ctrl-D at the friendly prompt: a soft reset, which runs
        # boot.py and main.py, i.e. the new firmware.
        with contextlib.suppress(Exception):
            self.t.exit_raw_repl()
            serial_port = cast(Any, self.t).serial
            serial_port.write(b"\x04")
            serial_port.flush()
            time.sleep(0.2)

    def close(self) -> None:
        """Close the serial port."""
        with contextlib.suppress(Exception):
            self.t.close()
