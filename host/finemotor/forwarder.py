"""The host's side of the therapist view: publish a live session to a relay.

The :class:`Forwarder` takes what the pipeline already has (sample blocks with their device's
calibration, metric snapshots, link status), turns it into compact JSON frames and sends them
over one WebSocket to the relay, reconnecting with backoff. Blocks are decimated for display
(at most :data:`DISPLAY_HZ` points per second per trace); the metrics run on the full rate
upstream. Each device's decimated points wait in the forwarder and go out together, at most
:data:`FRAME_HZ` data frames per second per device: with the device's own block that arrives
once a frame interval has passed since its last frame (so its newest points leave as soon as
they come and never wait for another device), from one timer per forwarder when no block comes
to do it, and on :meth:`Forwarder.close`. A device's status goes out when it changes. While the
relay is unreachable, display frames are dropped (the page shows the gap); the latest status
and metrics are sent again on reconnection. Events the therapist marks come back through
``on_mark``. When the relay refuses the session (full, busy, or the link is not valid)
:attr:`Forwarder.problem` says so in words for the facilitator.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from finemotor.aio import wait_event
from finemotor.calibration.model import DeviceCalibration
from finemotor.errors import FinemotorError
from finemotor.forces import BARREL_PADS, barrel_pads, barrel_sum, convert_channel
from finemotor.marks import clean_mark_text
from finemotor.metrics.grip import GripSummary
from finemotor.metrics.live import LiveSnapshot
from finemotor.metrics.pen import PenSummary
from finemotor.metrics.results import Metric
from finemotor.preflight import CALIBRATION_VALID_DAYS
from finemotor.relay.frames import ACK, DATA, HELLO, MARK, METRICS, STATUS, WATCH
from finemotor.relay.tokens import PublishedSession
from finemotor.samples import DEVICE_KINDS, SampleBlock
from finemotor.units import KGF_N

logger = logging.getLogger(__name__)

DISPLAY_HZ = 60.0
"""Points per second per trace sent for display at most (the page draws at most 60). A kit's
block comes about every 20 ms, so a live trace gets each block's newest point, about 50 a
second, and now and then a second point of a block that spans more than 1/DISPLAY_HZ; a
backfill gives 60 a second of its span."""
TILES_HZ = 2.0
"""Live-tile frames per second per device at most (the engines make about 5 snapshots a
second; a number a person reads changes at most twice a second, and each frame is a message the
relay carries). The latest snapshot always goes out, at the next flush or on close."""
FRAME_HZ = 10.0
"""Data frames per second per device at most (a frame carries one device's waiting points).

A kit delivers a block per device about every 20 ms; sending each as its own frame cost the
relay 80-100 frames/s for a two-kit session, each received, parsed, checked and written to
every viewer at about the same cost whatever it holds. At most 10 frames/s per device (about 9
in practice: a frame goes with a block, 100-120 ms after the last), a frame carries 5-6
points per trace and each chart is redrawn about 9 times a second. The block that makes a
device's frame has its newest points wait for nothing, so the newest force on each chart is
as fresh as with a frame per block (docs/therapist-view.md, "The cadence"). ``inf`` sends
every block's points at once (a frame per device per block)."""
MAX_FRAME_POINTS = 1000
"""Points in one data frame at most; a device with more waiting (a backfill after a dropout)
sends them as several frames, in order, each well under the relay's 64 KiB."""
_FLUSH_GRACE_S = 0.025
"""How long past its interval a device's frame waits for a block of that device to make it
(about one kit block) before the timer sends it anyway: a device that stops still has its last
points shown."""
_BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 3.0)
_RETRY_AFTER_MAX_S = 60.0
_SEND_TIMEOUT_S = 5.0
"""A relay that takes longer than this to accept one frame is treated as gone: reconnect."""
_CLOSE_DRAIN_S = 2.0
"""How long :meth:`Forwarder.close` lets the connection send what is queued."""
_QUEUE = 512
_REFUSALS = {
    403: "the relay refused this session (its link may have expired, or this desk may not "
    "publish for this student: is the desk enrolled and the student on a caseload at its "
    "school?): restart the session",
    429: "the relay is busy with new sessions from this network: retrying",
    503: "the relay is full, so the therapist cannot watch yet: retrying (the session still "
    "records here)",
}


