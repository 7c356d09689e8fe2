"""The guided calibration: prompts, stable readings, fit, ISO 7500-1 verification, write.

:func:`run_calibration` drives one :class:`Procedure` against a kit (:class:`KitPort`) and a
person or a simulated rig (:class:`Operator`). Nothing is written to the kit unless the class
the procedure requires is reached (or ``force``); the write is staged and committed by the kit
atomically, then read back. Any error before the write leaves the kit's calibration as it was.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from finemotor.calibration.fit import Fit, fit_points
from finemotor.calibration.iso7500 import Verification, resolution_n, verify
from finemotor.calibration.model import ChannelCalibration, DeviceCalibration
from finemotor.calibration.procedure import Procedure, parse_weight
from finemotor.errors import CalibrationError, FinemotorError
from finemotor.progress import Progress
from finemotor.units import KGF_N

F64 = npt.NDArray[np.float64]
UNCHANGED = "the kit's calibration is unchanged"
_ADC_LIMIT = 8_388_000  # a reading this close to ±2**23 is a saturated ADC


class KitPort(Protocol):
    """What the procedure needs of a kit."""

    serial: str
    firmware: str
    rate_hz: float

    async def recent(self, seconds: float, fresh_s: float) -> F64:
        """Wait for ``fresh_s`` of new samples; return the last ``seconds`` of the channel.

        Raises CalibrationError if the kit disconnects or stops sending."""
        ...

    async def read_calibration(self) -> DeviceCalibration | None:
        """The kit's stored record (None if unreadable)."""
        ...

    async def write_calibration(self, cal: DeviceCalibration) -> DeviceCalibration:
        """Store ``cal`` (atomically) and return the record read back."""
        ...


class Operator(Protocol):
    """The person (or the simulated rig) who places the weights."""

    async def ask(self, prompt: str, load_n: float | None) -> str:
        """Show ``prompt``, wait until the load is in place; return what was typed."""
        ...

    def show(self, text: str) -> None:
        """Progress and the live reading."""
        ...


@dataclass
class Reading:
    """One stable reading: its mean (counts), the spread of its block means, when it came."""

    load: float
    counts: float
    spread: float
    waited_s: float


@dataclass
class Calibration:
    """What the procedure measured, fitted and verified, and what it wrote."""

    procedure: Procedure
    channel_index: int
    zeros: list[Reading] = field(default_factory=list)
    series: list[list[Reading]] = field(default_factory=list)
    decreasing: list[Reading] = field(default_factory=list)
    fit: Fit | None = None
    verification: Verification | None = None
    old: DeviceCalibration | None = None
    new: DeviceCalibration | None = None
    written: bool = False
    started_at: float = 0.0
    indications_inc: list[list[float]] = field(default_factory=list)
    indications_dec: list[float] = field(default_factory=list)

    @property
    def zero(self) -> int:
        """The zero the record stores: the last unloaded reading."""
        return round(self.zeros[-1].counts)


