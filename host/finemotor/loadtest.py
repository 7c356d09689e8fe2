"""A load generator for the relay tier: many publishers replaying a recording, many viewers.

:func:`run_loadtest` opens ``sessions`` lightweight publishers (plain WebSocket clients speaking
the relay's publisher protocol: no kits, no pipeline) and ``viewers_per_session`` viewers on
each, spread over the given servers round-robin so that, with more than one server, a session's
viewers are never on its publisher's server (publisher on server *i*, viewers on *i+1*,
*i+2*... skipping *i*). Each publisher replays one recorded session at its real rate: the
frames the desk's :class:`~finemotor.forwarder.Forwarder` would send for it (``hello``, ``d``
display traces decimated to :data:`~finemotor.forwarder.DISPLAY_HZ`, ``m`` metric tiles from
the live engines, ``s`` status when it changes), built with the forwarder's own builders once per
recording and shared by every publisher, each starting at its own offset into the recording.

Latency is measured per data frame: a publisher stamps the points of each ``d`` frame so that
the last one's wall-clock time (``t``, unix ms) is the moment it sends it, and a viewer takes
its receive time minus that. Delivery is data frames received over data frames sent times the
session's viewers. Refused handshakes are counted by HTTP status; sockets that close during the
run are reconnected with back-off and counted; the CPU time of each server's process is read
from ``/proc`` (the process listening on the URL's loopback port).

Safety: only the given servers are contacted, and a URL whose host does not resolve to a
loopback address is refused unless :attr:`LoadOptions.i_own_these_servers` is set. Tokens and
URLs with their query are never logged or reported (servers are named by their origin).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import math
import os
import resource
import secrets
import socket
import time
from array import array
from collections import Counter
from collections.abc import MutableSequence, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import numpy as np
import platformdirs

from finemotor.calibration.model import ChannelCalibration, DeviceCalibration
from finemotor.errors import FinemotorError
from finemotor.forwarder import (
    FRAME_HZ,
    TILES_HZ,
    batched_frame,
    display_points,
    dumps_frame,
    hello_frame,
    status_frame,
    tiles,
)
from finemotor.metrics.live import GripEngine, PenEngine
from finemotor.recording import Recorder, Recording
from finemotor.relay.frames import DATA, DROPS
from finemotor.relay.tokens import DESK_HEADER, PublishedSession
from finemotor.replay import load_recorded_device
from finemotor.samples import DeviceKind, SampleBlock
from finemotor.simstudent import load_student_module
from finemotor.sync.credential import load_credential

logger = logging.getLogger(__name__)

PACKET_S = 0.02
"""A kit cuts its live frames every ~20 ms (docs/protocol.md): the desk hands the forwarder
blocks that long, so the replay cuts the recording into blocks of at most this (seconds)."""
DEFAULT_SECONDS = 60.0
"""Length of the default recording (s); publishers loop over a recording shorter than the run."""
DEFAULT_RECORDING = "loadtest-simulated-{seconds:.0f}s-v1.sqlite"
"""The default recording's file name in the user's cache directory (by its length)."""
TRY_AGAIN_LATER = 1013
"""The close code of a viewer refused because its session has too many viewers."""
_BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 3.0)
_RETRY_AFTER_MAX_S = 60.0
_SEND_TIMEOUT_S = 5.0
_CLOSE_TIMEOUT_S = 2.0
_DATA_PREFIX = '{"k":"' + DATA + '"'
_PLANS: dict[tuple[str, int | None, int, float, float], ReplayPlan] = {}


class LoadTestError(FinemotorError):
    """The load test cannot run (a server refused for safety or unreachable, a bad recording)."""


# -- options and result ------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadOptions:
    """What to run.

    Attributes:
        servers: the servers' origins (``http://127.0.0.1:8765``...); publishers and viewers
            are spread over them round-robin.
        sessions: publishers (one session each).
        viewers_per_session: viewers watching each session.
        seconds: how long the publishers replay (s), after every client has connected.
        recording: a recording database (``finemotor.recording``) to replay; None: a simulated
            session made once into the user's cache directory (:func:`default_recording`).
        recording_session: the session of ``recording`` to replay (None: its latest).
        desk: an enrolled desk's ``server.json`` (``finemotor enrol``): its credential goes
            with every publisher (a server's admission requires it) and the student ids come
            from the first server's ``GET /api/desk``.
        i_own_these_servers: allow servers whose host is not a loopback address.
        drain_s: after the replay, the longest wait for frames still on their way (s).
        connect_timeout_s: the longest wait for the publishers, then the viewers, to connect
            before the replay starts (s).
        packet_s: the longest block the replay hands the frame builders (s).
    """

    servers: tuple[str, ...]
    sessions: int = 1
    viewers_per_session: int = 1
    seconds: float = 10.0
    recording: Path | None = None
    recording_session: int | None = None
    desk: Path | None = None
    i_own_these_servers: bool = False
    drain_s: float = 2.0
    connect_timeout_s: float = 5.0
    packet_s: float = PACKET_S


@dataclass(frozen=True)
class Latency:
    """Publisher-to-viewer latency of the data frames delivered (ms; None without any)."""

    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None


@dataclass(frozen=True)
class ServerCpu:
    """The CPU time a server's process used during the run.

    Attributes:
        server: the server's origin.
        pids: the processes listening on its port (empty when not found).
        cpu_s: their user + system CPU seconds during the run; None when unknown.
        note: why it is unknown, or ``""``.
    """

    server: str
    pids: tuple[int, ...]
    cpu_s: float | None
    note: str = ""


@dataclass(frozen=True)
class LoadResult:
    """What a load test measured.

    Attributes:
        servers: the servers' origins.
        sessions: publishers started.
        viewers_per_session: viewers started per session.
        seconds: how long the publishers replayed (s, measured).
        replayed: what the publishers replayed (in words).
        publishers_connected: publishers connected when the replay started.
        viewers_connected: viewers connected when the replay started.
        frames_sent: ``d`` (data) frames the publishers sent.
        other_frames_sent: ``hello``, ``m`` and ``s`` frames the publishers sent.
        frames_unsent: data frames due while their publisher was not connected (not sent).
        frames_delivered: data frames the viewers received.
        frames_expected: ``frames_sent`` times each session's viewers.
        delivery_pct: ``frames_delivered / frames_expected`` in percent (None if nothing sent).
        relay_dropped: frames the relays told viewers they dropped (slow viewer queues).
        latency: per data frame, publisher to viewer.
        publisher_reconnects: publisher sockets that closed during the run and were reopened.
        viewer_reconnects: viewer sockets that closed during the run and were reopened.
        refused: refused connections by HTTP status (``"404"``...), and ``"close 1013"`` for a
            viewer turned away because its session had too many viewers.
        connect_errors: connection attempts that failed without an HTTP answer.
        server_cpu: the CPU time of each server's process.
        loadtest_cpu_s: the CPU time of this process during the run (s; includes any server
            running inside it).
    """

    servers: tuple[str, ...]
    sessions: int
    viewers_per_session: int
    seconds: float
    replayed: str
    publishers_connected: int
    viewers_connected: int
    frames_sent: int
    other_frames_sent: int
    frames_unsent: int
    frames_delivered: int
    frames_expected: int
    delivery_pct: float | None
    relay_dropped: int
    latency: Latency
    publisher_reconnects: int
    viewer_reconnects: int
    refused: dict[str, int]
    connect_errors: int
    server_cpu: tuple[ServerCpu, ...]
    loadtest_cpu_s: float

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON-ready object (the keys are the attributes; ``latency`` and
        each ``server_cpu`` entry are objects of their own attributes)."""
        return asdict(self)


# -- safety --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Server:
    origin: str
    ws_origin: str
    host: str
    port: int
    loopback: bool


def _parse_server(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a server URL; a :class:`LoadTestError` if it is not one."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise LoadTestError(
            f"{url.split('?', maxsplit=1)[0]!r} is not a server URL ({exc})"
        ) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LoadTestError(
            f"{url.split('?', maxsplit=1)[0]!r} is not a server URL: give http://HOST:PORT or https://..."
        )
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def check_servers(urls: Sequence[str], i_own_these_servers: bool) -> list[_Server]:
    """The servers to load, each checked: a URL whose host does not resolve only to loopback
    addresses is refused (before anything is sent to it) unless ``i_own_these_servers``.

    Raises:
        LoadTestError: no server, a URL that is not one, a host that does not resolve, or a
            host that is not loopback without ``i_own_these_servers``.
    """
    if not urls:
        raise LoadTestError("give at least one server (--server http://127.0.0.1:8765)")
    loop = asyncio.get_running_loop()
    out: list[_Server] = []
    for url in urls:
        scheme, host, port = _parse_server(url)
        name = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
        origin = f"{scheme}://{name}"
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise LoadTestError(
                f"cannot resolve the server {origin} ({exc}): check its name"
            ) from exc
        addresses = {str(info[4][0]).split("%")[0] for info in infos}
        loopback = bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)
        if not loopback and not i_own_these_servers:
            raise LoadTestError(
                f"{origin} is not a loopback address: a load test sends a lot of traffic, so it "
                "only goes to servers on this computer unless you add --i-own-these-servers "
                "(only for servers you run yourself)"
            )
        ws_origin = ("wss" if scheme == "https" else "ws") + f"://{name}"
        out.append(_Server(origin, ws_origin, host, port, loopback))
    return out