def _finite(obj: Any) -> Any:
    """``obj`` with every NaN or infinity replaced by None (JSON has neither)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def dumps_frame(frame: dict[str, Any]) -> str:
    """A frame as compact JSON, non-finite numbers as null (the relay refuses NaN)."""
    try:
        return json.dumps(frame, separators=(",", ":"), allow_nan=False)
    except ValueError:
        return json.dumps(_finite(frame), separators=(",", ":"), allow_nan=False)


def _metric(m: Metric | None, label: str, scale: float = 1.0, unit: str | None = None) -> Any:
    if m is None:
        return {"label": label, "value": None, "unit": unit or "", "why": "not yet"}
    if m.value is None:
        return {"label": label, "value": None, "unit": unit or m.unit, "why": m.reason}
    out = {"label": label, "value": round(float(m.value) * scale, 3), "unit": unit or m.unit}
    if m.display_unit == "kgf" and m.unit == "N":
        out["alt"] = f"{float(m.value) / KGF_N:.1f} kgf"
    if m.note:
        out["note"] = m.note
    return out


def _grip_tiles(s: GripSummary) -> dict[str, Any]:
    """Best peak per hand; the squeeze under way; unit-free tiles when uncalibrated."""
    out: dict[str, Any] = {}
    best: dict[str, tuple[float, Metric, int]] = {}
    for tr in s.trials:
        if tr.peak.value is None:
            continue
        v = float(tr.peak.value)
        n = best[tr.hand][2] + 1 if tr.hand in best else 1
        if tr.hand not in best or v > best[tr.hand][0]:
            best[tr.hand] = (v, tr.peak, n)
        else:
            best[tr.hand] = (best[tr.hand][0], best[tr.hand][1], n)
    for hand, (_v, metric, n) in sorted(best.items()):
        label = "grip peak" + ("" if hand == "unspecified" else f", {hand} hand")
        out[f"peak_{hand}"] = _metric(metric, f"{label} ({n} trial{'s' * (n != 1)})")
    if not best:
        why = s.reason
        if s.trials:  # trials, but no force in newtons (uncalibrated or saturated)
            why = s.trials[-1].peak.reason
        out["peak"] = {"label": "grip peak", "value": None, "unit": s.unit, "why": why}
    q = s.quality
    so_far = q.get("peak_so_far")
    if isinstance(so_far, Metric) and so_far.value is not None:
        raw = s.unit != "N"
        tile = _metric(so_far, "squeeze in progress: peak so far")
        if raw:
            tile["note"] = "raw readings: this device is not calibrated"
        if not q.get("open_trial"):
            tile["label"] = "squeeze under way (started before the recording)"
            tile["note"] = "its onset was not recorded: it is not measured; the next one is"
        out["squeeze"] = tile
    else:
        why = "no squeeze in progress"
        if q.get("started_mid_squeeze") and not s.trials:
            why = "the first squeeze started before the recording: not measured"
        out["squeeze"] = {"label": "squeeze in progress", "value": None, "unit": "", "why": why}
    if s.unit != "N" and s.trials:
        # uncalibrated: what holds without newtons
        hands = s.hands.get(s.trials[-1].hand, {})
        out["squeezes"] = {"label": "squeezes", "value": len(s.trials), "unit": ""}
        out["ttp"] = _metric(s.trials[-1].time_to_peak_s, "time to peak, last squeeze")
        out["trial_cv"] = _metric(hands.get("cv"), "variation between squeezes (CV)")
    return out


def tiles(snapshot: LiveSnapshot) -> dict[str, Any]:
    """The live tiles of a snapshot: grip peak per hand; pen force CV, on-paper share and the
    endurance trend (slope of mean force per minute)."""
    s = snapshot.summary
    out: dict[str, Any] = {}
    if isinstance(s, GripSummary):
        out.update(_grip_tiles(s))
    elif isinstance(s, PenSummary):
        raw = s.units.get("tip") != "N"
        out["cv"] = _metric(
            s.force.get("cv"), "pen pressure variation (CV)" if raw else "pen force CV"
        )
        if raw:
            out["strokes"] = _metric(s.timing.get("strokes_per_min"), "strokes per minute")
        on, air = s.timing.get("on_paper_s"), s.timing.get("in_air_s")
        if on is not None and air is not None and on.value and air.value is not None:
            share = float(on.value) / (float(on.value) + float(air.value))
            out["on_paper"] = {"label": "on paper", "value": round(100 * share, 1), "unit": "%"}
        else:
            out["on_paper"] = {"label": "on paper", "value": None, "unit": "%", "why": "no strokes"}
        force_trend = s.endurance.trends.mean_force
        if force_trend is not None:
            out["endurance"] = _metric(force_trend.slope, "endurance: force trend")
        else:
            why = s.endurance.reason or "needs at least two whole minutes"
            out["endurance"] = {
                "label": "endurance: force trend",
                "value": None,
                "unit": "%/min",
                "why": why,
            }
    return out


def trace_units(block: SampleBlock, calibration: DeviceCalibration) -> dict[str, str]:
    """Each display trace's unit: ``"N"``, or ``"raw"`` when a channel is uncalibrated."""
    idx = {name: i for i, name in enumerate(block.channels)}

    def unit(names: tuple[str, ...]) -> str:
        cal = [calibration.channel(idx[n]).calibrated for n in names if n in idx]
        return "N" if cal and all(cal) else "raw"

    if block.kind == "stylus":
        out = {"tip": unit(("tip",))}
        if any(pad in idx for pad in BARREL_PADS):
            out["barrel"] = unit(BARREL_PADS)
        return out
    return {"force": unit(("force",))}


