"""The demo kit: a simulated stylus and grip dynamometer, end to end over the virtual radio.

Both kits run their real firmware under MicroPython on the simulated board, with the simulated
student writing and squeezing. The host finds them by scanning, pairs (the demo presses each
kit's button, as a facilitator would), streams through :class:`~finemotor.kitlink.KitLink`,
computes the metrics live, and can cut the radio link for a while to show that nothing is
lost. The result says, per device, what arrived against what the device's sequence numbers
say was sampled, and the metrics beside the simulated student's true values.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from finemotor.calibration.model import DeviceCalibration
from finemotor.errors import TransportError
from finemotor.forwarder import Forwarder
from finemotor.kitlink import KitLink
from finemotor.marks import hand_context
from finemotor.metrics.live import GripEngine, PenEngine
from finemotor.metrics.results import to_jsonable
from finemotor.metrics.summary import summarize_grip, summarize_pen
from finemotor.relay import PublishedSession, Relay
from finemotor.samples import SIM_KIT_IDS, SampleBlock
from finemotor.simstudent import load_student_module
from finemotor.transport.scan import scan_kits, wait_for_pairing_window
from finemotor.transport.virtual.radio import VirtualRadio
from finemotor.transport.virtual.simkit import SimKit

KIT_IDS = SIM_KIT_IDS


@dataclass
class DemoOptions:
    """What the demo does.

    Attributes:
        seconds: how long to stream.
        seed: seeds the simulated kits and student.
        drop_at: cut the radio link this many seconds in (None: no cut).
        drop_for: for this long.
        kinds: which kits.
        view: publish the session for the therapist view.
        relay_url: publish to this relay (None: run one in-process on localhost).
        student: the session's pseudonymous student id.
        on_view: called with the therapist's link once the session is published.
    """

    seconds: float = 20.0
    seed: int = 1
    drop_at: float | None = None
    drop_for: float = 4.0
    kinds: tuple[str, ...] = ("stylus", "grip")
    view: bool = True
    relay_url: str | None = None
    student: str = "demo-S001"
    on_view: Callable[[str], None] | None = None


@dataclass
class _Device:
    sim: SimKit
    link: KitLink | None = None
    cal: DeviceCalibration | None = None
    engine: PenEngine | GripEngine | None = None
    student: Any = None
    blocks: int = 0
    first_t: float | None = None
    last_t: float | None = None
    true_t: list[float] = field(default_factory=list)
    true_f: list[tuple[float, ...]] = field(default_factory=list)
    last: dict[str, Any] = field(default_factory=dict)


async def run_demo(
    opts: DemoOptions, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Run the demo; return its report (JSON-ready)."""
    say = progress or (lambda _msg: None)
    student_mod = load_student_module()
    async with VirtualRadio() as radio, contextlib.AsyncExitStack() as stack:
        devices: dict[str, _Device] = {}
        marks: list[dict[str, Any]] = []
        fwd = await _start_view(opts, stack, devices, marks)
        for i, kind in enumerate(opts.kinds):
            sim = SimKit(radio, kind, seed=opts.seed + i, kit_id=KIT_IDS[kind])
            await stack.enter_async_context(sim)
            devices[kind] = _Device(sim, student=student_mod.Student(seed=opts.seed + i))
            say(f"{kind} kit {KIT_IDS[kind]} is on (simulated, firmware under MicroPython)")
        await _find(radio, list(devices), say)
        for kind, dev in devices.items():
            dev.sim.press_button(300)  # what the facilitator does: opens the pairing window
            say(f"pressed the {kind} kit's button: pairing")
            advert = await wait_for_pairing_window(KIT_IDS[kind], 15.0, radio.scanner_backend)
            if advert is None:
                raise TransportError(f"the {kind} kit's pairing window did not open")
            say(f"found {advert.describe()}")
            link = KitLink(
                advert.address, on_blocks=_consumer(dev, fwd), backend=radio.client_backend
            )
            info = await link.open()
            dev.link = link
            cal = link.calibration or DeviceCalibration.uncalibrated(len(info.layout.channel_names))
            dev.cal = cal
            dev.engine = (
                PenEngine(cal, info.rate_hz) if kind == "stylus" else GripEngine(cal, info.rate_hz)
            )
            say(f"{kind}: connected, MTU {link.kit.mtu}, {info.rate_hz} Hz, streaming")
        t0 = time.monotonic()
        cut_done = opts.drop_at is None
        while (elapsed := time.monotonic() - t0) < opts.seconds:
            if not cut_done and opts.drop_at is not None and elapsed >= opts.drop_at:
                for dev in devices.values():
                    radio.cut(dev.sim.address, seconds=opts.drop_for)
                say(f"radio link cut for {opts.drop_for:g} s (the student walked off)")
                cut_done = True
            _publish_status(fwd, devices)
            await asyncio.sleep(1.0)
            say(_status_line(elapsed + 1.0, devices))
        await _settle(devices)
        report = _report(opts, devices)
        if fwd is not None:
            report["view_url"] = fwd.view_url
            report["marks"] = marks
        for dev in devices.values():
            if dev.link is not None:
                await dev.link.close()
        return report