async def _reachable(server: _Server, timeout_s: float) -> None:
    """Open and close one TCP connection to ``server``.

    Raises:
        LoadTestError: it cannot be reached.
    """
    try:
        async with asyncio.timeout(timeout_s):
            _reader, writer = await asyncio.open_connection(server.host, server.port)
    except (OSError, TimeoutError) as exc:
        if isinstance(exc, TimeoutError):
            why = "no answer"
        elif isinstance(exc, ConnectionRefusedError) or "Connect call failed" in str(exc):
            why = "connection refused"
        else:
            why = exc.strerror or type(exc).__name__
        raise LoadTestError(
            f"cannot reach the server at {server.origin} ({why}): is it running?"
        ) from exc
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


# -- the frames a recording makes ---------------------------------------------------------------


@dataclass(frozen=True)
class ReplayFrame:
    """One frame of the replay, due ``at_s`` seconds into the recording.

    Attributes:
        at_s: when the desk would send it (device time of its last sample, from the start).
        kind: the frame kind (``d``, ``m`` or ``s``).
        dev: the device it is about (``d``: the first part's).
        text: the frame as sent (``m`` and ``s``); for ``d``, what follows the last part's
            times.
        pieces: for ``d``, what comes before each part's times.
        offsets_ms: for ``d``, each part's point times relative to the newest point of the
            frame, which is the first part's last (ms, <= 0).
    """

    at_s: float
    kind: str
    dev: str
    text: str
    pieces: tuple[str, ...] = ()
    offsets_ms: tuple[tuple[float, ...], ...] = ()

    def render(self, now_ms: float) -> str:
        """The frame to send now: a ``d`` frame's newest point stamped ``now_ms``."""
        if self.kind != DATA:
            return self.text
        out: list[str] = []
        for piece, offsets in zip(self.pieces, self.offsets_ms, strict=True):
            out.append(piece)
            out.append(",".join(f"{now_ms + o:.1f}" for o in offsets))
        out.append(self.text)
        return "".join(out)


