"""``replay://``: a recorded session played back through the same pipeline as a live kit.

``replay://SESSION/DEVICE?db=FILE&speed=S`` plays one device of a recorded session: its blocks
as they were recorded, with their device times, raw counts and the calibration the kit had, at
``S`` times real time (``speed=0``: as fast as the pipeline takes them; default 1). Whatever
consumes a live kit (the session runner, the metrics, the therapist view) consumes a replay
unchanged: for re-analysis with newer metrics, for showing a past session again, and in tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np

from finemotor.calibration.model import DeviceCalibration
from finemotor.errors import FinemotorError, RecordingError
from finemotor.protocol import LAYOUTS
from finemotor.protocol.calblob import decode_calibration
from finemotor.protocol.status import Status
from finemotor.recording import DeviceInfo, Recording
from finemotor.samples import SampleBlock
from finemotor.stream import KitLinkCounters
from finemotor.transport.commands import KitInfo

BlocksCallback = Callable[[list[SampleBlock]], None]


def parse_replay_url(name: str) -> tuple[int, str, Path | None, float]:
    """``replay://SESSION/DEVICE?db=FILE&speed=S`` as (session, device, db, speed).

    Raises:
        FinemotorError: the URL is not of that form.
    """
    url = urlparse(name)
    parts = [p for p in (url.netloc + url.path).split("/") if p]
    params = {k: v[-1] for k, v in parse_qs(url.query).items()}
    try:
        if url.scheme != "replay" or len(parts) != 2:
            raise ValueError
        session = int(parts[0])
        speed = float(params.get("speed", "1"))
        if speed < 0:
            raise ValueError
    except ValueError as exc:
        raise FinemotorError(
            f"{name}: a replay is named replay://SESSION/DEVICE, e.g. replay://12/grip, with "
            "?speed=S (times real time, 0 = as fast as possible) and ?db=FILE if needed; "
            "`finemotor sessions` lists the sessions"
        ) from exc
    db = Path(params["db"]) if "db" in params else None
    return session, parts[1], db, speed


@dataclass(frozen=True)
class RecordedDevice:
    """One device of a recorded session, as :func:`load_recorded_device` reads it.

    Attributes:
        device: the device's record (kind, channels, rate...).
        calibration: the calibration the kit had (None if it sent none).
        blocks: its sample blocks as recorded, in sequence order.
    """

    device: DeviceInfo
    calibration: DeviceCalibration | None
    blocks: list[SampleBlock]


def load_recorded_device(db: str | Path | None, session: int, device: str) -> RecordedDevice:
    """Read one device of a recorded session: its record, calibration and blocks.

    Raises:
        RecordingError: no such database, session or device (the message says what exists).
    """
    with Recording(db) as rec:
        dev = next((d for d in rec.devices(session) if d.name == device), None)
        if dev is None:
            names = ", ".join(d.name for d in rec.devices(session)) or "none"
            raise RecordingError(
                str(rec.path),
                "unknown_device",
                f"session {session} has no device {device!r} (it has: {names})",
            )
        rows = rec.query(
            "SELECT d.calibration FROM devices d WHERE d.session_id = ? AND d.name = ?",
            (session, device),
        )
        blob = rows[0][0] if rows else None
        calibration = decode_calibration(bytes(blob), len(dev.channels)) if blob else None
        samples = rec.query(
            "SELECT b.seq0, b.n, b.t, b.counts FROM blocks b JOIN devices d "
            "ON b.device_id = d.id WHERE d.session_id = ? AND d.name = ? ORDER BY b.seq0",
            (session, device),
        )
    nch = len(dev.channels)
    blocks = [
        SampleBlock(
            dev.kind,  # type: ignore[arg-type]
            dev.channels,
            np.arange(seq0, seq0 + n, dtype=np.int64),
            np.frombuffer(tb, dtype="<f8").astype(np.float64),
            np.frombuffer(cb, dtype="<i4").astype(np.int32).reshape(n, nch),
        )
        for seq0, n, tb, cb in samples
    ]
    return RecordedDevice(dev, calibration, blocks)


class ReplayLink:
    """One recorded device, played back; the same surface the session runner uses of a
    :class:`~finemotor.kitlink.KitLink`.

    Args:
        db: the recording database (None: the default one).
        session: the recorded session's id.
        device: the device's name in that session (``stylus`` or ``grip``).
        on_blocks: called with each list of blocks, as a live link would.
        speed: times real time; 0 plays as fast as the consumer takes them.
    """

    def __init__(
        self,
        db: str | Path | None,
        session: int,
        device: str,
        on_blocks: BlocksCallback | None = None,
        speed: float = 1.0,
    ) -> None:
        self.db = db
        self.session = session
        self.device = device
        self.speed = speed
        self._on_blocks = on_blocks
        self.info: KitInfo | None = None
        self.calibration: DeviceCalibration | None = None
        self.done = asyncio.Event()
        self._blocks: list[SampleBlock] = []
        self._received = 0
        self._expected = 0
        self._task: asyncio.Task[None] | None = None
        self._t0_host = 0.0
        self._t0_dev = 0.0

    async def open(self) -> KitInfo:
        """Read the recording and start playing it.

        Raises:
            RecordingError: no such database, session or device (the message says what exists).
        """
        recorded = load_recorded_device(self.db, self.session, self.device)
        dev = recorded.device
        layout = next((lay for lay in LAYOUTS.values() if lay.kind == dev.kind), LAYOUTS[1])
        self.calibration = recorded.calibration
        self._blocks = list(recorded.blocks)
        rate = round(dev.rate_hz) if dev.rate_hz else 0
        self.info = KitInfo(
            f"replay://{self.session}/{self.device}",
            dev.model,
            dev.serial,
            dev.firmware,
            layout,
            rate,
            0,
        )
        self._t0_host = time.monotonic()
        self._t0_dev = float(self._blocks[0].t[0]) if self._blocks else 0.0
        self._task = asyncio.create_task(self._play())
        return self.info

    async def _play(self) -> None:
        for block in self._blocks:
            if self.speed > 0:
                due = self._t0_host + (float(block.t[-1]) - self._t0_dev) / self.speed
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            else:
                await asyncio.sleep(0)
            self._received += len(block)
            self._expected = int(block.seq[-1] - self._blocks[0].seq[0] + 1)
            if self._on_blocks is not None:
                self._on_blocks([block])
        self.done.set()

    async def close(self) -> None:
        """Stop playing."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def connected(self) -> bool:
        """True while there is more to play."""
        return not self.done.is_set()

    @property
    def status(self) -> Status | None:
        """A replay has no live status."""
        return None

    def counters(self) -> KitLinkCounters:
        """Samples played, and what the recording's sequence numbers say was taken."""
        return KitLinkCounters(
            received=self._received,
            expected=self._expected,
            lost=self._expected - self._received,
        )

    def to_host(self, device_t: float) -> float | None:
        """When a sample plays on this computer's clock (None when playing unpaced)."""
        if self.speed <= 0:
            return None
        return self._t0_host + (device_t - self._t0_dev) / self.speed

    def settled(self) -> bool:
        """A replay has nothing to backfill."""
        return True
