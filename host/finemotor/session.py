"""A session from start to finish: record every sample, compute the metrics live, forward the
view to the therapist, and record what the therapist marks.

The :class:`SessionRunner` does not know how its kits are reached (Bluetooth, USB cable, the
simulated kit or a replayed recording): it is handed links that call back with gap-free blocks
on device time. Blocks that arrive before :meth:`SessionRunner.start` (while the kits are being
checked) are held and recorded once it starts, so the recording begins with the first sample.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from finemotor.calibration.model import DeviceCalibration
from finemotor.errors import FinemotorError, RecordingError, SyncError
from finemotor.forwarder import Forwarder
from finemotor.marks import hand_context
from finemotor.metrics.live import GripEngine, LiveSnapshot, PenEngine
from finemotor.metrics.results import to_jsonable
from finemotor.preflight import Flag
from finemotor.protocol.status import Status
from finemotor.recording import Commit, Recorder
from finemotor.relay import PublishedSession, Relay
from finemotor.relay.tokens import DESK_HEADER
from finemotor.samples import SampleBlock
from finemotor.stream import KitLinkCounters
from finemotor.sync.credential import DeskCredential
from finemotor.sync.uploader import Uploader
from finemotor.transport.commands import KitInfo

logger = logging.getLogger(__name__)

DESK_MARK_PREFIX = "desk-task-"
"""Ids of the marks made at the desk (the facilitator's "next task"), as against the
therapist's marks from the view."""


class Link(Protocol):
    """What the runner needs of a kit's link (:class:`~finemotor.kitlink.KitLink` has it)."""

    info: KitInfo | None
    calibration: DeviceCalibration | None

    @property
    def connected(self) -> bool:
        """The link is up."""

    @property
    def status(self) -> Status | None:
        """The kit's latest status (battery...), if it sends one."""

    def counters(self) -> KitLinkCounters:
        """Received, expected, gaps, backfilled, lost, malformed, duplicates, reconnects."""

    def to_host(self, device_t: float) -> float | None:
        """Device seconds to host ``time.monotonic()`` seconds; None before clocks are synced."""

    def settled(self) -> bool:
        """Nothing is still being backfilled."""


@dataclass
class SessionOptions:
    """What a session does.

    Attributes:
        student: the pseudonymous student id (never a name).
        db: the recording database (None: the default in the user's data directory).
        relay_url: publish the therapist view to this relay; None runs one on this computer
            (reachable from this computer only).
        view: publish the therapist view at all.
        note: free text stored with the session (no personal data).
        metrics_every_s: how often a metrics snapshot is recorded (seconds).
        accepted_flags: the pre-session flags the facilitator chose to go on with.
        desk: this desk's enrolment: the view is published to its server (unless
            ``relay_url`` names another relay), and the session is uploaded there while it
            runs (every ``upload_every_s``) and at its end (for up to ``upload_deadline_s``;
            what does not make it is uploaded by ``finemotor sync``).
        view_ttl_s: how long the therapist's link stays valid from when the view is published
            (seconds).
    """

    student: str
    db: Path | None = None
    relay_url: str | None = None
    view: bool = True
    note: str = ""
    metrics_every_s: float = 10.0
    accepted_flags: list[Flag] = field(default_factory=list)
    desk: DeskCredential | None = None
    upload_every_s: float = 30.0
    upload_deadline_s: float = 20.0
    view_ttl_s: float = 12 * 3600.0


@dataclass
class _Device:
    name: str
    link: Link | None = None
    engine: PenEngine | GripEngine | None = None
    held: list[SampleBlock] = field(default_factory=list)
    first_t: float | None = None
    last_t: float | None = None
    received: int = 0
    latest: LiveSnapshot | None = None
    connected: bool | None = None
    last_metrics_at: float = 0.0


@dataclass(frozen=True)
class DeviceStatus:
    """One device's line of the live status."""

    name: str
    connected: bool
    battery_percent: int | None
    samples: int
    lost: int
    saved: int


@dataclass(frozen=True)
class SessionStatus:
    """The live status: per device, how long, and whether the recording keeps up."""

    elapsed_s: float
    devices: tuple[DeviceStatus, ...]
    saved_ago_s: float | None
    recording_problem: str | None
    marks: int
    view_problem: str | None = None
    """Why the therapist cannot watch right now (the relay is full, unreachable...)."""
    watching: int = 0
    """Viewers on the therapist view now (0 without a view)."""


@dataclass(frozen=True)
class SessionSummary:
    """What a finished session says (JSON-ready through :func:`to_jsonable`)."""

    session_id: int
    db: str
    student: str
    seconds: float
    view_url: str | None
    devices: dict[str, dict[str, Any]]
    marks: list[dict[str, Any]]
    flags: list[Flag]
    recording_problem: str | None
    upload: str | None = None
    """Where the session stands with the desk's server (None: the desk is not enrolled)."""


class SessionRunner:
    """Records, analyses and forwards one session; see the module docstring.

    Use: create it, open the links with ``on_blocks=runner.consumer(name)``, check them, then
    :meth:`start`; call :meth:`tick` about once a second; :meth:`finish` at the end (or
    :meth:`aclose` if something failed in between).
    """

    def __init__(self, opts: SessionOptions) -> None:
        self.opts = opts
        self.devices: dict[str, _Device] = {}
        self.recorder: Recorder | None = None
        self.forwarder: Forwarder | None = None
        self.marks: list[dict[str, Any]] = []
        self._stack = contextlib.AsyncExitStack()
        self._started_at: float | None = None
        self._saved_at: float | None = None
        self._saved: dict[str, int] = {}
        self._first_seq: dict[str, int] = {}
        self._ended = False
        self._closed = False
        self._uploader: Uploader | None = None
        self.upload_problem: str | None = None

    @property
    def view_url(self) -> str | None:
        """The therapist's link (once started with the view)."""
        return self.forwarder.view_url if self.forwarder is not None else None

    def consumer(self, key: str) -> Callable[[list[SampleBlock]], None]:
        """The ``on_blocks`` callback for the link that :meth:`start` will get under ``key``
        (any label: a kit id, a URL...). Blocks are held until the session starts."""
        dev = self.devices.setdefault(key, _Device(key))

        def take(blocks: list[SampleBlock]) -> None:
            if self._ended:  # after the session's end: not part of it
                return
            if self.recorder is None:
                dev.held.extend(blocks)
                return
            self._take(dev, blocks)

        return take

    # -- starting ---------------------------------------------------------------------------

    async def start(self, links: dict[str, Link]) -> None:
        """Start recording (and publishing) the session with these opened links, keyed as
        their consumers were. Each device is named by its kind (``stylus``, ``grip``).

        Raises:
            FinemotorError: a link is not open, or two links are the same kind of device.
            RecordingError: the database cannot be opened or written (nothing is recorded).
        """
        names: dict[str, str] = {}
        for key, link in links.items():
            if link.info is None:
                raise FinemotorError(f"{key}: the link is not open")
            name = link.info.layout.kind
            if name in names.values():
                raise FinemotorError(f"two {name}s in one session: use one of each at most")
            names[key] = name
        self.recorder = Recorder(
            self.opts.db, self.opts.student, self.opts.note, on_commit=self._committed
        )
        self._started_at = time.monotonic()
        for flag in self.opts.accepted_flags:
            self.recorder.add_event("preflight_flag", flag, device=flag.device)
        for key, link in links.items():
            dev = self.devices.setdefault(key, _Device(key))
            dev.name = names[key]
            dev.link = link
            self._add_device(dev, link)
        if self.opts.view:
            await self._start_view()
        if self.opts.desk is not None:
            self._uploader = Uploader(
                self.opts.desk, self.recorder.path, deadline_s=self.opts.upload_every_s / 2
            )
            task = asyncio.create_task(self._upload_while_running())

            async def stop_uploading() -> None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

            self._stack.push_async_callback(stop_uploading)
        for dev in self.devices.values():
            held, dev.held = dev.held, []
            if held:
                self._take(dev, held)
        self.tick()

    def _add_device(self, dev: _Device, link: Link) -> None:
        assert self.recorder is not None and link.info is not None
        info = link.info
        channels = info.layout.channel_names
        cal = link.calibration
        self.recorder.add_device(
            dev.name,
            info.layout.kind,
            channels,
            serial=info.serial,
            firmware=info.firmware,
            model=info.model,
            address=info.address,
            rate_hz=float(info.rate_hz),
            calibration=cal,
        )
        cal = cal or DeviceCalibration.uncalibrated(len(channels))
        if info.layout.kind == "stylus":
            dev.engine = PenEngine(cal, info.rate_hz, channels=channels)
        else:
            dev.engine = GripEngine(cal, info.rate_hz, channels=channels)

    async def _upload_while_running(self) -> None:
        """Upload what is recorded so far, now and then, so the end has little left to send."""
        assert self._uploader is not None and self.recorder is not None
        while True:
            await asyncio.sleep(self.opts.upload_every_s)
            try:
                await self._uploader.upload(self.recorder.session_id, final=False)
                self.upload_problem = None
            except (SyncError, RecordingError) as exc:
                self.upload_problem = str(exc)

    async def _start_view(self) -> None:
        url = self.opts.relay_url
        desk = self.opts.desk
        if url is None and desk is not None:
            url = desk.server
        if url is None:
            relay = Relay("127.0.0.1", 0)
            url = await relay.start()
            self._stack.push_async_callback(relay.stop)
        headers = None
        if desk is not None and url.rstrip("/") == desk.server:
            headers = {DESK_HEADER: desk.credential}
        session = PublishedSession.new(self.opts.student, ttl_s=self.opts.view_ttl_s)
        fwd = Forwarder(
            url,
            session,
            on_mark=self.mark,
            devices=[d.name for d in self.devices.values()],
            headers=headers,
        )
        await fwd.start()
        self._stack.push_async_callback(fwd.close)
        self.forwarder = fwd

    # -- the data path ----------------------------------------------------------------------

    def _take(self, dev: _Device, blocks: list[SampleBlock]) -> None:
        assert self.recorder is not None
        for block in blocks:
            n = len(block)
            if n == 0:
                continue
            self.recorder.add_block(dev.name, block)
            self._first_seq.setdefault(dev.name, int(block.seq[0]))
            dev.received += n
            if dev.first_t is None:
                dev.first_t = float(block.t[0])
            dev.last_t = float(block.t[-1])
            if dev.engine is not None:
                snap = dev.engine.feed(block)
                if snap is not None:
                    dev.latest = snap
                    if self.forwarder is not None:
                        self.forwarder.metrics(dev.name, snap)
        link = dev.link
        if self.forwarder is not None and link is not None and dev.engine is not None:
            self.forwarder.blocks(dev.name, blocks, dev.engine.calibration, link.to_host)

    def _committed(self, commit: Commit) -> None:
        self._saved_at = time.monotonic()
        self._saved = {
            name: seq + 1 - self._first_seq.get(name, 0) for name, seq in commit.last_seq.items()
        }

    # -- events -----------------------------------------------------------------------------

    def mark(self, mark: dict[str, Any]) -> dict[str, Any]:
        """Record an event the therapist marked (``{"id", "text", "at"}``), once per device at
        that device's latest sample time; a hand mark also tells the grip metrics which hand
        squeezes from then on. Returns what the page is told was recorded."""
        text = str(mark.get("text", ""))
        data = {"id": mark.get("id"), "text": text, "at_ms": mark.get("at")}
        at: dict[str, float] = {}
        if self.recorder is not None:
            with_data = [d for d in self.devices.values() if d.last_t is not None]
            for dev in with_data:
                assert dev.last_t is not None
                at[dev.name] = round(dev.last_t, 3)
                self.recorder.add_event("mark", data, device=dev.name, device_t=dev.last_t)
            if not with_data:
                self.recorder.add_event("mark", data)
        context = hand_context(text)
        if context is not None:
            for dev in self.devices.values():
                if isinstance(dev.engine, GripEngine):
                    dev.engine.set_context(context, dev.last_t)
        self.marks.append({**data, "device_t": at})
        return {"recorded": self.recorder is not None, "device_t": at}

    def tick(self) -> SessionStatus:
        """Once a second: record link changes and a metrics snapshot when due, publish the
        kits' status to the view; return the live status."""
        now = time.monotonic()
        for dev in self.devices.values():
            link = dev.link
            if link is None:
                continue
            up = link.connected
            if self.recorder is not None and up != dev.connected:
                c = link.counters()
                if dev.connected is not None:
                    self.recorder.add_event(
                        "link",
                        {"connected": up, "reconnects": c.reconnects},
                        device=dev.name,
                        device_t=dev.last_t,
                    )
                dev.connected = up
            if (
                self.recorder is not None
                and dev.latest is not None
                and now - dev.last_metrics_at >= self.opts.metrics_every_s
            ):
                self.recorder.add_metrics(dev.name, dev.latest)
                dev.last_metrics_at = now
            if self.forwarder is not None:
                st = link.status
                self.forwarder.status(
                    dev.name,
                    up,
                    st.battery_percent if st else None,
                    dev.engine.calibration if dev.engine else None,
                )
        return self.status()

    def status(self) -> SessionStatus:
        """The live status (connection, battery, samples, time, whether saving keeps up)."""
        now = time.monotonic()
        devs = []
        for dev in self.devices.values():
            link = dev.link
            st = link.status if link is not None else None
            lost = link.counters().lost if link is not None else 0
            devs.append(
                DeviceStatus(
                    dev.name,
                    bool(link is not None and link.connected),
                    st.battery_percent if st else None,
                    dev.received,
                    lost,
                    self._saved.get(dev.name, 0),
                )
            )
        problem = None
        if self.recorder is not None and self.recorder.failure is not None:
            problem = str(self.recorder.failure)
        return SessionStatus(
            elapsed_s=0.0 if self._started_at is None else now - self._started_at,
            devices=tuple(devs),
            saved_ago_s=None if self._saved_at is None else now - self._saved_at,
            recording_problem=problem,
            marks=len(self.marks),
            view_problem=self.forwarder.problem if self.forwarder is not None else None,
            watching=self.forwarder.watching if self.forwarder is not None else 0,
        )

    # -- finishing --------------------------------------------------------------------------

    async def aclose(self) -> None:
        """For a session that will not :meth:`finish` (something failed after :meth:`start`):
        stop the view, its relay and the uploading, and close the recording with what it
        holds. Nothing is done after :meth:`finish`, or twice."""
        if self._closed:
            return
        self._closed = self._ended = True
        try:
            await self._stack.aclose()
        finally:
            if self.recorder is not None:
                with contextlib.suppress(RecordingError):
                    self.recorder.close()

    async def finish(self, settle_s: float = 5.0) -> SessionSummary:
        """Wait (up to ``settle_s``) for backfill, record the final metrics, close the recording
        and the view; return the summary. The caller closes the links afterwards.

        Raises:
            RecordingError: the last samples could not be written (the message says why and
                what is safe).
        """
        deadline = time.monotonic() + settle_s
        while time.monotonic() < deadline and not all(
            d.link is None or d.link.settled() for d in self.devices.values()
        ):
            await asyncio.sleep(0.2)
        elapsed = self.tick().elapsed_s
        self._ended = True  # what arrives from now on is after the session
        devices: dict[str, dict[str, Any]] = {}
        for dev in self.devices.values():
            entry: dict[str, Any] = {"samples_recorded": dev.received}
            if dev.link is not None:
                entry.update(dev.link.counters().as_dict())
                info = dev.link.info
                if info is not None:
                    entry.update(model=info.model, serial=info.serial, firmware=info.firmware)
            if dev.engine is not None and dev.received:
                final = dev.engine.finish()
                entry["metrics"] = to_jsonable(final)
                if self.recorder is not None:
                    self.recorder.add_metrics(dev.name, {"final": True, "summary": final})
            devices[dev.name] = entry
        self._closed = True
        await self._stack.aclose()
        problem = None
        if self.recorder is not None:
            try:
                self.recorder.close()
            except RecordingError as exc:
                problem = str(exc)
        upload = await self._final_upload() if self._uploader is not None else None
        return SessionSummary(
            session_id=self.recorder.session_id if self.recorder else 0,
            db=str(self.recorder.path) if self.recorder else "",
            student=self.opts.student,
            seconds=round(elapsed, 1),
            view_url=self.view_url,
            devices=devices,
            marks=list(self.marks),
            flags=list(self.opts.accepted_flags),
            recording_problem=problem,
            upload=upload,
        )

    async def _final_upload(self) -> str:
        """Upload the rest of the session and complete it on the server; a sentence."""
        assert self._uploader is not None and self.recorder is not None
        self._uploader.deadline_s = self.opts.upload_deadline_s
        try:
            state = await self._uploader.upload(self.recorder.session_id, final=True)
        except (SyncError, RecordingError) as exc:
            return (
                f"saved on this computer, not yet on the server ({exc}); finemotor sync uploads it"
            )
        if state.state == "complete":
            return "uploaded: the session is on the server"
        return f"saved on this computer, not uploaded: {state.problem}"