@dataclass(frozen=True)
class ReplayPlan:
    """Every frame a recorded session makes, built once and shared by the publishers.

    Attributes:
        description: what is replayed, in words.
        devices: the devices the ``hello`` declares.
        duration_s: the recording's length (s); a longer run loops over it.
        frames: the frames in the order they are due.
        statuses: one ``s`` frame per device (sent on connecting).
    """

    description: str
    devices: tuple[str, ...]
    duration_s: float
    frames: tuple[ReplayFrame, ...]
    statuses: tuple[str, ...]


def _cut(block: SampleBlock, n: int) -> list[SampleBlock]:
    """``block`` cut into blocks of at most ``n`` samples."""
    if len(block) <= n:
        return [block]
    return [
        SampleBlock(
            block.kind,
            block.channels,
            block.seq[a : a + n],
            block.t[a : a + n],
            block.counts[a : a + n],
        )
        for a in range(0, len(block), n)
    ]


@dataclass(frozen=True)
class _Part:
    """One device's display points of one kit block: when due, their recording times."""

    at_s: float
    dev: str
    times_s: tuple[float, ...]
    traces: dict[str, list[float | None]]
    units: dict[str, str]


def _data(parts: Sequence[_Part], shown: dict[str, Any] | None = None) -> ReplayFrame:
    """One data frame of ``parts`` (the forwarder's :func:`batched_frame`), the part with the
    newest point first; with one device's tiles (``m``) when ``shown``."""
    parts = sorted(parts, key=lambda p: -p.times_s[-1])
    newest = parts[0].times_s[-1]
    frame = batched_frame([{"dev": p.dev, "t": [0], "tr": p.traces, "u": p.units} for p in parts])
    if shown is not None:
        frame["m"] = shown
    chunks = dumps_frame(frame).split('"t":[0]')
    pieces = tuple(("]" if i else "") + c + '"t":[' for i, c in enumerate(chunks[:-1]))
    offsets = tuple(tuple(round((t - newest) * 1000.0, 1) for t in p.times_s) for p in parts)
    at = max(p.at_s for p in parts)
    return ReplayFrame(at, DATA, parts[0].dev, "]" + chunks[-1], pieces, offsets)


def _batched(
    parts: list[_Part], frame_hz: float, snapshots: list[tuple[float, str, dict[str, Any]]]
) -> list[ReplayFrame]:
    """The kit blocks' points in data frames as the forwarder sends them: a device's waiting
    points together, with that device's block that arrives once ``1/frame_hz`` has passed
    since its last frame (``inf``: a frame per device per block); a frame carries the device's
    newest tiles of ``snapshots`` ((time, device, tiles)) if :data:`TILES_HZ` allows."""
    out: list[ReplayFrame] = []
    waiting: dict[str, list[_Part]] = {}
    last: dict[str, float] = {}
    due: dict[str, dict[str, Any]] = {}
    tiles_at: dict[str, float] = {}
    later = sorted(snapshots, key=lambda x: x[0])
    k = 0
    for part in sorted(parts, key=lambda p: p.at_s):
        while k < len(later) and later[k][0] <= part.at_s:
            due[later[k][1]] = later[k][2]
            k += 1
        dev = part.dev
        waiting.setdefault(dev, []).append(part)
        if part.at_s - last.get(dev, -math.inf) >= 1.0 / frame_hz:
            shown = None
            if dev in due and part.at_s - tiles_at.get(dev, -math.inf) >= 1.0 / TILES_HZ:
                shown, tiles_at[dev] = due.pop(dev), part.at_s
            out.append(_data(_merged(waiting.pop(dev)), shown))
            last[dev] = part.at_s
    out.extend(_data(_merged(w)) for w in waiting.values() if w)
    return out


