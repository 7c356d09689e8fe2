"""``finemotor calibrate ... --auto`` end to end: the real firmware, the simulated load rig."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from finemotor.calibration.procedure import load_procedure, procedures_dir
from finemotor.calibration.session import readings_in
from finemotor.cli import main


def _quick(tmp_path: Path, kind: str) -> str:
    """The shipped procedure with one preload and shorter readings (the test's time budget)."""
    text = (procedures_dir() / f"{kind}.toml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^preloads = \d+", "preloads = 1", text)
    text = re.sub(r"(?m)^window_s = [\d.]+", "window_s = 0.3", text)
    text = re.sub(r"(?m)^max_spread_pct = [\d.]+", "max_spread_pct = 0.15", text)
    path = tmp_path / f"{kind}.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.slow  # a whole guided calibration in real time, about 25 s each
@pytest.mark.parametrize("kind", ["grip", "stylus"])
def test_auto_calibration_recovers_the_truth_with_a_progress_bar_of_every_reading(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    procedure = _quick(tmp_path, kind)
    argv = ["calibrate", kind, "--device", f"sim://{kind}", "--auto"]
    assert main([*argv, "--out", str(out), "--procedure", procedure]) == 0
    printed = capsys.readouterr()
    assert f"{kind} " in printed.out and "reached" in printed.out
    # The record the run saved (JSON beside its certificate), with the simulated truth.
    rec = json.loads(next(p for p in out.glob("*.json")).read_text(encoding="utf-8"))
    assert rec["written"] and rec["verification"]["passed"]
    assert rec["truth"]["within_class_1_of_truth"], rec["truth"]
    if kind == "grip":
        assert abs(rec["truth"]["coefficient_error_pct"]) < 1.0
        assert rec["verification"]["class"] in ("0.5", "1")
    for suffix in (".json", ".pdf", ".png"):
        assert any(f.endswith(suffix) and Path(f).stat().st_size > 0 for f in rec["files"])
    assert rec["raw"]["increasing"] and rec["serial"]
    # One progress line per stable reading (not at a terminal: a line each).
    total = readings_in(load_procedure(procedure))
    bar = [ln for ln in printed.err.splitlines() if ln.startswith(f"calibrating {kind}: ")]
    assert total < 40
    assert len(bar) == total
    assert bar[-1].startswith(f"calibrating {kind}: {total}/{total}: ")


def test_field_check_on_the_sim(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["calibrate", "check", "grip", "--weight", "36 kg", "--auto", "--json"]
    assert main([*argv, "--procedure", _quick(tmp_path, "grip")]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["reference_n"] == pytest.approx(36 * 9.80665)
    assert abs(res["error_pct"]) < 1.0 and not res["recalibration_due"]


def test_auto_needs_a_simulated_kit(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "grip", "--device", "ble://5A2002", "--auto"]) == 1
    assert "needs a simulated kit" in capsys.readouterr().err


def test_wrong_kind_of_kit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["calibrate", "grip", "--device", "sim://stylus", "--auto", "--out", str(tmp_path)]
    assert main(argv) == 1
    assert "procedure for its own kind" in capsys.readouterr().err
