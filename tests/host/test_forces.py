"""A kit's forces: newtons where calibrated, raw (tared counts) where not, the stylus barrel as
the pads' sum (the one definition the live engines, the view and the reports use), and the
stream of them from a recording played back."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import finemotor
from finemotor import (
    ChannelCalibration,
    DeviceCalibration,
    Forces,
    SampleBlock,
    open_forces,
    to_forces,
)
from finemotor.forwarder import display_traces, trace_units
from finemotor.recording import Recorder
from finemotor.report.analysis import analyse_session

STYLUS = ("tip", "barrel_a", "barrel_b")
TIP_N_PER_COUNT = 1 / 4000
PAD_N_PER_COUNT = 1 / 300


def stylus_block(seq0: int = 0, n: int = 200) -> SampleBlock:
    seq = np.arange(seq0, seq0 + n, dtype=np.int64)
    ramp = (seq % 100).astype(np.int32)
    counts = np.stack([1000 + 40 * ramp, 50 + 3 * ramp, 80 + 2 * ramp], axis=1).astype(np.int32)
    return SampleBlock("stylus", STYLUS, seq, seq / 200.0, counts)


def calibration(pad_b: bool = True) -> DeviceCalibration:
    pad = ChannelCalibration("linear", 80, (PAD_N_PER_COUNT,))
    return DeviceCalibration(
        1_700_000_000,
        (
            ChannelCalibration("linear", 1000, (TIP_N_PER_COUNT,)),
            ChannelCalibration("linear", 50, (PAD_N_PER_COUNT,)),
            pad if pad_b else ChannelCalibration("none", 80),
        ),
    )


def test_calibrated_channels_are_newtons_and_the_barrel_is_the_pads_sum() -> None:
    block = stylus_block()
    f = to_forces(block, calibration())
    ramp = np.arange(200) % 100
    assert f.units == {"tip": "N", "barrel_a": "N", "barrel_b": "N", "barrel": "N"}
    assert f["tip"].values == pytest.approx(40 * ramp * TIP_N_PER_COUNT)
    assert f["barrel"].values == pytest.approx(5 * ramp * PAD_N_PER_COUNT)
    assert f.barrel is f["barrel"]
    assert f.t is block.t and f.seq is block.seq and len(f) == 200


def test_an_uncalibrated_channel_stays_raw_and_so_does_a_barrel_it_is_part_of() -> None:
    f = to_forces(stylus_block(), calibration(pad_b=False))
    ramp = np.arange(200) % 100
    assert f.units == {"tip": "N", "barrel_a": "N", "barrel_b": "raw", "barrel": "raw"}
    assert f["barrel_b"].values == pytest.approx(2 * ramp)  # counts - zero
    unread = to_forces(stylus_block(), None)  # a kit whose calibration could not be read
    assert set(unread.units.values()) == {"raw"}
    assert unread["tip"].values == pytest.approx(1000 + 40 * ramp)


def test_a_grip_has_its_force_and_no_barrel() -> None:
    block = SampleBlock(
        "grip", ("force",), np.arange(3), np.arange(3) / 320.0, np.array([[5], [15], [25]])
    )
    f = to_forces(block, DeviceCalibration(1, (ChannelCalibration("linear", 5, (0.5,)),)))
    assert f.names == ("force",) and f.barrel is None
    assert f["force"].values.tolist() == [0.0, 5.0, 10.0]
    with pytest.raises(KeyError, match="this grip has force"):
        f["barrel"]


@pytest.mark.parametrize("pad_b", [True, False])
def test_the_view_and_the_report_show_the_same_barrel(tmp_path: Path, pad_b: bool) -> None:
    block, cal = stylus_block(), calibration(pad_b)
    f = to_forces(block, cal)
    assert display_traces(block, cal)["barrel"] == pytest.approx(f["barrel"].values)
    assert trace_units(block, cal)["barrel"] == f["barrel"].unit
    db = tmp_path / "rec.sqlite"
    with Recorder(db, student="S-1") as rec:
        rec.add_device("stylus", "stylus", STYLUS, rate_hz=200.0, calibration=cal)
        rec.add_block("stylus", block)
        session = rec.session_id
    with finemotor.Recording(db) as rec:
        (dev,) = analyse_session(rec, session).devices
    barrel = next(s for s in dev.signals if s.label == "barrel")
    assert barrel.values == pytest.approx(f["barrel"].values)
    assert barrel.unit == f["barrel"].unit


def _recorded(db: Path, blocks: list[SampleBlock]) -> int:
    with Recorder(db, student="S-1") as rec:
        rec.add_device("stylus", "stylus", STYLUS, rate_hz=200.0, calibration=calibration())
        for b in blocks:
            rec.add_block("stylus", b)
        return rec.session_id


def test_a_replayed_recording_streams_as_forces_and_ends(tmp_path: Path) -> None:
    db = tmp_path / "rec.sqlite"
    blocks = [stylus_block(200 * i) for i in range(5)]
    session = _recorded(db, blocks)

    async def stream() -> tuple[list[Forces], dict[str, str]]:
        async with open_forces(f"replay://{session}/stylus?speed=0&db={db}") as kit:
            got = [f async for f in kit]  # a replay ends by itself
            return got, dict(kit.units)

    got, units = asyncio.run(asyncio.wait_for(stream(), 30))
    assert units == {"tip": "N", "barrel_a": "N", "barrel_b": "N", "barrel": "N"}
    assert np.concatenate([f.seq for f in got]).tolist() == list(range(1000))
    assert np.concatenate([f["barrel"].values for f in got]) == pytest.approx(
        np.concatenate([to_forces(b, calibration())["barrel"].values for b in blocks])
    )


def test_during_stops_after_that_much_device_time_and_callbacks_get_every_block(
    tmp_path: Path,
) -> None:
    db = tmp_path / "rec.sqlite"
    session = _recorded(db, [stylus_block(50 * i, 50) for i in range(20)])  # 5 s at 200 Hz
    name = f"replay://{session}/stylus?speed=0&db={db}"

    async def during() -> float:
        async with open_forces(name) as kit:
            spans = [(float(f.t[0]), float(f.t[-1])) async for f in kit.during(1.0)]
        return spans[-1][1] - spans[0][0]

    async def called() -> int:
        seen: list[Forces] = []
        async with open_forces(name, on_forces=seen.append) as kit:
            while kit.link.connected:
                await asyncio.sleep(0.05)
        return sum(len(f) for f in seen)

    assert 1.0 <= asyncio.run(during()) < 1.0 + 50 / 200
    assert asyncio.run(called()) == 1000


def test_import_finemotor_is_light_and_every_public_name_resolves() -> None:
    probe = (
        "import sys, finemotor\n"
        "finemotor.FinemotorError\n"
        "light = not any(m in sys.modules for m in ('numpy', 'bleak', 'bumble', 'matplotlib'))\n"
        "names = [getattr(finemotor, n) for n in finemotor.__all__]\n"
        "print(light, len(names))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert out == ["True", str(len(finemotor.__all__))]
    with pytest.raises(AttributeError, match="no attribute 'open_nothing'"):
        finemotor.open_nothing  # noqa: B018