def _merged(parts: list[_Part]) -> list[_Part]:
    """One part per device (consecutive blocks of a device joined), in the order given."""
    by: dict[str, _Part] = {}
    for p in parts:
        old = by.get(p.dev)
        if old is None or old.units != p.units:
            by[p.dev] = p
            continue
        traces = {k: [*old.traces[k], *p.traces.get(k, [])] for k in old.traces}
        by[p.dev] = _Part(p.at_s, p.dev, old.times_s + p.times_s, traces, p.units)
    return list(by.values())


def build_plan(
    path: Path,
    session: int | None = None,
    packet_s: float = PACKET_S,
    frame_hz: float = FRAME_HZ,
) -> ReplayPlan:
    """The frames the forwarder would send for a recorded session, with when each is due.

    Each device's blocks are cut to at most ``packet_s`` and fed, in turn, to the forwarder's
    builders (display points decimated to its display rate, their units) and to the live
    metric engines (their snapshots' tiles); a status frame per device is due every second.
    Results are kept per file, session and modification time.

    Raises:
        LoadTestError: the file is not a recording, or has no such session or no samples.
        RecordingError: the database cannot be read.
    """
    if not path.is_file():
        raise LoadTestError(f"{path}: no such recording (give a recording database)")
    key = (str(path.resolve()), session, path.stat().st_mtime_ns, packet_s, frame_hz)
    if key in _PLANS:
        return _PLANS[key]
    with Recording(path) as rec:
        sessions = rec.list_sessions()
        if not sessions:
            raise LoadTestError(f"{path}: the recording holds no session")
        info = sessions[-1] if session is None else rec.session(session)
        devices = rec.devices(info.id)
    frames: list[ReplayFrame] = []
    parts: list[_Part] = []
    snapshots: list[tuple[float, str, dict[str, Any]]] = []
    statuses: list[str] = []
    duration = 0.0
    names: list[str] = []
    for dev in devices:
        if dev.kind not in ("stylus", "grip"):
            continue
        recorded = load_recorded_device(path, info.id, dev.name)
        blocks = [b for b in recorded.blocks if len(b)]
        if not blocks:
            continue
        names.append(dev.name)
        rate = float(dev.rate_hz or 0.0)
        if rate <= 0:
            span = float(blocks[-1].t[-1] - blocks[0].t[0])
            rate = max(1.0, (sum(len(b) for b in blocks) - 1) / span) if span > 0 else 100.0
        cal = recorded.calibration or DeviceCalibration.uncalibrated(len(dev.channels))
        engine: PenEngine | GripEngine
        if dev.kind == "stylus":
            engine = PenEngine(cal, rate, channels=dev.channels)
        else:
            engine = GripEngine(cal, rate, channels=dev.channels)
        per = max(1, round(packet_s * rate))
        t0 = float(blocks[0].t[0])
        next_t = -math.inf
        for whole in blocks:
            for block in _cut(whole, per):
                at = float(block.t[-1]) - t0
                points = display_points([block], cal, next_t)
                next_t = points.next_t if points.next_t is not None else next_t
                if points.t:
                    times = tuple(t - t0 for t in points.t)
                    parts.append(_Part(at, dev.name, times, points.traces, points.units))
                snap = engine.feed(block)
                if snap is not None:  # ride in the device's data frames, as the forwarder's
                    snapshots.append((at, dev.name, tiles(snap)))
        end = float(blocks[-1].t[-1]) - t0
        duration = max(duration, end + 1.0 / rate)
        status = dumps_frame(status_frame(dev.name, True, None, recorded.calibration))
        statuses.append(status)
        frames.append(ReplayFrame(0.0, "s", dev.name, status))  # as the forwarder: on change
    frames.extend(_batched(parts, frame_hz, snapshots))
    if not frames:
        raise LoadTestError(f"{path}: session {info.id} has no stylus or grip samples to replay")
    frames.sort(key=lambda f: f.at_s)
    plan = ReplayPlan(
        f"recorded session {info.id} of {path.name} ({', '.join(names)}, {duration:.0f} s)",
        tuple(names),
        duration,
        tuple(frames),
        tuple(statuses),
    )
    _PLANS[key] = plan
    return plan


# The reference hardware's scales (as in bench/sim_accuracy.py): counts per newton of the tip
# (FSS1500NSB through a NAU7802 at gain 8) and of the grip's S-beam; the barrel pads' dividers.
_TIP_COUNTS_PER_N = 328_474.0
_TIP_ZERO = 12_000
_GRIP_COUNTS_PER_N = 4_380.0
_FSR_N = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
_STYLUS_HZ = 200.0
_GRIP_HZ = 320.0