async def _find(radio: VirtualRadio, kinds: list[str], say: Callable[[str], None]) -> None:
    """Wait until every kind of kit advertises (outside its pairing window a kit says only
    its kind, from an address it renews: privacy on the air)."""
    deadline = time.monotonic() + 15.0
    found: set[str] = set()
    while time.monotonic() < deadline and len(found) < len(kinds):
        for adv in await scan_kits(1.0, backend=radio.scanner_backend):
            if adv.kind in kinds and adv.kind not in found:
                say(f"a {adv.kind} kit is on the air ({adv.address})")
                found.add(adv.kind)
    missing = set(kinds) - found
    if missing:
        raise TransportError(f"no advertisement from the {', '.join(sorted(missing))} kit")


async def _start_view(
    opts: DemoOptions,
    stack: contextlib.AsyncExitStack,
    devices: dict[str, _Device],
    marks: list[dict[str, Any]],
) -> Forwarder | None:
    """Publish the session (to an in-process relay unless one is given); None if not viewed."""
    if not opts.view:
        return None
    url = opts.relay_url
    if url is None:
        relay = Relay("127.0.0.1", 0)
        url = await relay.start()
        stack.push_async_callback(relay.stop)

    def record(mark: dict[str, Any]) -> dict[str, Any]:
        # The demo keeps its events in its report; `finemotor session` records them.
        at = {k: round(d.last_t, 3) for k, d in devices.items() if d.last_t is not None}
        marks.append({**mark, "device_t": at})
        context = hand_context(str(mark.get("text", "")))
        for dev in devices.values():
            if context is not None and isinstance(dev.engine, GripEngine):
                dev.engine.set_context(context, dev.last_t)
        return {"recorded": True, "device_t": at}

    session = PublishedSession.new(opts.student, ttl_s=opts.seconds + 3600.0)
    fwd = Forwarder(url, session, on_mark=record, devices=list(opts.kinds))
    await fwd.start()
    stack.push_async_callback(fwd.close)
    if opts.on_view is not None:
        opts.on_view(fwd.view_url)
    return fwd


def _publish_status(fwd: Forwarder | None, devices: dict[str, _Device]) -> None:
    if fwd is None:
        return
    for kind, dev in devices.items():
        if dev.link is not None:
            st = dev.link.kit.status
            battery = st.battery_percent if st else None
            fwd.status(kind, dev.link.state.connected, battery, dev.cal)


