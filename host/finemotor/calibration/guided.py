"""A kit, a person (or the simulated rig), and the procedure: what ``finemotor calibrate`` runs.

:func:`open_kit` opens any kit source; for ``sim://`` it also hands back the simulated kit, so
its load rig can place the weights (``--auto``) and its hidden truth can be compared with what
the calibration recovered.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import numpy.typing as npt

from finemotor.aio import wait_event
from finemotor.calibration.certificate import save_certificate, save_record
from finemotor.calibration.model import ChannelCalibration, DeviceCalibration
from finemotor.calibration.procedure import Procedure, parse_weight
from finemotor.calibration.session import (
    UNCHANGED,
    Calibration,
    Operator,
    read_stable,
    readings_in,
    run_calibration,
    summary,
)
from finemotor.errors import CalibrationError, FinemotorError, TransportError
from finemotor.kitlink import KitLink
from finemotor.progress import Progress
from finemotor.samples import SampleBlock

F64 = npt.NDArray[np.float64]
_KEEP_S = 10.0
_SILENCE_S = 5.0

DISCONNECTED = (
    "the kit disconnected in the middle of the calibration: "
    + UNCHANGED
    + " (nothing is written before the end); bring it closer, check its battery, and run the "
    "calibration again from the start"
)


class LinkPort:
    """A :class:`~finemotor.kitlink.KitLink`'s samples of one channel, for the procedure."""

    def __init__(self) -> None:
        self.link: KitLink | None = None
        self.index = 0
        self.serial = ""
        self.firmware = ""
        self.rate_hz = 1.0
        self._chunks: list[F64] = []
        self._n = 0
        self._event = asyncio.Event()

    def attach(self, link: KitLink, channel: str) -> None:
        """Use ``link``'s ``channel`` (raises CalibrationError if the kit has no such channel)."""
        info = link.info
        if info is None:
            raise TransportError("the kit is not connected: connect it first")
        names = tuple(info.layout.channel_names)
        if channel not in names:
            raise CalibrationError(
                f"this kit ({info.model}) has channels {', '.join(names)}, not {channel!r}: "
                "calibrate it with the procedure for its own kind (grip or stylus)"
            )
        self.link, self.index = link, names.index(channel)
        self.serial, self.firmware, self.rate_hz = info.serial, info.firmware, float(info.rate_hz)

    def feed(self, blocks: list[SampleBlock]) -> None:
        """KitLink's ``on_blocks``."""
        for b in blocks:
            if b.counts.shape[1] > self.index:
                self._chunks.append(b.counts[:, self.index].astype(np.float64))
                self._n += len(b)
        if len(self._chunks) > 64:
            keep = round(_KEEP_S * self.rate_hz)
            self._chunks = [np.concatenate(self._chunks)[-keep:]]
        self._event.set()

    async def recent(self, seconds: float, fresh_s: float) -> F64:
        """Wait for ``fresh_s`` of new samples; return the last ``seconds``."""
        loop = asyncio.get_running_loop()
        target = self._n + max(1, round(fresh_s * self.rate_hz))
        deadline = loop.time() + fresh_s + _SILENCE_S
        while self._n < target:
            if self.link is not None and not self.link.state.connected:
                raise CalibrationError(DISCONNECTED)
            left = deadline - loop.time()
            if left <= 0:
                raise CalibrationError(
                    "the kit stopped sending readings: " + DISCONNECTED.split(": ", 1)[1]
                )
            self._event.clear()
            await wait_event(self._event, min(left, 0.2))
        x = np.concatenate(self._chunks) if self._chunks else np.zeros(0)
        return x[-max(1, round(seconds * self.rate_hz)) :]

    async def read_calibration(self) -> DeviceCalibration | None:
        """The kit's record, None if it cannot be read."""
        if self.link is None:
            return None
        try:
            return await self.link.kit.read_calibration()
        except FinemotorError:
            return None

    async def write_calibration(self, cal: DeviceCalibration) -> DeviceCalibration:
        """Stage, commit and read back."""
        if self.link is None or not self.link.state.connected:
            raise TransportError("the kit is not connected")
        await self.link.kit.write_calibration(cal)
        back = await self.link.kit.read_calibration()
        self.link.calibration = back
        return back