def default_recording(cache_dir: Path | None = None, seconds: float = DEFAULT_SECONDS) -> Path:
    """A recording of a simulated session (stylus and grip), made once and kept.

    The forces are the simulated student's (firmware/sim/student.py, the same the simulated
    kits play), sampled at the simulated kits' rates (stylus 200 Hz, grip 320 Hz), turned into
    counts with the reference hardware's scales and recorded, with their calibrations, by the
    desk's own :class:`~finemotor.recording.Recorder`. It goes to ``cache_dir`` (default: the
    user's cache directory) the first time and is reused after.
    """
    folder = cache_dir or Path(platformdirs.user_cache_dir("finemotor"))
    path = folder / DEFAULT_RECORDING.format(seconds=seconds)
    if path.is_file():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    student = load_student_module().Student(seed=1)
    rng = np.random.default_rng(1)
    t_pen = np.arange(round(seconds * _STYLUS_HZ)) / _STYLUS_HZ
    pen = np.array([student.pen(float(t)) for t in t_pen])
    t_grip = np.arange(round(seconds * _GRIP_HZ)) / _GRIP_HZ
    grip = np.array([student.grip(float(t)) for t in t_grip])
    fsr_counts = [round(4095 * n / (n + 5.0)) for n in _FSR_N]
    tip = _TIP_ZERO + np.round(
        (pen[:, 0] + 0.001 * rng.standard_normal(len(t_pen))) * _TIP_COUNTS_PER_N
    )
    pads = [np.round(np.interp(pen[:, k], _FSR_N, fsr_counts)) for k in (1, 2)]
    pen_counts = np.stack([tip, *pads], axis=1).astype(np.int32)
    grip_counts = np.round((grip + 0.05 * rng.standard_normal(len(t_grip))) * _GRIP_COUNTS_PER_N)
    table = tuple(float(v) for pair in zip(fsr_counts, _FSR_N, strict=True) for v in pair)
    now = int(time.time())
    stylus_cal = DeviceCalibration(
        now,
        (
            ChannelCalibration("linear", _TIP_ZERO, (1.0 / _TIP_COUNTS_PER_N,)),
            ChannelCalibration("table", 0, table),
            ChannelCalibration("table", 0, table),
        ),
    )
    grip_cal = DeviceCalibration(now, (ChannelCalibration("linear", 0, (1 / _GRIP_COUNTS_PER_N,)),))
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    rec = Recorder(partial, student="SIM-LOAD", note="simulated session for finemotor loadtest")
    stylus_channels = ("tip", "barrel_a", "barrel_b")
    rec.add_device(
        "stylus",
        "stylus",
        stylus_channels,
        rate_hz=_STYLUS_HZ,
        serial="SIM-P1",
        firmware="sim",
        calibration=stylus_cal,
    )
    rec.add_device(
        "grip",
        "grip",
        ("force",),
        rate_hz=_GRIP_HZ,
        serial="SIM-G1",
        firmware="sim",
        calibration=grip_cal,
    )
    for name, channels, counts, hz in (
        ("stylus", stylus_channels, pen_counts, _STYLUS_HZ),
        ("grip", ("force",), grip_counts.astype(np.int32)[:, None], _GRIP_HZ),
    ):
        step = int(hz)  # one block a second
        for k in range(0, counts.shape[0], step):
            seq = np.arange(k, min(k + step, counts.shape[0]), dtype=np.int64)
            kind: DeviceKind = "stylus" if name == "stylus" else "grip"
            rec.add_block(name, SampleBlock(kind, channels, seq, seq / hz, counts[seq]))
    rec.close()
    os.replace(partial, path)
    return path


# -- CPU of the servers' processes --------------------------------------------------------------


def listening_pids(port: int) -> tuple[int, ...]:
    """The processes listening on TCP ``port`` (IPv4 or IPv6), from ``/proc``; empty when
    none is found or ``/proc`` cannot be read."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) < 10 or parts[3] != "0A":  # 0A: LISTEN
                continue
            if int(parts[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(parts[9])
    if not inodes:
        return ()
    wanted = {f"socket:[{i}]" for i in inodes}
    pids: list[int] = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return ()
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{entry}/fd")
            if any(os.readlink(f"/proc/{entry}/fd/{fd}") in wanted for fd in fds):
                pids.append(int(entry))
        except OSError:  # gone, or not ours to look at
            continue
    return tuple(pids)


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds process ``pid`` has used (None if it cannot be read)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class _CpuWatch:
    """The CPU time of each server's processes, from the start of the run to its end."""

    def __init__(self, servers: Sequence[_Server]) -> None:
        self.servers = servers
        self.pids: list[tuple[int, ...]] = []
        self.start: list[dict[int, float | None]] = []
        self.own_start = _own_cpu_s()

    def begin(self) -> None:
        for server in self.servers:
            pids = listening_pids(server.port) if server.loopback else ()
            self.pids.append(pids)
            self.start.append({pid: process_cpu_s(pid) for pid in pids})

    def end(self) -> tuple[tuple[ServerCpu, ...], float]:
        out: list[ServerCpu] = []
        for server, pids, start in zip(self.servers, self.pids, self.start, strict=True):
            note = ""
            cpu: float | None = None
            if not server.loopback:
                note = "unknown: not on this computer"
            elif not pids:
                note = "unknown: its process was not found (or may not be looked at)"
            elif os.getpid() in pids:
                note = "unknown: the server runs inside this process"
            else:
                used = [(start.get(pid), process_cpu_s(pid)) for pid in pids]
                if any(a is None or b is None for a, b in used):
                    note = "unknown: its process could not be read"
                else:
                    cpu = round(sum(b - a for a, b in used if a is not None and b is not None), 3)
            out.append(ServerCpu(server.origin, pids, cpu, note))
        return tuple(out), round(_own_cpu_s() - self.own_start, 3)


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- the clients ----------------------------------------------------------------------------------