def display_traces(block: SampleBlock, calibration: DeviceCalibration) -> dict[str, Any]:
    """Convert a block to the page's traces: stylus ``tip`` and ``barrel``; grip ``force``."""
    idx = {name: i for i, name in enumerate(block.channels)}
    out: dict[str, Any] = {}
    if block.kind == "stylus":
        out["tip"] = convert_channel(block.counts[:, idx["tip"]], calibration, idx["tip"]).values
        pads = barrel_pads(block.channels)
        if pads:
            out["barrel"] = barrel_sum(
                [convert_channel(block.counts[:, i], calibration, i) for i in pads]
            ).values
    else:
        out["force"] = convert_channel(
            block.counts[:, idx["force"]], calibration, idx["force"]
        ).values
    return out


@dataclass(frozen=True)
class DisplayPoints:
    """Blocks decimated for display (see :func:`display_points`).

    Attributes:
        t: device time of each point kept (s).
        traces: each display trace's values at those points (None where not finite).
        units: each trace's unit (:func:`trace_units`).
        next_t: the device time (s) from which the next point may be kept, to pass to the next
            call; None when there were no samples (keep the previous one).
    """

    t: list[float]
    traces: dict[str, list[float | None]]
    units: dict[str, str]
    next_t: float | None


def display_points(
    blocks: Sequence[SampleBlock], calibration: DeviceCalibration, next_t: float = -math.inf
) -> DisplayPoints:
    """The points of ``blocks`` a data frame shows: at most :data:`DISPLAY_HZ` a second.

    Each block's newest sample is kept (the newest force the therapist sees is the newest the
    kit sent, not one up to a display interval older), then every sample a display interval
    before the one kept, back to ``next_t``: consecutive points are at least 1/DISPLAY_HZ
    apart, within and across calls.

    Args:
        blocks: consecutive blocks of one device.
        calibration: the device's calibration (counts to newtons).
        next_t: the device time (s) before which no point is kept (the previous call's
            :attr:`DisplayPoints.next_t`; ``-inf`` at the start).
    """
    step = 1.0 / DISPLAY_HZ - 1e-6
    ts: list[float] = []
    traces: dict[str, list[float | None]] = {}
    units: dict[str, str] = {}
    nxt: float | None = None
    for block in blocks:
        if len(block) == 0:
            continue
        units = trace_units(block, calibration)
        floor = next_t if nxt is None else nxt
        nxt = floor
        kept: list[int] = []
        for i in range(len(block) - 1, -1, -1):  # from the newest back to the floor
            t = float(block.t[i])
            if t < floor:
                break
            if not kept or t <= float(block.t[kept[-1]]) - step:
                kept.append(i)
        if not kept:
            continue
        kept.reverse()
        nxt = float(block.t[kept[-1]]) + step
        conv = display_traces(block, calibration)
        for i in kept:
            ts.append(float(block.t[i]))
            for name, values in conv.items():
                v = float(values[i])
                traces.setdefault(name, []).append(round(v, 3) if math.isfinite(v) else None)
    return DisplayPoints(ts, traces, units, nxt)