class RigOperator:
    """The simulated load rig: places each weight on the simulated kit at once."""

    def __init__(self, sim: Any, show: Callable[[str], None]) -> None:
        self.sim = sim
        self._show = show

    async def ask(self, prompt: str, load_n: float | None) -> str:
        self._show(f"rig: {prompt.split(',', maxsplit=1)[0]}")
        self.sim.apply_load(0.0 if load_n is None else load_n)
        return ""

    def show(self, text: str) -> None:
        self._show(text)


@contextlib.asynccontextmanager
async def open_kit(device: str, port: LinkPort, timeout: float = 10.0) -> AsyncIterator[Any]:
    """Open ``device`` streaming into ``port``; yield the SimKit for ``sim://`` (else None)."""
    url = urlparse(device)
    if url.scheme != "sim":
        from finemotor.source import open_source  # noqa: PLC0415

        async with open_source(device, port.feed, timeout) as link:
            port.link = link
            yield None
        return
    from finemotor.source import open_simulated  # noqa: PLC0415

    def on_the_rig(sim: Any) -> None:
        sim.apply_load(0.0)  # on the rig from the start: the student does not squeeze

    async with open_simulated(device, port.feed, timeout, prepare=on_the_rig) as (link, sim):
        port.link = link
        yield sim


def truth_comparison(cal: Calibration, truth: dict[str, Any]) -> dict[str, Any]:
    """The recovered calibration beside the simulated truth of the channel."""
    proc, fit = cal.procedure, cal.fit
    t = truth.get(proc.channel) or truth[proc.device]  # the grip's truth is "grip"
    cpn, fs, fso = t["counts_per_n"], t["full_scale_n"], t["full_scale_counts"]
    loads = np.array([proc.newtons(v) for v in proc.loads])
    xx = loads / fs
    x_true = cpn * loads + t["nonlinearity"] * fso * 4 * xx * (1 - xx)
    out: dict[str, Any] = {
        "counts_per_n": cpn,
        "offset_counts": t["offset_counts"],
        "nonlinearity_fso": t["nonlinearity"],
        "hysteresis_fso": t["hysteresis"],
        "noise_rms_counts": t["noise_rms_counts"],
        "drift_counts_per_s": t["drift_counts_per_s"],
        "true_coefficient_n_per_count": 1.0 / cpn,
    }
    if fit is not None:
        recovered = fit.predict(x_true)
        err = (recovered - loads) / loads * 100.0
        out["recovered_coefficients"] = list(fit.coeffs)
        if fit.model == "linear":  # a polynomial's first coefficient is its slope at zero
            out["coefficient_error_pct"] = (fit.coeffs[0] * cpn - 1.0) * 100.0
        out["recovered_zero"] = cal.zero
        out["error_vs_truth_pct"] = [float(e) for e in err]
        out["max_error_vs_truth_pct"] = float(np.max(np.abs(err)))
        out["within_class_1_of_truth"] = bool(np.max(np.abs(err)) <= 1.0)
    return out