def _consumer(dev: _Device, fwd: Forwarder | None) -> Callable[[list[SampleBlock]], None]:
    def take(blocks: list[SampleBlock]) -> None:
        for block in blocks:
            dev.blocks += 1
            if dev.first_t is None and len(block):
                dev.first_t = float(block.t[0])
            if len(block):
                dev.last_t = float(block.t[-1])
            if dev.engine is not None:
                snap = dev.engine.feed(block)
                if snap is not None and fwd is not None:
                    fwd.metrics(dev.sim.kind, snap)
            if dev.student is not None:  # the truth at the very instants sampled
                for t in block.t:
                    f = (
                        dev.student.pen(float(t))
                        if dev.sim.kind == "stylus"
                        else (dev.student.grip(float(t)),)
                    )
                    dev.true_t.append(float(t))
                    dev.true_f.append(f)
        if fwd is not None and dev.cal is not None:
            fwd.blocks(dev.sim.kind, blocks, dev.cal, dev.link.to_host if dev.link else None)

    return take


async def _settle(devices: dict[str, _Device], timeout: float = 5.0) -> None:
    """Give backfill a moment to fill the last holes before counting."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(
            d.link is None or not d.link.stream or not d.link.stream.holes()
            for d in devices.values()
        ):
            return
        await asyncio.sleep(0.2)


def _status_line(elapsed: float, devices: dict[str, _Device]) -> str:
    parts = []
    for kind, dev in devices.items():
        if dev.link is None:
            continue
        c = dev.link.counters()
        state = "connected" if dev.link.state.connected else "reconnecting"
        parts.append(f"{kind}: {state}, {c['received']} samples, {c['lost']} lost")
    return f"{elapsed:5.1f} s  " + "; ".join(parts)


def _report(opts: DemoOptions, devices: dict[str, _Device]) -> dict[str, Any]:
    out: dict[str, Any] = {"seconds": opts.seconds, "seed": opts.seed, "devices": []}
    if opts.drop_at is not None:
        out["drop"] = {"at_s": opts.drop_at, "for_s": opts.drop_for}
    for kind, dev in devices.items():
        link = dev.link
        if link is None or link.info is None:
            continue
        c = link.counters()
        entry: dict[str, Any] = {
            "kind": kind,
            "kit_id": KIT_IDS[kind],
            "address": link.info.address,
            "model": link.info.model,
            "firmware": link.info.firmware,
            "rate_hz": link.info.rate_hz,
            "samples_received": c["received"],
            "samples_expected": c["expected"],
            "received_pct": round(100.0 * c["received"] / c["expected"], 3)
            if c["expected"]
            else 0.0,
            "gaps": c["gaps"],
            "backfilled": c["backfilled"],
            "lost": c["lost"],
            "malformed": c["malformed"],
            "reconnects": c["reconnects"],
            "device_overwritten": link.kit.status.overwritten if link.kit.status else None,
            "battery_percent": link.kit.status.battery_percent if link.kit.status else None,
            "clock_drift_ppm": round(link.clock.drift_ppm, 1) if link.clock.ready else None,
            "calibrated": bool(link.calibration and link.calibration.calibrated),
        }
        if dev.engine is not None:
            entry["metrics"] = to_jsonable(dev.engine.finish())
        if dev.student is not None:
            truth = dev.student.truth()["pen" if kind == "stylus" else "grip"]
            if kind == "grip" and dev.first_t is not None:
                # Only the squeezes that began while the host was listening.
                truth["trials"] = [
                    tr for tr in truth.get("trials", []) if tr.get("t_onset_s", 0) >= dev.first_t
                ]
            entry["truth"] = truth
            entry["truth_metrics"] = _true_metrics(kind, dev, link.info.rate_hz)
        out["devices"].append(entry)
    return out


def _true_metrics(kind: str, dev: _Device, rate_hz: float) -> Any:
    """The metrics' own definitions applied to the student's true (noise-free) forces at the
    instants sampled: what a perfect kit would have reported."""
    if not dev.true_t:
        return None
    t = np.asarray(dev.true_t)
    f = np.asarray(dev.true_f)
    if kind == "stylus":
        return to_jsonable(summarize_pen(t, f[:, 0], f[:, 1] + f[:, 2], rate_hz=rate_hz))
    return to_jsonable(summarize_grip(t, f[:, 0], rate_hz=rate_hz))