def data_frame(
    dev: str,
    wall_ms: Sequence[float],
    traces: Mapping[str, Sequence[float | None]],
    units: Mapping[str, str],
) -> dict[str, Any]:
    """A ``d`` frame: each point's wall-clock time (unix ms), the traces and their units."""
    return {
        "k": DATA,
        "dev": dev,
        "t": [round(w, 1) for w in wall_ms],
        "tr": dict(traces),
        "u": dict(units),
    }


def batched_frame(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A data frame of one or several devices' points (each part: ``dev``, ``t``, ``tr``,
    ``u``): a device's frame as it always was, or the parts together in ``ds``."""
    if len(parts) == 1:
        return {"k": DATA, **parts[0]}
    return {"k": DATA, "ds": [dict(p) for p in parts]}


def metrics_frame(dev: str, shown: Mapping[str, Any]) -> dict[str, Any]:
    """An ``m`` frame: a device's live tiles (:func:`tiles` of a metric snapshot)."""
    return {"k": METRICS, "dev": dev, "tiles": dict(shown)}


def status_frame(
    dev: str,
    connected: bool,
    battery: int | None,
    calibration: DeviceCalibration | None,
    **extra: Any,
) -> dict[str, Any]:
    """An ``s`` frame: a device's link, battery, and calibration valid, due or none."""
    if calibration is None or not calibration.calibrated:
        cal = "none"
    elif time.time() - calibration.calibrated_at > CALIBRATION_VALID_DAYS * 86400:
        cal = "due"
    else:
        cal = "valid"
    return {
        "k": STATUS,
        "dev": dev,
        "link": "connected" if connected else "reconnecting",
        "battery": battery,
        "cal": cal,
        **extra,
    }


def hello_frame(student: str, devices: Sequence[str]) -> dict[str, Any]:
    """The ``hello`` a publisher starts with: the student's id and the devices it declares."""
    return {"k": HELLO, "dev": "", "student": student, "devs": list(devices)}