async def read_stable(
    kit: KitPort, proc: Procedure, op: Operator, load: float, counts_per_n: float | None
) -> Reading:
    """Wait until the channel's reading is stable; return it.

    Stable: over the last ``window_s``, the ``block_s`` block means lie within
    ``max_spread_pct`` of the range (in counts, from ``counts_per_n``), or, before the
    sensitivity is known, within 6 standard errors of a block mean.

    Raises:
        CalibrationError: not stable within ``timeout_s``, or the ADC is saturated.
    """
    s = proc.stability
    step = s.block_s * 2
    waited = 0.0
    spread = float("inf")
    while waited <= s.timeout_s:
        fresh = s.window_s if waited == 0.0 else step
        x = await kit.recent(s.window_s, fresh)
        waited += fresh
        if x.size == 0:
            continue
        if np.max(np.abs(x)) >= _ADC_LIMIT:
            raise CalibrationError(
                f"the sensor is saturated at {load:g} {proc.unit}: the load is out of its "
                f"range, or it is mounted wrong; take the weight off. {UNCHANGED}"
            )
        m = max(1, round(s.block_s * kit.rate_hz))
        nb = x.size // m
        if nb < 2:
            continue
        blocks = x[-nb * m :].reshape(nb, m).mean(axis=1)
        spread = float(np.ptp(blocks))
        if counts_per_n is not None:
            tol = s.max_spread_pct / 100.0 * proc.range_n * abs(counts_per_n)
        else:
            sigma = float(np.std(np.diff(x))) / np.sqrt(2.0)
            tol = 6.0 * sigma / np.sqrt(m)
        if spread <= tol:
            return Reading(load, float(np.mean(x)), spread, waited)
        op.show(f"  settling: {float(np.mean(x[-m:])):.0f} counts (spread {spread:.0f})")
    raise CalibrationError(
        f"the reading at {load:g} {proc.unit} did not settle within {s.timeout_s:g} s "
        f"(it still moves by {spread:.0f} counts): stop the weight swinging, put the kit on a "
        f"firm surface away from draughts and vibration, and run again. {UNCHANGED}"
    )


def _sensitivity(old: DeviceCalibration | None, index: int) -> float | None:
    """Counts per newton from the kit's present calibration, if it has a usable one."""
    if old is None or index >= len(old.channels):
        return None
    ch = old.channels[index]
    if ch.model in ("linear", "poly") and ch.coeffs[0] != 0:
        return 1.0 / ch.coeffs[0]
    return None


def _wrong_unit(newtons: float, indicated: float) -> str | None:
    """A name for the unit mix-up that explains indicated/newtons, if one does."""
    if newtons <= 0 or indicated <= 0:
        return None
    ratio = indicated / newtons
    for factor, what in ((KGF_N, "kilograms where newtons"), (1 / KGF_N, "newtons where kg")):
        if abs(ratio / factor - 1) < 0.15:
            return what
    for factor, what in ((1000.0, "grams where kg"), (0.001, "kilograms where grams")):
        if abs(ratio / factor - 1) < 0.15:
            return what
    return None


def readings_in(proc: Procedure) -> int:
    """How many stable readings the procedure takes (zeros, preloads, series)."""
    n = len(proc.loads)
    zeros = 1 + proc.preloads + max(0, proc.increasing_series - 1) + 1
    loads = proc.preloads + proc.increasing_series * n + proc.decreasing_series * (n - 1)
    return zeros + loads