@dataclass
class _Tally:
    """Counts shared by every client of a run."""

    frames_sent: int = 0
    other_sent: int = 0
    unsent: int = 0
    delivered: int = 0
    relay_dropped: int = 0
    publisher_reconnects: int = 0
    viewer_reconnects: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    connect_errors: int = 0
    latencies: MutableSequence[float] = field(default_factory=lambda: array("d"))
    stopping: bool = False


def _backoff(attempt: int) -> float:
    return _BACKOFF_S[min(attempt, len(_BACKOFF_S) - 1)]


def _retry_after(exc: aiohttp.WSServerHandshakeError) -> float:
    raw = exc.headers.get("Retry-After") if exc.headers is not None else None
    try:
        return min(max(float(raw or 0), 0.0), _RETRY_AFTER_MAX_S)
    except ValueError:
        return 0.0


class _Publisher:
    """One session's publisher: connects (again, with back-off, when its socket closes) and
    sends the plan's frames when due."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        server: _Server,
        session: PublishedSession,
        plan: ReplayPlan,
        start_s: float,
        headers: dict[str, str],
        tally: _Tally,
    ) -> None:
        self.http, self.server, self.session, self.plan = http, server, session, plan
        self.start_s = start_s
        self.headers = {**session.publisher_headers(), **headers}
        self.tally = tally
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.tried = asyncio.Event()
        self.sent = 0
        self.latest: dict[str, str] = {}
        self.task: asyncio.Task[None] | None = None

    async def connect_loop(self) -> None:
        url = f"{self.server.ws_origin}/ws/publish/{self.session.session_id}"
        hello = dumps_frame(hello_frame(self.session.student, self.plan.devices))
        attempt = 0
        while not self.tally.stopping:
            wait = _backoff(attempt)
            opened = False
            try:
                async with self.http.ws_connect(url, headers=self.headers) as ws:
                    opened, attempt = True, 0
                    for text in (hello, *self.plan.statuses, *self.latest.values()):
                        await ws.send_str(text)
                        self.tally.other_sent += 1
                    self.ws = ws
                    self.tried.set()
                    async for _msg in ws:  # marks: none are sent, so nothing to answer
                        pass
            except aiohttp.WSServerHandshakeError as exc:
                self.tally.refused[str(exc.status)] += 1
                wait = max(wait, _retry_after(exc))
            except (TimeoutError, aiohttp.ClientError, OSError):
                if not opened:
                    self.tally.connect_errors += 1
            finally:
                self.ws = None
                self.tried.set()
            if self.tally.stopping:
                return
            if opened:
                self.tally.publisher_reconnects += 1
            attempt += 1
            await asyncio.sleep(wait)

    async def replay(self, t0: float, until: float, tick_s: float) -> None:
        """Send the plan's frames when due from ``t0`` (monotonic) to ``until``, starting
        ``start_s`` into the recording and looping over it."""
        frames, duration = self.plan.frames, self.plan.duration_s
        i = next((k for k, f in enumerate(frames) if f.at_s >= self.start_s), 0)
        base = t0 - (frames[i].at_s if i < len(frames) else 0.0)  # loop 0 starts at frame i
        while True:
            now = time.monotonic()
            if now >= until:
                return
            while base + frames[i].at_s <= now:
                await self._send(frames[i])
                i += 1
                if i == len(frames):
                    i, base = 0, base + duration
            due = base + frames[i].at_s
            await asyncio.sleep(max(due - time.monotonic(), tick_s))

    async def _send(self, frame: ReplayFrame) -> None:
        data = frame.kind == DATA
        if not data:
            self.latest[f"{frame.kind}:{frame.dev}"] = frame.text
        ws = self.ws
        if ws is None or ws.closed:
            if data:
                self.tally.unsent += 1
            return
        try:
            async with asyncio.timeout(_SEND_TIMEOUT_S):
                await ws.send_str(frame.render(time.time() * 1000.0))
        except (TimeoutError, ConnectionError, aiohttp.ClientError, RuntimeError):
            if data:
                self.tally.unsent += 1
            with contextlib.suppress(Exception):
                await ws.close()
            return
        if data:
            self.sent += 1
            self.tally.frames_sent += 1
        else:
            self.tally.other_sent += 1


class _Viewer:
    """One viewer of a session: counts its data frames and their latency, reconnecting with
    back-off when its socket closes."""

    def __init__(
        self, http: aiohttp.ClientSession, server: _Server, session: PublishedSession, tally: _Tally
    ) -> None:
        self.http, self.server, self.session, self.tally = http, server, session, tally
        self.instance = secrets.token_hex(8)
        self.tried = asyncio.Event()
        self.connected = False
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.received = 0
        self.drops = 0
        self.task: asyncio.Task[None] | None = None

    async def connect_loop(self) -> None:
        s = self.session
        url = f"{self.server.ws_origin}/ws/view/{s.session_id}"
        params = {"t": s.viewer_token, "i": self.instance}
        attempt = 0
        while not self.tally.stopping:
            wait = _backoff(attempt)
            opened = False
            try:
                async with self.http.ws_connect(url, params=params) as ws:
                    opened, attempt = True, 0
                    self.ws, self.connected, self.drops = ws, True, 0
                    self.tried.set()
                    async for msg in ws:
                        if msg.type == aiohttp.WSMsgType.TEXT:
                            self._take(msg.data)
                    if ws.close_code == TRY_AGAIN_LATER:
                        self.tally.refused[f"close {TRY_AGAIN_LATER}"] += 1
                        opened = False
            except aiohttp.WSServerHandshakeError as exc:
                self.tally.refused[str(exc.status)] += 1
            except (TimeoutError, aiohttp.ClientError, OSError):
                if not opened:
                    self.tally.connect_errors += 1
            finally:
                self.ws = None
                self.connected = False
                self.tried.set()
            if self.tally.stopping:
                return
            if opened:
                self.tally.viewer_reconnects += 1
            attempt += 1
            await asyncio.sleep(wait)

    def _take(self, data: str) -> None:
        if data.startswith(_DATA_PREFIX):
            now = time.time() * 1000.0
            start = data.find('"t":[') + 5
            end = data.find("]", start)
            comma = data.rfind(",", start, end)
            try:
                last = float(data[(comma + 1 if comma >= 0 else start) : end])
            except ValueError:
                return
            self.received += 1
            self.tally.delivered += 1
            self.tally.latencies.append(now - last)
        elif '"' + DROPS + '"' in data[:16]:  # the relay's count for this connection so far
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                n = int(json.loads(data).get("n", 0))
                if n > self.drops:
                    self.tally.relay_dropped += n - self.drops
                    self.drops = n


# -- the run -------------------------------------------------------------------------------------


async def _desk_students(
    http: aiohttp.ClientSession, server: _Server, desk: Path
) -> tuple[str, list[str]]:
    """(credential, student ids) of an enrolled desk, from the server's ``GET /api/desk``."""
    cred = load_credential(desk)
    if cred is None:
        raise LoadTestError(f"{desk}: no such desk enrolment (give the desk's server.json)")
    try:
        async with http.get(f"{server.origin}/api/desk", headers=cred.headers()) as resp:
            if resp.status != 200:
                raise LoadTestError(
                    f"{server.origin} refused this desk's credential ({resp.status}): is the "
                    "desk enrolled with this server, and not revoked?"
                )
            body = await resp.json()
    except (aiohttp.ClientError, ValueError) as exc:
        raise LoadTestError(f"cannot ask {server.origin} for the desk's students ({exc})") from exc
    students = [s for s in body.get("students", []) if isinstance(s, str)]
    if not students:
        raise LoadTestError(
            f"{server.origin} gives this desk no student (put a student of its school on a "
            "caseload first)"
        )
    return cred.credential, students


