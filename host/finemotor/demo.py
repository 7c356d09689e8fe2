"""The demo kit: a simulated stylus and grip dynamometer, end to end over the virtual radio.

Both kits run their real firmware under MicroPython on the simulated board, with the simulated
student writing and squeezing. The demo starts that world (the virtual radio and the kits),
finds the kits by scanning, pairs (pressing each kit's button, as a facilitator would), opens
a :class:`~finemotor.kitlink.KitLink` to each, and hands them to the
:class:`~finemotor.session.SessionRunner`, the same runner as ``finemotor session``: it
records (into a temporary recording, removed at the end), computes the metrics live, publishes
the therapist view (to a relay of its own unless one is given) and records the therapist's
marks. The demo can cut the radio link for a while to show that nothing is lost.

The report says, per device, what arrived against what the device's sequence numbers say was
sampled, and the metrics beside the same metrics of the simulated student's true forces at the
instants recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from finemotor.errors import TransportError
from finemotor.kitlink import KitLink
from finemotor.metrics.results import to_jsonable
from finemotor.metrics.summary import summarize_grip, summarize_pen
from finemotor.recording import Recording
from finemotor.samples import DEVICE_KINDS, SIM_KIT_IDS
from finemotor.session import SessionOptions, SessionRunner, SessionStatus, SessionSummary
from finemotor.simstudent import load_student_module
from finemotor.transport.scan import scan_kits, wait_for_pairing_window
from finemotor.transport.virtual.radio import VirtualRadio
from finemotor.transport.virtual.simkit import SimKit


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
    kinds: tuple[str, ...] = DEVICE_KINDS
    view: bool = True
    relay_url: str | None = None
    student: str = "demo-S001"
    on_view: Callable[[str], None] | None = None


async def run_demo(
    opts: DemoOptions, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Run the demo; return its report (JSON-ready)."""
    say = progress or (lambda _msg: None)
    student_mod = load_student_module()  # before anything starts: the firmware tree is there
    with tempfile.TemporaryDirectory(prefix="finemotor-demo-") as tmp:
        runner = SessionRunner(
            SessionOptions(
                student=opts.student,
                db=Path(tmp) / "demo.sqlite",
                relay_url=opts.relay_url,
                view=opts.view,
                note="finemotor demo",
                view_ttl_s=opts.seconds + 3600.0,
            )
        )
        async with VirtualRadio() as radio, contextlib.AsyncExitStack() as stack:
            sims: dict[str, SimKit] = {}
            for i, kind in enumerate(opts.kinds):
                sims[kind] = await stack.enter_async_context(
                    SimKit(radio, kind, seed=opts.seed + i, kit_id=SIM_KIT_IDS[kind])
                )
                say(f"{kind} kit {SIM_KIT_IDS[kind]} is on (simulated, firmware under MicroPython)")
            await _find(radio, list(sims), say)
            links: dict[str, KitLink] = {}
            for kind, sim in sims.items():
                links[kind] = await _pair_and_open(radio, sim, runner, say)
                stack.push_async_callback(links[kind].close)
            stack.push_async_callback(runner.aclose)  # a failure before finish closes it
            await runner.start(dict(links))
            if runner.view_url is not None and opts.on_view is not None:
                opts.on_view(runner.view_url)
            await _stream(opts, runner, radio, sims, say)
            summary = await runner.finish()
            report = _report(opts, summary, links)
        _compare_with_truth(opts, summary, report, student_mod)
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


async def _pair_and_open(
    radio: VirtualRadio, sim: SimKit, runner: SessionRunner, say: Callable[[str], None]
) -> KitLink:
    """Press the kit's button (what the facilitator does: it opens the pairing window), then
    connect; the link streams into the runner."""
    kind = sim.kind
    sim.press_button(300)
    say(f"pressed the {kind} kit's button: pairing")
    advert = await wait_for_pairing_window(SIM_KIT_IDS[kind], 15.0, radio.scanner_backend)
    if advert is None:
        raise TransportError(f"the {kind} kit's pairing window did not open")
    say(f"found {advert.describe()}")
    link = KitLink(advert.address, on_blocks=runner.consumer(kind), backend=radio.client_backend)
    info = await link.open()
    say(f"{kind}: connected, MTU {link.kit.mtu}, {info.rate_hz} Hz, streaming")
    return link