async def calibrate_kit(
    device: str,
    proc: Procedure,
    auto: bool,
    force: bool,
    out_dir: Path,
    show: Callable[[str], None],
    progress: bool = False,
    person: Operator | None = None,
) -> dict[str, Any]:
    """Run the procedure on ``device``; save the record and certificate; return the record.
    ``progress`` shows a progress bar of the readings (on standard error); ``person`` places
    the weights (the simulated rig does with ``auto``).

    Raises:
        CalibrationError / TransportError: with what to do; the kit keeps its calibration.
    """
    if auto and not device.startswith("sim://"):
        raise CalibrationError(
            "--auto needs a simulated kit (sim://grip or sim://stylus): a real kit needs a "
            "person to place the weights"
        )
    port = LinkPort()
    async with open_kit(device, port) as sim:
        assert port.link is not None
        port.attach(port.link, proc.channel)
        op = _operator(auto, sim, show, person)
        bar = Progress(readings_in(proc), f"calibrating {proc.device}", enabled=progress)
        try:
            cal = await run_calibration(port, op, proc, port.index, force=force, progress=bar)
        except TransportError as exc:
            raise CalibrationError(f"{exc}; " + DISCONNECTED) from exc
        finally:
            bar.close()
        truth = await sim.truth() if sim is not None else None
    record: dict[str, Any] = {
        "serial": port.serial,
        "firmware": port.firmware,
        "device_url": device,
        "date_unix": round(cal.started_at),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(cal.started_at)),
        **summary(cal),
    }
    if cal.old is not None and port.index < len(cal.old.channels):
        old = cal.old.channels[port.index]
        record["previous"] = {"model": old.model, "zero": old.zero, "coeffs": list(old.coeffs)}
    if truth is not None:
        record["truth"] = truth_comparison(cal, truth)
    stem = f"calibration-{proc.device}-{port.serial or 'kit'}-" + time.strftime(
        "%Y%m%dT%H%M%S", time.gmtime(cal.started_at)
    )
    files = [save_record(record, out_dir, stem)]
    files += save_certificate(record, out_dir, stem)
    record["files"] = [str(p) for p in files]
    save_record(record, out_dir, stem)
    return record


def _operator(
    auto: bool, sim: Any, show: Callable[[str], None], person: Operator | None
) -> Operator:
    if auto:
        return RigOperator(sim, show)
    if person is None:
        raise CalibrationError("a real kit needs a person to place the weights")
    return person


async def check_kit(
    device: str,
    proc: Procedure,
    weight: str,
    auto: bool,
    show: Callable[[str], None],
    person: Operator | None = None,
) -> dict[str, Any]:
    """Field check: one known weight against the kit's stored calibration (``person``
    places it; the simulated rig does with ``auto``).

    Raises:
        CalibrationError: the kit is uncalibrated, the weight is unusable, or readings fail.
    """
    if auto and not device.startswith("sim://"):
        raise CalibrationError("--auto needs a simulated kit (sim://grip or sim://stylus)")
    port = LinkPort()
    async with open_kit(device, port) as sim:
        assert port.link is not None
        port.attach(port.link, proc.channel)
        stored = await port.read_calibration()
        if stored is None or not stored.channel(port.index).calibrated:
            raise CalibrationError(
                f"the kit has no calibration for its {proc.channel} channel: run "
                f"`finemotor calibrate {proc.device}` first"
            )
        ch = stored.channel(port.index)
        load = parse_weight(weight, _any_load(proc), proc.loads[0])
        if load <= 0:
            raise CalibrationError(f"check with a weight above zero, not {weight!r}")
        op = _operator(auto, sim, show, person)
        cpn = 1.0 / ch.coeffs[0] if ch.model in ("linear", "poly") else None
        await op.ask(proc.prompt(None), None)
        zero = await read_stable(port, proc, op, 0.0, cpn)
        await op.ask(proc.prompt(load), proc.newtons(load))
        r = await read_stable(port, proc, op, load, cpn)
        tared = ChannelCalibration(ch.model, round(zero.counts), ch.coeffs)
        indicated = float(tared.to_newtons([round(r.counts)])[0])
    ref = proc.newtons(load)
    err = (indicated - ref) / ref * 100.0
    return {
        "serial": port.serial,
        "weight": load,
        "unit": proc.unit,
        "reference_n": ref,
        "indicated_n": indicated,
        "error_pct": err,
        "limit_pct": proc.recalibrate_above_pct,
        "calibrated_at": stored.calibrated_at,
        "recalibration_due": abs(err) > proc.recalibrate_above_pct,
    }


def _any_load(proc: Procedure) -> Procedure:
    """The procedure with any weight in range accepted (a check uses one weight)."""
    from dataclasses import replace  # noqa: PLC0415

    return replace(proc, accept_deviation_pct=1e9)