async def _wait_all(events: Sequence[asyncio.Event], timeout_s: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await asyncio.gather(*(e.wait() for e in events))


def _percentile(values: np.ndarray[Any, Any], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values.size else None


async def run_loadtest(options: LoadOptions) -> LoadResult:
    """Run a load test against already-started servers; see the module docstring.

    Checks every server first (loopback unless ``i_own_these_servers``; reachable), builds the
    replay's frames, connects the publishers, then the viewers (each up to
    ``connect_timeout_s``), replays for ``seconds``, waits up to ``drain_s`` for the last
    frames, closes everything and returns what it measured.

    Raises:
        LoadTestError: a server is refused (not loopback) or cannot be reached at all, the
            recording cannot be replayed, or the desk's students cannot be had.
    """
    if options.sessions < 1 or options.viewers_per_session < 0 or options.seconds <= 0:
        raise LoadTestError("give at least 1 session, 0 or more viewers and a positive time")
    servers = await check_servers(options.servers, options.i_own_these_servers)
    for server in servers:
        await _reachable(server, options.connect_timeout_s)
    recording = options.recording
    if recording is None:
        recording = await asyncio.to_thread(default_recording)
    plan = await asyncio.to_thread(
        build_plan, recording, options.recording_session, options.packet_s
    )
    if options.recording is None:
        what = f"a simulated session ({', '.join(plan.devices)}, {plan.duration_s:.0f} s)"
        plan = ReplayPlan(what, plan.devices, plan.duration_s, plan.frames, plan.statuses)
    tally = _Tally()
    timeout = aiohttp.ClientTimeout(total=None, connect=options.connect_timeout_s)
    connector = aiohttp.TCPConnector(limit=0)
    cpu = _CpuWatch(servers)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
        headers: dict[str, str] = {}
        students = [f"LOAD-{k + 1:04d}" for k in range(options.sessions)]
        if options.desk is not None:
            credential, desk_students = await _desk_students(http, servers[0], options.desk)
            headers[DESK_HEADER] = credential
            students = [desk_students[k % len(desk_students)] for k in range(options.sessions)]
        cpu.begin()
        count = len(servers)
        publishers: list[_Publisher] = []
        viewers: list[tuple[_Publisher, _Viewer]] = []
        for k in range(options.sessions):
            session = PublishedSession.new(students[k], ttl_s=options.seconds + 3600.0)
            start = plan.duration_s * k / options.sessions
            pub = _Publisher(http, servers[k % count], session, plan, start, headers, tally)
            publishers.append(pub)
            for j in range(options.viewers_per_session):
                where = (k + 1 + j % (count - 1)) % count if count > 1 else 0
                viewers.append((pub, _Viewer(http, servers[where], session, tally)))
        try:
            for pub in publishers:
                pub.task = asyncio.create_task(pub.connect_loop())
            await _wait_all([p.tried for p in publishers], options.connect_timeout_s)
            for _pub, viewer in viewers:
                viewer.task = asyncio.create_task(viewer.connect_loop())
            await _wait_all([v.tried for _p, v in viewers], options.connect_timeout_s)
            publishers_up = sum(p.ws is not None for p in publishers)
            viewers_up = sum(v.connected for _p, v in viewers)
            t0 = time.monotonic()
            until = t0 + options.seconds
            tick = min(options.packet_s, 0.05)
            await asyncio.gather(*(p.replay(t0, until, tick) for p in publishers))
            replayed_s = time.monotonic() - t0
            drain_until = time.monotonic() + options.drain_s
            while time.monotonic() < drain_until and any(
                v.received < p.sent for p, v in viewers if v.connected
            ):
                await asyncio.sleep(0.05)
        finally:
            tally.stopping = True
            await _close_all(publishers, [v for _p, v in viewers])
        server_cpu, own_cpu = cpu.end()
    lat = np.asarray(tally.latencies, dtype=np.float64)
    expected = sum(p.sent for p, _v in viewers)
    return LoadResult(
        servers=tuple(s.origin for s in servers),
        sessions=options.sessions,
        viewers_per_session=options.viewers_per_session,
        seconds=round(replayed_s, 3),
        replayed=plan.description,
        publishers_connected=publishers_up,
        viewers_connected=viewers_up,
        frames_sent=tally.frames_sent,
        other_frames_sent=tally.other_sent,
        frames_unsent=tally.unsent,
        frames_delivered=tally.delivered,
        frames_expected=expected,
        delivery_pct=round(100.0 * tally.delivered / expected, 2) if expected else None,
        relay_dropped=tally.relay_dropped,
        latency=Latency(
            _percentile(lat, 50),
            _percentile(lat, 95),
            _percentile(lat, 99),
            round(float(lat.max()), 2) if lat.size else None,
        ),
        publisher_reconnects=tally.publisher_reconnects,
        viewer_reconnects=tally.viewer_reconnects,
        refused=dict(sorted(tally.refused.items())),
        connect_errors=tally.connect_errors,
        server_cpu=server_cpu,
        loadtest_cpu_s=own_cpu,
    )


async def _close_all(publishers: Sequence[_Publisher], viewers: Sequence[_Viewer]) -> None:
    """Close the viewers' sockets, then the publishers', each within its deadline, then end
    their tasks."""
    for group in (viewers, publishers):
        sockets = [c.ws for c in group if c.ws is not None]
        await asyncio.gather(*(_close(ws) for ws in sockets))
        tasks = [c.task for c in group if c.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _close(ws: aiohttp.ClientWebSocketResponse) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(_CLOSE_TIMEOUT_S):
            await ws.close()


def format_result(result: LoadResult) -> str:
    """The result in a few plain lines, units named."""
    r, lat = result, result.latency
    pct = "n/a" if r.delivery_pct is None else f"{r.delivery_pct:.1f} %"
    refused = ", ".join(f"{n} × {why}" for why, n in r.refused.items()) or "none"
    if lat.p50_ms is None:
        latency = "latency publisher to viewer: none measured (no data frame delivered)"
    else:
        latency = (
            f"latency publisher to viewer: p50 {lat.p50_ms:.1f} ms, p95 {lat.p95_ms:.1f} ms, "
            f"p99 {lat.p99_ms:.1f} ms, max {lat.max_ms:.1f} ms"
        )
    cpu = "; ".join(
        f"{c.server} {c.cpu_s:.2f} s" if c.cpu_s is not None else f"{c.server} {c.note}"
        for c in r.server_cpu
    )
    return "\n".join(
        [
            f"{r.sessions} sessions × {r.viewers_per_session} viewers on {len(r.servers)} "
            f"server(s) for {r.seconds:.1f} s, replaying {r.replayed}",
            f"connected at the start: {r.publishers_connected} of {r.sessions} publishers, "
            f"{r.viewers_connected} of {r.sessions * r.viewers_per_session} viewers",
            f"data frames: {r.frames_sent} sent ({r.frames_unsent} not sent while disconnected,"
            f" {r.other_frames_sent} other frames), {r.frames_delivered} delivered of "
            f"{r.frames_expected} expected: {pct}",
            latency,
            f"reconnects: {r.publisher_reconnects} publishers, {r.viewer_reconnects} viewers; "
            f"refused: {refused}; failed connections: {r.connect_errors}; "
            f"drops reported by the relay: {r.relay_dropped}",
            f"server CPU: {cpu}; this load generator: {r.loadtest_cpu_s:.2f} s",
        ]
    )
