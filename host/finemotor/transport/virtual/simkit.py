"""A simulated kit on the virtual radio: the real firmware, under MicroPython, on the sim board.

:class:`SimKit` starts a :class:`~finemotor.transport.virtual.bridge.KitBridge` and the
MicroPython unix interpreter running ``firmware/sim/run_kit.py``: a realtime simulated world
(the board, its sensor chips, the simulated student) and the device's own entry point
(``firmware/stylus/main.py`` or ``firmware/grip/main.py``), unmodified. The firmware's radio
is the bridge's bumble peripheral, so bleak finds, pairs and streams from it like a real kit::

    async with VirtualRadio() as radio, SimKit(radio, "stylus", kit_id="1A2B3C") as kit:
        kit.press_button()                                # open the pairing window
        async with BleakClient(kit.address, backend=radio.client_backend) as client:
            await client.pair()
            ...
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import shutil
import signal
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from bumble.device import Device

from finemotor.errors import TransportError
from finemotor.firmware import firmware_dir, micropypath, tool
from finemotor.transport.virtual.bridge import KitBridge
from finemotor.transport.virtual.radio import VirtualRadio

__all__ = ["DEFAULT_HEAP", "KINDS", "SimKit"]

logger = logging.getLogger(__name__)

KINDS = ("stylus", "grip")
DEFAULT_HEAP = "512k"
"""MicroPython heap of a simulated kit: the firmware, the simulation and the simulated
student together (the ESP32-S3 kit has 512 KB of SRAM and 8 MB of PSRAM)."""

_OUTPUT_LINES = 200


class SimKit:
    """One simulated kit (stylus or grip) on a virtual radio, as an async context manager.

    Args:
        radio: the running virtual radio.
        kind: ``"stylus"`` or ``"grip"``.
        seed: seeds the simulated board and student.
        kit_id: the 6 hex digits on the kit's label (``kit_id.txt``); from the chip id if None.
        adc_chip: the grip's bridge ADC (``"nau7802"``, ``"ads1220"``, ``"hx711"``); the
            board's own if None.
        drift_ppm: the kit's crystal error.
        workdir: the kit's flash (bonds, calibration, kit id); a fresh temporary directory,
            removed afterwards, if None. Reuse one to keep bonds across runs.
        address: the kit's Bluetooth address (the radio picks one if None).
        heap: MicroPython heap size (``-X heapsize``).
        battery_mv: the cell's voltage from power-on, mV (the simulated board's own if None;
            ``set_battery_mv`` changes it later).
        start_timeout: seconds for the firmware to start advertising.
        stop_timeout: seconds for the firmware to exit when asked before it is killed.
        firmware: the ``firmware/`` directory (this source tree's by default).

    Raises:
        TransportError: on start, when the firmware does not come up (with its output).
    """

    def __init__(
        self,
        radio: VirtualRadio,
        kind: str,
        seed: int = 1,
        kit_id: str | None = None,
        adc_chip: str | None = None,
        drift_ppm: float = 0.0,
        workdir: str | os.PathLike[str] | None = None,
        *,
        address: str | None = None,
        heap: str = DEFAULT_HEAP,
        battery_mv: int | None = None,
        start_timeout: float = 20.0,
        stop_timeout: float = 3.0,
        firmware: Path | None = None,
    ) -> None:
        if kind not in KINDS:
            raise TransportError(f"Unknown kit kind {kind!r}: use one of {', '.join(KINDS)}.")
        if kit_id is not None:
            kit_id = kit_id.strip().upper()
            if len(kit_id) != 6 or any(c not in "0123456789ABCDEF" for c in kit_id):
                raise TransportError(
                    f"Kit id {kit_id!r} is not the 6 hex digits of a kit's label, e.g. 1A2B3C."
                )
        self.radio = radio
        self.kind = kind
        self.seed = seed
        self.kit_id = kit_id
        self.adc_chip = adc_chip
        self.drift_ppm = drift_ppm
        self.battery_mv = battery_mv
        self.heap = heap
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._firmware = firmware
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir is not None else None
        self.bridge = KitBridge(radio, address=address, name=f"finemotor {kind}")
        self.process: asyncio.subprocess.Process | None = None
        self._output: collections.deque[str] = collections.deque(maxlen=_OUTPUT_LINES)
        self._readers: list[asyncio.Task[None]] = []
        self._stopping = False

    # Lifecycle

    async def start(self) -> None:
        """Starts the bridge and the firmware; returns once the kit advertises."""
        if self.process is not None:
            raise TransportError("This simulated kit is already started: start it once.")
        firmware = self._firmware or firmware_dir()
        path = await asyncio.to_thread(micropypath, firmware)
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix=f"finemotor-{self.kind}-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        port = await self.bridge.start()
        args = [
            str(port),
            self.kind,
            str(self.seed),
            self.kit_id or "-",
            self.adc_chip or "-",
            repr(float(self.drift_ppm)),
            str(firmware / self.kind / "main.py"),
            *([] if self.battery_mv is None else [str(int(self.battery_mv))]),
        ]
        self.process = await asyncio.create_subprocess_exec(
            tool("micropython"),
            "-X",
            f"heapsize={self.heap}",
            str(firmware / "sim" / "run_kit.py"),
            *args,
            cwd=self.workdir,
            env={**os.environ, "MICROPYPATH": path},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            # Its own process group: Ctrl-C in the terminal reaches the host, which stops the
            # kit itself (stop()), not the kit behind the host's back.
            process_group=0,
        )
        for stream, tag in ((self.process.stdout, "out"), (self.process.stderr, "err")):
            if stream is not None:
                self._readers.append(asyncio.create_task(self._drain(stream, tag)))
        exited = asyncio.ensure_future(self.process.wait())
        advertising = asyncio.ensure_future(self.bridge.wait_advertising(self.start_timeout))
        try:
            await asyncio.wait({exited, advertising}, return_when="FIRST_COMPLETED")
            if advertising.done() and advertising.exception() is None:
                return
            error = advertising.exception() if advertising.done() else None
        finally:
            exited.cancel()
            advertising.cancel()
        await self.stop()
        raise TransportError(
            f"The simulated {self.kind} did not start"
            + (f" ({error})" if error is not None else "")
            + f". Its output:\n{self.output}"
        )

    async def stop(self) -> None:
        """Asks the firmware to exit (kills it after ``stop_timeout``) and removes the kit."""
        self._stopping = True
        proc = self.process
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(TransportError):
                self.bridge.quit()
            try:
                async with asyncio.timeout(self.stop_timeout):
                    await proc.wait()
            except TimeoutError:
                await self._interrupt(proc)
        for task in self._readers:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 1.0)
        await self.bridge.close()
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    async def _interrupt(self, proc: asyncio.subprocess.Process) -> None:
        # Ctrl-C first (MicroPython prints where it was), then kill.
        logger.warning("the simulated %s did not exit in time: interrupted", self.kind)
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)
        try:
            async with asyncio.timeout(1.0):
                await proc.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        died = self.died
        await self.stop()
        if died and exc is None:
            raise TransportError(
                f"The simulated {self.kind} stopped on its own (exit code "
                f"{self.returncode}). Its output:\n{self.output}"
            )

    # What callers use

    @property
    def address(self) -> str:
        """The kit's identity address: how a computer that bonded with it knows it (on the
        air the kit uses resolvable private addresses: ``bridge.advertised_address``)."""
        return self.bridge.address

    @property
    def device(self) -> Device:
        """The kit's bumble device on the virtual link."""
        device = self.bridge.device
        if device is None:
            raise TransportError("The simulated kit is not running: start it first.")
        return device

    @property
    def returncode(self) -> int | None:
        """The firmware process's exit code, None while it runs."""
        return None if self.process is None else self.process.returncode

    @property
    def died(self) -> bool:
        """True if the firmware process ended without being asked to."""
        return self.returncode is not None and not self._stopping

    @property
    def output(self) -> str:
        """The last lines the firmware printed (stdout and stderr, interleaved)."""
        return "\n".join(self._output)

    def press_button(self, ms: int = 200) -> None:
        """Presses the kit's button: under 5 s opens the 60 s pairing window, 5 s or more
        forgets every bond."""
        self._require_running().press_button(ms)

    def set_battery_mv(self, mv: int) -> None:
        """Sets the kit's cell voltage (millivolts); the firmware reads it within a second."""
        self._require_running().set_battery_mv(mv)

    def renew_address(self) -> None:
        """Renews the kit's resolvable private address now, as its Bluetooth controller does
        every 15 minutes (the firmware sees nothing of it)."""
        self._require_running().renew_address()

    def apply_load(self, newtons: float | None) -> None:
        """Hangs ``newtons`` on the kit's force sensor with the simulated load rig (it settles
        in about a second, swinging at first); None gives the sensor back to the student."""
        if newtons is not None and not (0.0 <= newtons < 4e6):
            raise TransportError(f"The rig applies 0 to 4e6 N, not {newtons} N.")
        self._require_running().apply_load(newtons)

    async def truth(self, timeout: float = 5.0) -> dict[str, Any]:
        """The simulated world's hidden truth (firmware/sim/README.md), at the sensor gain
        the firmware set."""
        bridge = self._require_running()
        path = Path(self.workdir or ".") / "truth.json"
        path.unlink(missing_ok=True)
        bridge.dump_truth()
        async with asyncio.timeout(timeout):
            while not path.exists():
                await asyncio.sleep(0.02)
        found: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return found

    def _require_running(self) -> KitBridge:
        if self.process is None or self.returncode is not None or not self.bridge.connected:
            raise TransportError(
                f"The simulated {self.kind} is not running (exit code {self.returncode}): "
                f"start it again. Its output:\n{self.output}"
            )
        return self.bridge

    async def _drain(self, stream: asyncio.StreamReader, tag: str) -> None:
        while line := await stream.readline():
            text = line.decode("utf-8", "replace").rstrip()
            self._output.append(text)
            logger.debug("%s %s: %s", self.kind, tag, text)

    def __repr__(self) -> str:
        state = "running" if self.process is not None and self.returncode is None else "stopped"
        return f"SimKit({self.kind}, seed={self.seed}, {state})"