async def run_calibration(
    kit: KitPort,
    op: Operator,
    proc: Procedure,
    channel_index: int,
    force: bool = False,
    now: float | None = None,
    progress: Progress | None = None,
) -> Calibration:
    """Run the whole procedure; write the kit only if it passes (or ``force``).

    ``progress`` (if given) advances once per stable reading: :func:`readings_in` of them.

    Raises:
        CalibrationError: bad input, a reading that never settles, loads out of order or out
            of range, readings that do not rise, a lost kit, a failed write; the message says
            what to do, and the kit keeps its old calibration.
    """
    cal = Calibration(proc, channel_index, started_at=time.time() if now is None else now)
    cal.old = await kit.read_calibration()
    cpn = _sensitivity(cal.old, channel_index)
    top = proc.loads[-1]

    async def unload() -> Reading:
        await op.ask(proc.prompt(None), None)
        r = await read_stable(kit, proc, op, 0.0, cpn)
        cal.zeros.append(r)
        if progress is not None:
            progress.advance(note="unloaded")
        return r

    async def place(asked: float) -> tuple[float, Reading]:
        typed = await op.ask(proc.prompt(asked), proc.newtons(asked))
        got = parse_weight(typed, proc, asked)
        r = await read_stable(kit, proc, op, got, cpn)
        if progress is not None:
            progress.advance(note=f"{got:g} {proc.unit}")
        return got, r

    op.show(f"calibrating {proc.device} channel {proc.channel} ({proc.model} fit)")
    zero = await unload()
    for i in range(proc.preloads):
        op.show(f"preload {i + 1} of {proc.preloads}")
        _, r = await place(top)
        if cpn is not None and i == 0:
            indicated = (r.counts - zero.counts) / cpn
            mix = _wrong_unit(proc.newtons(top), indicated)
            if mix is not None:
                raise CalibrationError(
                    f"the kit reads {indicated:.4g} N for {top:g} {proc.unit}: that looks like "
                    f"weights in {mix} were asked; use weights marked in {proc.unit} as the "
                    f"prompts say. {UNCHANGED}"
                )
        if abs(r.counts - zero.counts) <= max(1.0, 10.0 * zero.spread):
            raise CalibrationError(
                f"the reading did not change under {top:g} {proc.unit}: check that the weight "
                f"hangs freely and the sensor is connected. {UNCHANGED}"
            )
        if cpn is None:  # no usable calibration yet: estimate the sensitivity from the preload
            cpn = (r.counts - zero.counts) / proc.range_n
        zero = await unload()
    sign = 1.0 if cpn is None or cpn > 0 else -1.0
    for s in range(proc.increasing_series):
        op.show(f"series {s + 1} of {proc.increasing_series}, increasing")
        if s > 0:
            zero = await unload()
        row: list[Reading] = []
        last = zero.counts
        for load in proc.loads:
            got, r = await place(load)
            if (r.counts - last) * sign <= 0:
                raise CalibrationError(
                    f"the reading fell (or stayed) when {got:g} {proc.unit} was placed after "
                    f"{row[-1].load if row else 0:g} {proc.unit}: the loads must go up in order "
                    f"and the sensor must respond; unload and start again. {UNCHANGED}"
                )
            row.append(r)
            last = r.counts
        cal.series.append(row)
    for _ in range(proc.decreasing_series):
        op.show("decreasing series")
        last = cal.series[-1][-1].counts
        down: list[Reading] = []
        for load in reversed(proc.loads[:-1]):
            got, r = await place(load)
            if (r.counts - last) * sign >= 0:
                raise CalibrationError(
                    f"the reading rose when the load went down to {got:g} {proc.unit}: take "
                    f"the weights off in order; unload and start again. {UNCHANGED}"
                )
            down.append(r)
            last = r.counts
        cal.decreasing = [*reversed(down), cal.series[-1][-1]]
    await unload()
    analyse(cal)
    v = cal.verification
    assert v is not None and cal.fit is not None
    if not proc.reaches(v.klass) and not force:
        op.show(
            f"class {v.klass or 'none'} reached, class {proc.required_class} required: not "
            f"written ({', '.join(v.failed) or 'errors'} too large). {UNCHANGED}"
        )
        return cal
    await write(kit, cal)
    return cal


def analyse(cal: Calibration) -> None:
    """Fit the increasing series and verify every reading against the procedure's classes."""
    proc = cal.procedure
    forces = np.array([proc.newtons(r.load) for row in cal.series for r in row])
    zeros = cal.zeros[-(len(cal.series) + 1) :]  # the zero before each series, and the last
    x = np.array([r.counts - zeros[i].counts for i, row in enumerate(cal.series) for r in row])
    cal.fit = fit = fit_points(forces, x, proc.model, zero=0.0)
    n = len(proc.loads)
    inc = fit.predict(x).reshape(len(cal.series), n)
    dec = None
    if cal.decreasing:
        dec = fit.predict(np.array([r.counts - zeros[-2].counts for r in cal.decreasing]))
    residual = [
        float(fit.predict(np.array([zeros[i + 1].counts - zeros[i].counts]))[0])
        for i in range(len(zeros) - 1)
    ]
    f0 = max(residual, key=abs)
    cal.indications_inc = inc.tolist()
    cal.indications_dec = [] if dec is None else dec.tolist()
    ref = np.array([proc.newtons(v) for v in proc.loads])
    last = cal.series[-1]
    res = []
    for i, r in enumerate(last):
        xi = r.counts - zeros[-2].counts
        step = float(fit.predict(np.array([xi + 1.0]))[0] - fit.predict(np.array([xi]))[0])
        spread_n = abs(step) * max(rr[i].spread for rr in cal.series)
        res.append(resolution_n(abs(step), spread_n))
    cal.verification = verify(ref, inc, dec, f0, proc.range_n, res, proc.classes)