class Forwarder:
    """Publishes one session to a relay, reconnecting; see the module docstring.

    Args:
        relay_url: the relay's origin, ``http://host:port`` or ``https://...``.
        session: the session's id and tokens.
        on_mark: called with each event a therapist marks (``{"id", "text", "at"}``); what it
            returns (JSON-ready) is acknowledged to the page as recorded.
        devices: the devices this session publishes (declared to the relay, which takes
            frames for no other).
        headers: more headers for the relay (an enrolled desk's credential, sent only to its
            own server).
        frame_hz: data frames per second at most (default :data:`FRAME_HZ`; ``math.inf``:
            a frame per device per block, unbatched).
        clock: the monotonic clock (s) the cadence is kept by (a test's own clock).
    """

    def __init__(
        self,
        relay_url: str,
        session: PublishedSession,
        on_mark: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        devices: Sequence[str] = DEVICE_KINDS,
        headers: Mapping[str, str] | None = None,
        frame_hz: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not relay_url.startswith(("http://", "https://")):
            raise FinemotorError(
                f"relay URL {relay_url!r} must start with http:// or https:// "
                "(for example http://127.0.0.1:8765)"
            )
        self.relay_url = relay_url.rstrip("/")
        self.session = session
        self.on_mark = on_mark
        self.devices = tuple(devices)
        self.headers = dict(headers or {})
        self.connected = False
        self.problem: str | None = None
        """Why the therapist cannot watch right now (None while publishing)."""
        self.watching = 0
        """Viewers watching this session now, as the relay last said (0 while not
        connected)."""
        self.connects = 0
        self.sent = 0
        self.dropped = 0
        self._queue: deque[str] = deque(maxlen=_QUEUE)
        self._latest: dict[str, str] = {}
        """The latest frame of each kept kind (hello, each device's status): what a
        reconnection sends first, with each device's latest tiles."""
        self._tiles_last: dict[str, dict[str, Any]] = {}
        """Each device's latest tiles, sent or not (what a reconnection sends)."""
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._next_t: dict[str, float] = {}
        self._wall_offset = time.time() - time.monotonic()
        self.frame_hz = FRAME_HZ if frame_hz is None else frame_hz
        """Data frames per second at most (:data:`FRAME_HZ` unless given)."""
        if not self.frame_hz > 0:
            raise FinemotorError(f"frame_hz must be more than 0 (not {self.frame_hz!r})")
        self._clock = clock
        self._pending: dict[str, _Points] = {}
        self._last_flush: dict[str, float] = {}
        """When (the forwarder's clock, s) each device's last data frame went."""
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drained = asyncio.Event()
        self._tiles_sent: dict[str, float] = {}
        self._tiles_due: dict[str, dict[str, Any]] = {}
        """Each device's newest tiles not sent yet (they ride in its next data frame)."""
        self._tiles_timer: asyncio.TimerHandle | None = None

    @property
    def view_url(self) -> str:
        """The therapist's link."""
        return self.relay_url + self.session.view_path()

    async def start(self) -> None:
        """Start publishing (returns at once; connects in the background)."""
        self._loop = asyncio.get_running_loop()
        self._hello()
        self._task = asyncio.create_task(self._run())
        self._arm()

    async def close(self) -> None:
        """Stop publishing: send the points and tiles still waiting, let the connection take
        what is queued (up to 2 s), then stop."""
        self.flush()
        if self._tiles_timer is not None:
            self._tiles_timer.cancel()
            self._tiles_timer = None
        self._send_tiles(force=True)
        self._loop = None
        if self._task is not None and self.connected:
            self._drained.clear()
            self._wake.set()
            await wait_event(self._drained, _CLOSE_DRAIN_S)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # -- what the pipeline calls ---------------------------------------------------------------

    def blocks(
        self,
        dev: str,
        blocks: list[SampleBlock],
        calibration: DeviceCalibration,
        to_host: Callable[[float], float | None] | None = None,
    ) -> None:
        """Add blocks' points for display, decimated to :data:`DISPLAY_HZ`; they go out with
        the next flush (now, if a frame interval has passed since the last one).

        Args:
            dev: the device's kind (``stylus`` or ``grip``).
            blocks: new gap-free blocks.
            calibration: the device's calibration (counts to newtons).
            to_host: device time (s) to host ``time.monotonic()`` time (a link's
                ``to_host``); without it, or while it returns None (clocks not synced yet), the
                latest sample is taken as sampled now.
        """
        points = display_points(blocks, calibration, self._next_t.get(dev, -math.inf))
        if points.next_t is not None:
            self._next_t[dev] = points.next_t
        if points.t:
            self._add(dev, points.t, points.traces, points.units, to_host)
        if not self._pending or not any(len(block) for block in blocks):
            return
        if dev not in self._pending:
            return
        if self._clock() - self._last_flush.get(dev, -math.inf) >= 1.0 / self.frame_hz:
            self._flush([dev])
        else:
            self._arm()

    def _add(
        self,
        dev: str,
        ts: list[float],
        traces: dict[str, list[float | None]],
        units: dict[str, str],
        to_host: Callable[[float], float | None] | None,
    ) -> None:
        """Add decimated points (device times ``ts`` in s) to the device's waiting points."""
        hosts = [to_host(t) for t in ts] if to_host is not None else []
        if hosts and None not in hosts:
            wall = [(h + self._wall_offset) * 1000.0 for h in hosts if h is not None]
        else:
            now = time.time() * 1000.0
            wall = [now - (ts[-1] - t) * 1000.0 for t in ts]
        pending = self._pending.get(dev)
        if pending is not None and (pending.units != units or set(pending.traces) != set(traces)):
            self._flush([dev])  # a frame holds one unit per trace: what came before goes first
            pending = None
        if pending is None:
            pending = self._pending[dev] = _Points(units, {name: [] for name in traces})
        pending.t.extend(round(w, 1) for w in wall)
        for name, values in traces.items():
            pending.traces[name].extend(values)

    def flush(self) -> None:
        """Send every device's waiting points now (a data frame per device, more only past
        :data:`MAX_FRAME_POINTS`), each device's points in the order they were sampled; and
        the live tiles that are due."""
        self._flush(list(self._pending))

    def _flush(self, devs: Sequence[str]) -> None:
        """Send ``devs``' waiting points, a device's frames in order, the last carrying the
        device's tiles if their interval has passed."""
        now = self._clock()
        for dev in devs:
            points = self._pending.pop(dev, None)
            if points is None:
                continue
            self._last_flush[dev] = now
            starts = range(0, len(points.t), MAX_FRAME_POINTS)
            for start in starts:
                frame = {"k": DATA, **points.part(dev, start, start + MAX_FRAME_POINTS)}
                if start == starts[-1] and self._tiles_ready(dev, now):
                    frame["m"] = self._tiles_due.pop(dev)
                    self._tiles_sent[dev] = now
                self._send(dumps_frame(frame), keep=False)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._arm()

    def _overdue_at(self, dev: str) -> float:
        """When (the forwarder's clock, s) ``dev``'s waiting points go without a block."""
        return self._last_flush.get(dev, -math.inf) + 1.0 / self.frame_hz + _FLUSH_GRACE_S

    def _arm(self) -> None:
        """Set the timer (one per forwarder) for the first device whose waiting points no
        block of its own has sent by the end of its frame interval plus the grace."""
        if self._timer is not None or self._loop is None or not self._pending:
            return
        at = min(self._overdue_at(dev) for dev in self._pending)
        delay = min(max(at - self._clock(), 0.0), 1.0 / self.frame_hz + _FLUSH_GRACE_S)
        self._timer = self._loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        """No block came to send some device's waiting points in time: send them."""
        self._timer = None
        now = self._clock()
        self._flush([dev for dev in self._pending if self._overdue_at(dev) <= now + 1e-3])

    def metrics(self, dev: str, snapshot: LiveSnapshot) -> None:
        """Queue the live tiles of a metric snapshot: at most :data:`TILES_HZ` a second per
        device, in the device's next data frame (a newer snapshot replaces one still
        waiting); in a frame of their own when no data frame takes them in time."""
        self._tiles_due[dev] = self._tiles_last[dev] = tiles(snapshot)
        self._arm_tiles()

    def _tiles_ready(self, dev: str, now: float) -> bool:
        """True if ``dev`` has tiles waiting and their interval has passed."""
        return dev in self._tiles_due and now - self._tiles_sent.get(dev, -math.inf) >= (
            1.0 / TILES_HZ
        )

    def _tiles_late_at(self, dev: str) -> float:
        """When (the forwarder's clock, s) ``dev``'s waiting tiles go in a frame of their own:
        a data frame interval and the grace after their own interval."""
        return (
            self._tiles_sent.get(dev, -math.inf)
            + 1.0 / TILES_HZ
            + min(1.0 / self.frame_hz + _FLUSH_GRACE_S, 1.0)
        )

    def _arm_tiles(self) -> None:
        """Set the tiles' timer (one per forwarder) for the first device's late tiles."""
        if not self._tiles_due or self._tiles_timer is not None or self._loop is None:
            return
        at = min(self._tiles_late_at(dev) for dev in self._tiles_due)
        self._tiles_timer = self._loop.call_later(
            min(max(at - self._clock(), 0.0), 1.0 / TILES_HZ + 1.0), self._on_tiles_timer
        )

    def _send_tiles(self, force: bool) -> None:
        """Send, each in a frame of its own, the waiting tiles no data frame took in time
        (all of them if ``force``)."""
        now = self._clock()
        for dev in list(self._tiles_due):
            if force or self._tiles_late_at(dev) <= now + 1e-3:
                self._tiles_sent[dev] = now
                self._send(dumps_frame(metrics_frame(dev, self._tiles_due.pop(dev))), keep=False)
        self._arm_tiles()

    def _on_tiles_timer(self) -> None:
        """Tiles waited past their interval and no data frame took them: send them."""
        self._tiles_timer = None
        self._send_tiles(force=False)

    def status(
        self,
        dev: str,
        connected: bool,
        battery: int | None,
        calibration: DeviceCalibration | None,
        **extra: Any,
    ) -> None:
        """Queue a device's status (link, battery, calibration valid or due) if it changed:
        the relay keeps the last one for viewers who join, and a reconnection sends it again."""
        msg = dumps_frame(status_frame(dev, connected, battery, calibration, **extra))
        if self._latest.get(f"s:{dev}") != msg:
            self._send(msg, keep=True, key=f"s:{dev}")

    # -- the connection ------------------------------------------------------------------------

    def _hello(self) -> None:
        frame = hello_frame(self.session.student, self.devices)
        self._send(dumps_frame(frame), keep=True, key="hello")

    def _send(self, msg: str, keep: bool, key: str = "") -> None:
        if keep:
            self._latest[key] = msg
        if not self.connected:
            if not keep:
                self.dropped += 1
            return
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(msg)
        self._wake.set()

    async def _run(self) -> None:
        s = self.session
        headers = {**s.publisher_headers(), **self.headers}
        url = f"{self.relay_url.replace('http', 'ws', 1)}/ws/publish/{s.session_id}"
        attempt = 0
        async with aiohttp.ClientSession() as http:
            while True:
                wait = _BACKOFF_S[min(attempt, len(_BACKOFF_S) - 1)]
                try:
                    async with http.ws_connect(url, headers=headers, heartbeat=10.0) as ws:
                        attempt = 0
                        self.connects += 1
                        self._queue.clear()
                        self._queue.extend(self._latest.values())
                        self._queue.extend(
                            dumps_frame(metrics_frame(dev, shown))
                            for dev, shown in self._tiles_last.items()
                        )
                        self.connected = True
                        self._set_problem(None)
                        logger.info("publishing to the relay")
                        await self._pump(ws)
                except aiohttp.WSServerHandshakeError as exc:
                    self._set_problem(
                        _REFUSALS.get(exc.status, f"the relay answered {exc.status}: retrying")
                    )
                    wait = max(wait, _retry_after(exc))
                except (TimeoutError, aiohttp.ClientError, OSError):
                    self._set_problem("the relay cannot be reached: retrying")
                finally:
                    self.connected = False
                    self.watching = 0
                await asyncio.sleep(wait)
                attempt += 1

    def _set_problem(self, problem: str | None) -> None:
        if problem != self.problem and problem is not None:
            logger.warning("therapist view: %s", problem)
        self.problem = problem

    async def _pump(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        reader = asyncio.create_task(self._read(ws))
        try:
            while not ws.closed and not reader.done():
                while self._queue:
                    async with asyncio.timeout(_SEND_TIMEOUT_S):  # raises into _run: reconnect
                        await ws.send_str(self._queue.popleft())
                    self.sent += 1
                self._drained.set()  # for close(): everything queued is sent
                self._wake.clear()
                await wait_event(self._wake, 1.0)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            try:
                obj = json.loads(msg.data)
            except ValueError:
                continue
            if not isinstance(obj, dict):
                continue
            if obj.get("k") == WATCH:
                n = obj.get("n")
                self.watching = n if isinstance(n, int) and n > 0 else 0
                continue
            if obj.get("k") != MARK:
                continue
            mark = {
                "id": obj.get("id"),
                "text": clean_mark_text(str(obj.get("text", ""))),
                "at": obj.get("at"),
            }
            recorded = self.on_mark(mark) if self.on_mark is not None else {}
            ack = {"k": ACK, "id": mark["id"], "text": mark["text"], **recorded}
            self._send(dumps_frame(ack), keep=False)


class _Points:
    """One device's points waiting for a flush: host wall times (ms) and each trace's values,
    with the traces' units."""

    def __init__(self, units: dict[str, str], traces: dict[str, list[float | None]]) -> None:
        self.units = units
        self.traces = traces
        self.t: list[float] = []

    def part(self, dev: str, start: int, end: int) -> dict[str, Any]:
        """Points ``start:end`` as a data frame's fields (``dev``, ``t``, ``tr``, ``u``)."""
        return {
            "dev": dev,
            "t": self.t[start:end],
            "tr": {name: values[start:end] for name, values in self.traces.items()},
            "u": self.units,
        }


def _retry_after(exc: aiohttp.WSServerHandshakeError) -> float:
    """The seconds a refusing relay asked us to wait (``Retry-After``), 0 if it did not."""
    headers = exc.headers
    raw = headers.get("Retry-After") if isinstance(headers, Mapping) else None
    try:
        value = float(raw or 0)
    except ValueError:
        return 0.0
    return min(max(value, 0.0), _RETRY_AFTER_MAX_S)
