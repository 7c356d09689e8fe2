"""The guided procedure against a model kit: the sequence, the write rule, every bad input."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from finemotor.calibration.model import ChannelCalibration, DeviceCalibration
from finemotor.calibration.procedure import load_procedure, parse_procedure, parse_weight
from finemotor.calibration.session import Calibration, run_calibration, summary
from finemotor.errors import CalibrationError

CPN = 4000.0  # counts per newton of the model kit
ZERO = -60000.0


class FakeKit:
    """A load cell at 200 Hz in virtual time: counts = zero + CPN·F (+ bow, noise, swing)."""

    serial = "FAKE01"
    firmware = "1.0.0"
    rate_hz = 200.0

    def __init__(self, proc: Any, noise: float = 20.0, bow: float = 0.0) -> None:
        self.range_n = proc.range_n
        self.load_n = 0.0
        self.noise = noise
        self.bow = bow
        self.swing = 0.0
        self.t = 0.0
        self.buf = np.zeros(0)
        self.rng = np.random.default_rng(1)
        self.stored = DeviceCalibration(1, (ChannelCalibration("linear", -60000, (1 / CPN,)),))
        self.disconnect_after: int | None = None
        self.fail_write = False
        self.flip_stored_bit: int | None = None  # a failing flash: this bit of c0 flips
        self.calls = 0
        self.gain_unit = 1.0  # what the weights really are, per newton the operator announces

    async def recent(self, seconds: float, fresh_s: float) -> Any:
        self.calls += 1
        if self.disconnect_after is not None and self.calls > self.disconnect_after:
            raise CalibrationError("the kit disconnected in the middle of the calibration")
        n = round(fresh_s * self.rate_hz)
        t = self.t + np.arange(n) / self.rate_hz
        self.t += n / self.rate_hz
        f = self.load_n * self.gain_unit
        x = f / self.range_n
        c = ZERO + CPN * f + self.bow * CPN * self.range_n * 4 * x * (1 - x)
        c = c + self.noise * self.rng.standard_normal(n) + self.swing * np.sin(2 * np.pi * t)
        self.buf = np.r_[self.buf, c][-2000:]
        return self.buf[-round(seconds * self.rate_hz) :]

    async def read_calibration(self) -> DeviceCalibration:
        return self.stored

    async def write_calibration(self, cal: DeviceCalibration) -> DeviceCalibration:
        if self.fail_write:
            from finemotor.errors import TransportError  # noqa: PLC0415

            raise TransportError("link lost during CAL_STAGE")
        self.stored = DeviceCalibration(
            cal.calibrated_at,
            tuple(
                ChannelCalibration(c.model, c.zero, tuple(float(np.float32(v)) for v in c.coeffs))
                for c in cal.channels
            ),
        )
        if self.flip_stored_bit is not None:
            ch = self.stored.channels[0]
            bits = struct.unpack("<I", struct.pack("<f", ch.coeffs[0]))[0] ^ (
                1 << self.flip_stored_bit
            )
            c0 = struct.unpack("<f", struct.pack("<I", bits))[0]
            flipped = ChannelCalibration(ch.model, ch.zero, (c0, *ch.coeffs[1:]))
            self.stored = DeviceCalibration(self.stored.calibrated_at, (flipped,))
        return self.stored


class Rig:
    """Places what is asked (or what ``plan`` says), answers with ``typed``."""

    def __init__(self, kit: FakeKit, typed: dict[int, str] | None = None) -> None:
        self.kit = kit
        self.typed = typed or {}
        self.asked = 0
        self.offset: dict[int, float] = {}
        self.prompts: list[str] = []

    async def ask(self, prompt: str, load_n: float | None) -> str:
        self.prompts.append(prompt)
        self.kit.load_n = (load_n or 0.0) + self.offset.get(self.asked, 0.0)
        text = self.typed.get(self.asked, "")
        self.asked += 1
        return text

    def show(self, text: str) -> None:
        pass


def _run(kit: FakeKit, rig: Rig, proc: Any, force: bool = False) -> Calibration:
    return asyncio.run(run_calibration(kit, rig, proc, 0, force=force, now=1.8e9))


@pytest.fixture
def grip() -> Any:
    return load_procedure("grip")


def test_the_procedure_files_load() -> None:
    g, s = load_procedure("grip"), load_procedure("stylus")
    assert g.unit == "kg" and g.loads == (18.0, 36.0, 54.0, 72.0, 90.0)
    assert g.range_n == pytest.approx(882.6, abs=0.01)
    assert s.unit == "N" and s.channel == "tip" and s.model == "poly3"
    assert g.prompt(5.0).startswith("hang 5 kg from the handle, then press Enter")
    assert [c.name for c in g.classes] == ["0.5", "1", "2", "3"]


def test_full_run_writes_and_verifies(grip: Any) -> None:
    kit = FakeKit(grip)
    rig = Rig(kit)
    cal = _run(kit, rig, grip)
    assert cal.written and cal.verification is not None
    assert cal.verification.klass in ("0.5", "1")
    assert cal.fit is not None and cal.fit.coeffs[0] == pytest.approx(1 / CPN, rel=1e-3)
    assert kit.stored.channels[0].zero == round(ZERO) or abs(kit.stored.channels[0].zero - ZERO) < 5
    # 1 zero, 3 preloads (load, unload), 3 series of 5 (with 2 more zeros), 4 down, 1 unload
    assert rig.asked == 1 + 3 * 2 + 15 + 2 + 4 + 1
    assert rig.prompts[1].startswith("hang 90 kg")
    rec = summary(cal)
    assert rec["verification"]["class"] == cal.verification.klass
    assert len(rec["raw"]["increasing"]) == 3 and len(rec["raw"]["decreasing"]) == 5


def test_failing_class_is_not_written_unless_forced(grip: Any) -> None:
    kit = FakeKit(grip, bow=0.05)  # 5 % of full scale of bow: no class with a linear fit
    cal = _run(kit, Rig(kit), grip)
    assert cal.verification is not None and not grip.reaches(cal.verification.klass)
    assert not cal.written and kit.stored.calibrated_at == 1
    kit2 = FakeKit(grip, bow=0.05)
    assert _run(kit2, Rig(kit2), grip, force=True).written
    assert kit2.stored.calibrated_at == 1_800_000_000


def _refused(kit: FakeKit, rig: Rig, proc: Any, match: str) -> None:
    before = kit.stored
    with pytest.raises(CalibrationError, match=match):
        _run(kit, rig, proc)
    assert kit.stored is before  # the kit's calibration stays as it was


def test_never_stable(grip: Any) -> None:
    kit = FakeKit(grip)
    kit.swing = 50_000.0
    _refused(kit, Rig(kit), grip, "did not settle within 20 s")


def test_load_out_of_order(grip: Any) -> None:
    kit = FakeKit(grip)
    rig = Rig(kit)
    rig.offset[8] = -30 * 9.80665  # series 1, second load: 6 kg where 36 kg was asked
    _refused(kit, rig, grip, "loads must go up in order")


def test_typed_load_out_of_order_or_range(grip: Any) -> None:
    kit = FakeKit(grip)
    _refused(kit, Rig(kit, {8: "54 kg"}), grip, "not the load asked")
    kit = FakeKit(grip)
    _refused(kit, Rig(kit, {1: "120 kg"}), grip, "beyond the range")


def test_wrong_unit_typed_or_loaded(grip: Any) -> None:
    kit = FakeKit(grip)
    _refused(kit, Rig(kit, {1: "90"}), grip, "has no unit")
    kit = FakeKit(grip)
    _refused(kit, Rig(kit, {1: "198 lb"}), grip, "not one the kit takes")
    kit = FakeKit(grip)
    _refused(kit, Rig(kit, {1: "90 N"}), grip, "not the load asked")
    kit = FakeKit(grip)
    kit.gain_unit = 1 / 9.80665  # the person hung weights marked in newtons (90 N for 90 kg)
    _refused(kit, Rig(kit), grip, "wrong unit|weights in newtons where kg")


def test_non_monotonic_and_dead_sensor(grip: Any) -> None:
    kit = FakeKit(grip)
    rig = Rig(kit)
    rig.offset[24] = 30 * 9.80665  # decreasing series, 72 kg asked: the reading rises instead
    _refused(kit, rig, grip, "the reading rose when the load went down")
    kit = FakeKit(grip)
    kit.gain_unit = 0.0
    _refused(kit, Rig(kit), grip, "did not change")


def test_disconnect_mid_calibration(grip: Any) -> None:
    kit = FakeKit(grip)
    kit.disconnect_after = 15
    _refused(kit, Rig(kit), grip, "disconnected")


def test_failed_write_keeps_old(grip: Any) -> None:
    kit = FakeKit(grip)
    kit.fail_write = True
    _refused(kit, Rig(kit), grip, "keeps its old coefficients")


def test_too_few_points_and_bad_procedures(grip: Any, tmp_path: Path) -> None:
    import tomllib  # noqa: PLC0415

    from finemotor.calibration.procedure import procedures_dir  # noqa: PLC0415

    data = tomllib.loads((procedures_dir() / "grip.toml").read_text(encoding="utf-8"))
    for change, match in (
        ({"loads": [18.0, 36.0, 90.0]}, "at least 5"),
        ({"loads": [18.0, 54.0, 36.0, 72.0, 90.0]}, "strictly increasing"),
        ({"loads": [18.0, 36.0, 54.0, 72.0, 120.0]}, "beyond the range"),
        ({"unit": "lb"}, "unit 'lb'"),
        ({"increasing_series": 2}, "3 increasing series"),
        ({"required_class": "7"}, "no class '7'"),
    ):
        with pytest.raises(CalibrationError, match=match):
            parse_procedure({**data, **change}, "grip.toml")
    with pytest.raises(CalibrationError, match="cannot read"):
        load_procedure(tmp_path / "missing.toml")


def test_parse_weight_units(grip: Any) -> None:
    assert parse_weight("", grip, 36.0) == 36.0
    assert parse_weight("36.2 kg", grip, 36.0) == pytest.approx(36.2)
    assert parse_weight("36000 g", grip, 36.0) == pytest.approx(36.0)
    assert parse_weight("353 N", grip, 36.0) == pytest.approx(353 / 9.80665)
    with pytest.raises(CalibrationError, match="is not a weight"):
        parse_weight("heavy", grip, 36.0)


@pytest.mark.parametrize("bit", [0, 22, 30])
def test_a_kit_whose_read_back_differs_is_refused(grip: Any, bit: int) -> None:
    """The kit stores the record with one bit of its coefficient flipped (a failing flash):
    even the lowest bit is caught, and the calibration is not called written."""
    kit = FakeKit(grip)
    kit.flip_stored_bit = bit
    with pytest.raises(CalibrationError, match="read back from the kit differs"):
        _run(kit, Rig(kit), grip)
