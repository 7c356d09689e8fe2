"""A stand-in for a kit on its USB cable: the MicroPython unix port behind a serial port.

The board is the real MicroPython interpreter (the unix port), its REPL on a pseudo-terminal,
bridged to a second pseudo-terminal whose path the host opens as its serial port. A soft reset
restarts the interpreter (keeping its files), as on the kit. Shared by the flashing tests and
the test that installs the wheel.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import tty
from pathlib import Path

from finemotor.firmware import tool


class SimBoard:
    """The MicroPython unix port behind a serial port (``path``); ``fs`` is its filesystem."""

    def __init__(self) -> None:
        self.fs = Path(tempfile.mkdtemp(prefix="finemotor-board-"))
        self.board_master, self.board_slave = os.openpty()
        tty.setraw(self.board_slave)
        self.host_master, self.host_slave = os.openpty()  # the slave stays open: a cable
        tty.setraw(self.host_slave)
        self.path = os.ttyname(self.host_slave)
        self.reboots = 0
        self.raw = False  # the host put the REPL in raw mode (Ctrl-A) and has not left it
        self._stop = threading.Event()
        self.process = self._start()
        self._thread = threading.Thread(target=self._relay, daemon=True)
        self._thread.start()

    def _start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [tool("micropython")],
            stdin=self.board_slave,
            stdout=self.board_slave,
            stderr=self.board_slave,
            cwd=self.fs,
            start_new_session=True,
        )

    def _relay(self) -> None:
        while not self._stop.is_set():
            r, _, _ = select.select([self.board_master, self.host_master], [], [], 0.02)
            for fd in r:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    continue
                if fd == self.host_master:
                    for b in data:  # the REPL mode the board would keep across a soft reset
                        if b == 0x01:
                            self.raw = True
                        elif b == 0x02:
                            self.raw = False
                    os.write(self.board_master, data)
                else:
                    os.write(self.host_master, data)
            if self.process.poll() is not None and not self._stop.is_set():
                self._soft_reboot()

    def _soft_reboot(self) -> None:
        while select.select([self.board_master], [], [], 0.05)[0]:  # its last words
            os.write(self.host_master, os.read(self.board_master, 4096))
        self.reboots += 1
        os.write(self.host_master, b"MPY: soft reboot\r\n")
        self.process = self._start()
        if self.raw:
            banner = b""
            deadline = time.monotonic() + 5
            while not banner.endswith(b">>> ") and time.monotonic() < deadline:
                if select.select([self.board_master], [], [], 0.05)[0]:
                    banner += os.read(self.board_master, 4096)
            os.write(self.board_master, b"\x01")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        for fd in (self.board_master, self.board_slave, self.host_master, self.host_slave):
            os.close(fd)
        shutil.rmtree(self.fs, ignore_errors=True)