async def _stream(
    opts: DemoOptions,
    runner: SessionRunner,
    radio: VirtualRadio,
    sims: dict[str, SimKit],
    say: Callable[[str], None],
) -> None:
    """Let the session run for ``opts.seconds`` (cutting the radio link if asked), ticking the
    runner once a second."""
    t0 = time.monotonic()
    cut_done = opts.drop_at is None
    while (elapsed := time.monotonic() - t0) < opts.seconds:
        if not cut_done and opts.drop_at is not None and elapsed >= opts.drop_at:
            for sim in sims.values():
                radio.cut(sim.address, seconds=opts.drop_for)
            say(f"radio link cut for {opts.drop_for:g} s (the student walked off)")
            cut_done = True
        await asyncio.sleep(1.0)
        say(_status_line(runner.tick()))


def _status_line(st: SessionStatus) -> str:
    parts = [
        f"{d.name}: {'connected' if d.connected else 'reconnecting'}, {d.samples} samples, "
        f"{d.lost} lost"
        for d in st.devices
    ]
    return f"{st.elapsed_s:5.1f} s  " + "; ".join(parts)


def _report(
    opts: DemoOptions, summary: SessionSummary, links: dict[str, KitLink]
) -> dict[str, Any]:
    """The report: per device, the runner's counts and metrics with what the kit says."""
    out: dict[str, Any] = {"seconds": opts.seconds, "seed": opts.seed, "devices": []}
    if opts.drop_at is not None:
        out["drop"] = {"at_s": opts.drop_at, "for_s": opts.drop_for}
    for kind, link in links.items():
        info, c = link.info, summary.devices.get(kind)
        if info is None or c is None:
            continue
        status = link.kit.status
        out["devices"].append(
            {
                "kind": kind,
                "kit_id": SIM_KIT_IDS[kind],
                "address": info.address,
                "model": info.model,
                "firmware": info.firmware,
                "rate_hz": info.rate_hz,
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
                "device_overwritten": status.overwritten if status else None,
                "battery_percent": status.battery_percent if status else None,
                "clock_drift_ppm": round(link.clock.drift_ppm, 1) if link.clock.ready else None,
                "calibrated": bool(link.calibration and link.calibration.calibrated),
                "metrics": c.get("metrics"),
            }
        )
    if opts.view:
        out["view_url"] = summary.view_url
        out["marks"] = summary.marks
    return out


def _compare_with_truth(
    opts: DemoOptions, summary: SessionSummary, report: dict[str, Any], student_mod: ModuleType
) -> None:
    """Add to each device of ``report`` the simulated student's truth and the metrics' own
    definitions applied to the true (noise-free) forces at the instants recorded: what a
    perfect kit would have reported."""
    seeds = {kind: opts.seed + i for i, kind in enumerate(opts.kinds)}
    with Recording(summary.db) as rec:
        for entry in report["devices"]:
            kind = entry["kind"]
            student = student_mod.Student(seed=seeds[kind])
            t = rec.load_samples(summary.session_id, kind).t
            if kind == "stylus":
                forces = [student.pen(float(x)) for x in t]
            else:
                forces = [(student.grip(float(x)),) for x in t]
            truth = student.truth()["pen" if kind == "stylus" else "grip"]
            if kind == "grip" and len(t):
                # Only the squeezes that began while the host was listening.
                truth["trials"] = [
                    tr for tr in truth.get("trials", []) if tr.get("t_onset_s", 0) >= t[0]
                ]
            entry["truth"] = truth
            entry["truth_metrics"] = _true_metrics(
                kind, t, np.asarray(forces, dtype=np.float64), entry["rate_hz"]
            )


def _true_metrics(
    kind: str, t: npt.NDArray[np.float64], f: npt.NDArray[np.float64], rate_hz: float
) -> Any:
    """The metrics of the true forces ``f`` (one row per instant of ``t``); None if none."""
    if not len(t):
        return None
    if kind == "stylus":
        return to_jsonable(summarize_pen(t, f[:, 0], f[:, 1] + f[:, 2], rate_hz=rate_hz))
    return to_jsonable(summarize_grip(t, f[:, 0], rate_hz=rate_hz))
