"""The real firmware over the serial link: a simulated kit on a pseudo-terminal.

The kit's unmodified firmware runs under MicroPython (``firmware/sim/run_serial_kit.py``: the
realtime simulated world, the student, factory calibration, then the device's ``main.py``)
with its serial link on the master side of a pseudo-terminal; the host opens the slave path
with pyserial, as it would ``/dev/ttyACM0``. For the line faults a relay sits between two
pseudo-terminals (kit ↔ relay ↔ host) and can corrupt a byte, drop everything for a while
(a glitch), or vanish (the cable pulled out).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import select
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
import tty
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from finemotor.firmware import firmware_dir, micropypath
from finemotor.kitlink import KitLink
from finemotor.protocol import FRAME_BACKFILL, decode_frames
from finemotor.protocol.status import Status
from finemotor.samples import SampleBlock
from finemotor.source import open_source
from finemotor.stream import DeviceStream
from finemotor.transport.serial import SerialKit

ROOT = Path(__file__).resolve().parents[2]


def run_async(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test in its own loop, 30 s at most."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 30))

    return wrapper


def _raw_pty() -> tuple[int, int]:
    master, slave = os.openpty()
    tty.setraw(slave)
    return master, slave


class Relay:
    """Copies bytes between the kit's line and the host's, and can spoil them."""

    def __init__(self, kit_side: int, host_side: int) -> None:
        self.kit_side = kit_side  # slave of the kit's pseudo-terminal
        self.host_side = host_side  # master of the host's pseudo-terminal
        self.drop = False  # a glitch: nothing gets through, either way
        self.corrupt_data = 0  # corrupt this many of the next data packets (kit → host)
        self.corrupted = 0
        self.unplugged = False
        self._at_start = True
        self._stop = threading.Event()
        for fd in (kit_side, host_side):
            os.set_blocking(fd, False)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def unplug(self) -> None:
        self.unplugged = True
        self._stop.set()
        self._thread.join(2)
        os.close(self.host_side)

    def close(self) -> None:
        if not self.unplugged:
            self.unplug()

    def _run(self) -> None:
        while not self._stop.is_set():
            r, _, _ = select.select([self.kit_side, self.host_side], [], [], 0.02)
            for fd in r:
                try:
                    data = os.read(fd, 4096)
                except OSError:  # the host closed its port for a moment
                    time.sleep(0.01)
                    continue
                if self.drop:
                    continue
                if fd == self.kit_side:
                    data = self._spoil(bytearray(data))
                    dst = self.host_side
                else:
                    dst = self.kit_side
                with contextlib.suppress(OSError):  # nobody reading: lost, as on a cable
                    os.write(dst, data)

    def _spoil(self, data: bytearray) -> bytes:
        # A data packet starts after a 0x00 with its COBS code, then tag 0x01: flip a byte
        # inside it.
        if self.corrupt_data:
            for i in range(len(data) - 8):
                starts = data[i - 1] == 0 if i else self._at_start
                if starts and data[i + 1] == 0x01 and 0 not in data[i : i + 8]:
                    data[i + 6] ^= 0x5A
                    self.corrupt_data -= 1
                    self.corrupted += 1
                    break
        if data:
            self._at_start = data[-1] == 0
        return bytes(data)


class SerialSim:
    """A simulated kit whose serial link is a pseudo-terminal; ``path`` is the host's port."""

    def __init__(self, kind: str = "stylus", seed: int = 3, relay: bool = False) -> None:
        firmware = firmware_dir()
        self.workdir = Path(tempfile.mkdtemp(prefix="finemotor-serial-"))
        kit_master, kit_slave = _raw_pty()
        os.set_blocking(kit_master, False)
        self.relay: Relay | None = None
        if relay:
            host_master, host_slave = _raw_pty()
            self.path = os.ttyname(host_slave)
            os.close(host_slave)
            self.relay = Relay(kit_slave, host_master)
        else:
            self.path = os.ttyname(kit_slave)
            os.close(kit_slave)
        env = dict(os.environ, MICROPYPATH=micropypath(firmware))
        self.process = subprocess.Popen(
            [
                shutil.which("micropython") or str(ROOT / ".venv" / "bin" / "micropython"),
                "-X",
                "heapsize=512k",
                str(firmware / "sim" / "run_serial_kit.py"),
                str(kit_master),
                kind,
                str(seed),
                "1A2B3C",
                "-",
                "0.0",
                str(firmware / kind / "main.py"),
            ],
            pass_fds=[kit_master],
            cwd=self.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        os.close(kit_master)  # the kit holds its end: when it exits, the line is gone

    def kill(self) -> str:
        """Stop the kit (its end of the line closes); returns what it printed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            out, _ = self.process.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        return out.decode(errors="replace")

    def close(self) -> None:
        self.kill()
        if self.relay is not None:
            self.relay.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


@pytest.fixture
def sim() -> Iterator[SerialSim]:
    s = SerialSim()
    yield s
    s.close()


@pytest.fixture
def relayed() -> Iterator[SerialSim]:
    s = SerialSim(relay=True)
    yield s
    s.close()


def _continuous(blocks: list[SampleBlock]) -> np.ndarray[Any, np.dtype[np.int64]]:
    seq = np.concatenate([b.seq for b in blocks])
    assert np.all(np.diff(seq) == 1), "samples are not continuous"
    return seq


@run_async
async def test_stylus_streams_and_answers_over_serial(sim: SerialSim) -> None:
    frames: list[bytes] = []
    statuses: list[Status] = []
    dropped = asyncio.Event()
    kit = SerialKit(sim.path, frames.append, statuses.append, dropped.set, timeout=5)
    info = await kit.connect()
    assert (info.model, info.firmware, info.rate_hz) == ("FM-STYLUS-1", "1.0.0", 200)
    assert info.layout.name == "stylus.v1"
    assert kit.identity is not None and kit.identity.kit_id == "1A2B3C"
    cal = await kit.read_calibration()
    assert cal.calibrated_at > 0 and len(cal.channels) == 3

    rtts = []
    for _ in range(10):
        s = await kit.time_sync()
        rtts.append(s.received_s - s.sent_s)
    assert statistics.median(rtts) < 0.05

    seq0, _tick = await kit.start()
    await asyncio.sleep(3.0)
    assert statuses and statuses[-1].state == "streaming"

    stream = DeviceStream(info.layout, info.rate_hz)
    blocks = [b for f in frames for b in stream.feed(f)]
    seq = _continuous(blocks)
    assert seq[0] % 65536 == seq0
    assert 540 <= len(seq) <= 640  # 3 s at 200 Hz
    assert abs(stream.period_us - 5000) < 50
    assert stream.counters.malformed == 0 and stream.counters.gaps == 0
    assert kit.counters.bad == 0

    # BACKFILL: the last 100 samples again, as backfill frames.
    first, queued, gone = await kit.backfill(int(seq[-1] - 99) % 65536, 100)
    assert (first, queued, gone) == (int(seq[-1] - 99) % 65536, 100, 0)
    await asyncio.sleep(0.5)
    decoded, errors = decode_frames(frames, info.layout)
    assert not errors and decoded is not None
    assert int(np.sum(decoded.count[decoded.ftype == FRAME_BACKFILL])) == 100

    await kit.stop()
    await asyncio.sleep(0.3)
    n = len(frames)
    await asyncio.sleep(0.5)
    assert len(frames) == n  # stopped
    assert (await kit.time_sync()).tick > 0

    # The kit goes away (its end of the line closes): reported as a disconnect.
    t0 = time.monotonic()
    sim.kill()
    await asyncio.wait_for(dropped.wait(), 3)
    assert time.monotonic() - t0 < 2 and not kit.connected


@run_async
async def test_grip_streams_through_its_source_name_with_calibration() -> None:
    s = SerialSim("grip", seed=4)
    try:
        got: list[SampleBlock] = []
        async with open_source(f"serial://{s.path}", got.extend, timeout=5) as link:
            info = link.info
            assert info is not None
            assert info.model.startswith("FM-GRIP-1") and info.layout.name == "grip.v1"
            assert link.calibration is not None and link.calibration.calibrated_at > 0
            await asyncio.sleep(2.5)
        seq = _continuous(got)
        assert len(seq) >= 0.8 * 2.5 * info.rate_hz
        assert link.counters().lost == 0
        assert link.clock.ready
    finally:
        s.close()


@run_async
async def test_a_corrupted_byte_is_dropped_and_backfilled(relayed: SerialSim) -> None:
    got: list[SampleBlock] = []
    link = KitLink(relayed.path, got.extend, timeout=5)
    await link.open()
    await asyncio.sleep(1.0)
    assert relayed.relay is not None
    relayed.relay.corrupt_data = 1
    await asyncio.sleep(3.5)  # the hole is asked for at once, and filled
    await link.close()
    assert relayed.relay.corrupted == 1
    assert isinstance(link.kit, SerialKit)
    assert link.kit.counters.bad == 1
    c = link.counters()
    assert c.gaps >= 1 and c.backfilled >= 1 and c.lost == 0 and c.malformed == 0
    seq = _continuous(got)
    assert len(seq) >= 0.9 * 4.5 * 200


@pytest.mark.slow  # the link silent for 4 s in real time, then the backlog
@run_async
async def test_a_glitch_drops_the_link_and_loses_nothing(relayed: SerialSim) -> None:
    got: list[SampleBlock] = []
    link = KitLink(relayed.path, got.extend, timeout=5)
    await link.open()
    await asyncio.sleep(1.0)
    assert relayed.relay is not None
    relayed.relay.drop = True  # nothing either way for 4 s: both ends give up on the other
    await asyncio.sleep(4.0)
    assert not link.state.connected
    relayed.relay.drop = False
    for _ in range(60):
        await asyncio.sleep(0.1)
        if link.state.connected and link.stream is not None and not link.stream.holes():
            break
    await asyncio.sleep(1.0)
    await link.close()
    assert link.state.reconnects == 1
    c = link.counters()
    assert c.lost == 0 and c.backfilled > 0
    seq = _continuous(got)
    assert len(seq) >= 0.9 * 6 * 200


@run_async
async def test_unplugging_reports_a_disconnect(relayed: SerialSim) -> None:
    dropped = asyncio.Event()
    kit = SerialKit(relayed.path, lambda f: None, on_disconnect=dropped.set, timeout=5)
    await kit.connect()
    await kit.start()
    await asyncio.sleep(0.5)
    assert relayed.relay is not None
    t0 = time.monotonic()
    relayed.relay.unplug()  # the host's port goes away
    await asyncio.wait_for(dropped.wait(), 3)
    assert time.monotonic() - t0 < 1.0
    assert not kit.connected
    assert "unplugged" in kit.counters.last_error


@run_async
async def test_the_repl_packet_stops_the_firmware(sim: SerialSim) -> None:
    kit = SerialKit(sim.path, lambda f: None, timeout=5)
    await kit.connect()
    await kit.release_console()
    assert not kit.connected
    for _ in range(200):  # a loaded machine may take a while to schedule the exit
        if sim.process.poll() is not None:
            break
        await asyncio.sleep(0.05)
    assert sim.process.poll() is not None, "the firmware did not stop"
    assert "KeyboardInterrupt" in sim.kill()