async def write(kit: KitPort, cal: Calibration) -> None:
    """Write the new record (the other channels as they were) and check it by reading back.

    Raises:
        CalibrationError: the write failed or the read-back differs.
    """
    assert cal.fit is not None
    fitted = cal.fit.channel()
    channel = ChannelCalibration(fitted.model, cal.zero, fitted.coeffs)
    old = cal.old
    n = max(cal.channel_index + 1, len(old.channels) if old else 0)
    chans = [
        old.channels[i] if old and i < len(old.channels) else ChannelCalibration("none", 0)
        for i in range(n)
    ]
    chans[cal.channel_index] = channel
    cal.new = DeviceCalibration(round(cal.started_at), tuple(chans))
    try:
        back = await kit.write_calibration(cal.new)
    except FinemotorError as exc:
        raise CalibrationError(
            f"writing the calibration failed ({exc}); the kit keeps its old coefficients "
            "(it swaps a record in only once all of it arrived and checked): bring the kit "
            "closer, check its battery and run again"
        ) from exc
    want = np.asarray(channel.coeffs, dtype=np.float32)
    got_ch = back.channels[cal.channel_index] if cal.channel_index < len(back.channels) else None
    if (
        got_ch is None
        or got_ch.model != channel.model
        or got_ch.zero != channel.zero
        or not np.array_equal(np.asarray(got_ch.coeffs, dtype=np.float32), want)
    ):
        raise CalibrationError(
            "the calibration read back from the kit differs from the one written: run the "
            "calibration again; if it repeats, the kit's flash may be failing"
        )
    cal.written = True


def summary(cal: Calibration) -> dict[str, Any]:
    """The calibration as JSON-ready data (the record's body)."""
    proc, fit, v = cal.procedure, cal.fit, cal.verification
    out: dict[str, Any] = {
        "device": proc.device,
        "channel": proc.channel,
        "unit": proc.unit,
        "range": proc.range,
        "range_n": proc.range_n,
        "loads": list(proc.loads),
        "loads_n": [proc.newtons(v) for v in proc.loads],
        "raw": {
            "zeros": [z.counts for z in cal.zeros],
            "increasing": [[r.counts for r in row] for row in cal.series],
            "decreasing": [r.counts for r in cal.decreasing],
            "loads_entered": [[r.load for r in row] for row in cal.series],
        },
        "indications_n": {"increasing": cal.indications_inc, "decreasing": cal.indications_dec},
        "classes": [
            {"name": c.name, "q": c.q, "b": c.b, "v": c.v, "f0": c.f0, "a": c.a}
            for c in proc.classes
        ],
        "written": cal.written,
    }
    if fit is not None:
        ch = fit.channel()
        out["fit"] = {
            "model": fit.model,
            "device_model": ch.model,
            "zero": cal.zero,
            "coeffs": list(fit.coeffs),
            "rms_residual_n": fit.rms_n,
        }
    if v is not None:
        out["verification"] = {
            "class": v.klass,
            "required_class": proc.required_class,
            "passed": proc.reaches(v.klass),
            "failed": list(v.failed),
            "f0_pct": v.f0,
            "q_max_pct": v.q_max,
            "b_max_pct": v.b_max,
            "v_max_pct": v.v_max,
            "a_max_pct": v.a_max,
            "points": [
                {"force_n": p.force_n, "mean_n": p.mean_n, "q": p.q, "b": p.b, "v": p.v, "a": p.a}
                for p in v.points
            ],
        }
    return out
