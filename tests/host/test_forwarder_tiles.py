"""What the forwarder tells the page: each trace's unit and the tiles' words and caveats."""

from __future__ import annotations

import numpy as np
import pytest

from finemotor.calibration import ChannelCalibration, DeviceCalibration
from finemotor.forwarder import tiles, trace_units
from finemotor.metrics import GripEngine, PenConfig, PenEngine
from finemotor.samples import SampleBlock

TIP = ChannelCalibration("linear", 0, (1e-4,))
NONE = ChannelCalibration("none", 0)


def block(kind: str, channels: tuple[str, ...], counts: np.ndarray, fs: float) -> SampleBlock:
    n = counts.shape[0]
    return SampleBlock(kind, channels, np.arange(n), np.arange(n) / fs, counts.astype(np.int32))


def test_trace_units_follow_each_channels_calibration() -> None:
    stylus = block("stylus", ("tip", "barrel_a", "barrel_b"), np.zeros((4, 3)), 200.0)
    assert trace_units(stylus, DeviceCalibration(1, (TIP, NONE, NONE))) == {
        "tip": "N",
        "barrel": "raw",
    }
    tip_only = block("stylus", ("tip",), np.zeros((4, 1)), 200.0)
    assert trace_units(tip_only, DeviceCalibration(1, (NONE,))) == {"tip": "raw"}
    grip = block("grip", ("force",), np.zeros((4, 1)), 320.0)
    assert trace_units(grip, DeviceCalibration(1, (ChannelCalibration("linear", 0, (1e-3,)),))) == {
        "force": "N"
    }


def test_uncalibrated_pen_tiles_in_words_with_their_caveat() -> None:
    fs = 200.0
    t = np.arange(round(20 * fs)) / fs
    tip = np.where((t % 0.5) < 0.3, 1.5 + 0.3 * np.sin(2 * np.pi * 3 * t), 0.0)
    counts = np.round(tip * 1e4)[:, None]
    cfg = PenConfig(on=1500.0, off=800.0, threshold_unit="raw", task="free_writing")
    engine = PenEngine(DeviceCalibration(0, (NONE,)), fs, cfg, channels=("tip",))
    engine.feed(block("stylus", ("tip",), counts, fs))
    out = tiles(engine.snapshot())
    assert out["cv"]["label"] == "pen pressure variation (CV)" and out["cv"]["value"] > 0
    assert out["strokes"]["label"] == "strokes per minute"
    # 40 strokes over 19.8 s of writing (first stroke's start to last stroke's end)
    assert out["strokes"]["value"] == pytest.approx(40 * 60 / 19.8, rel=0.01)


def test_grip_tile_never_says_never_reached_during_a_squeeze() -> None:
    fs = 320.0
    t = np.arange(round(3 * fs)) / fs
    f = 80.0 * (0.5 - 0.5 * np.cos(np.pi * np.clip((t - 1.0) / 0.5, 0, 1)))  # still held
    cal = DeviceCalibration(1, (ChannelCalibration("linear", 0, (1e-3,)),))
    engine = GripEngine(cal, fs)
    engine.feed(block("grip", ("force",), np.round(f / 1e-3)[:, None], fs))
    out = tiles(engine.snapshot())
    assert out["squeeze"]["label"] == "squeeze in progress: peak so far"
    assert abs(out["squeeze"]["value"] - 80.0) < 0.5
    assert "kgf" in out["squeeze"]["alt"]
    assert "never reached" not in str(out)
    assert "squeeze in progress" in out["peak"]["why"]
