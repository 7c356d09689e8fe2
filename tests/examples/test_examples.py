"""Every script in examples/ runs as a person would run it, against a simulated kit, and
prints or writes what it says: forces in newtons in a plausible range, CSV rows, a PNG."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from finemotor import Recording

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
GRIP_MAX_N = 900.0  # the dynamometer's range (90 kgf)
STYLUS_MAX_N = 10.0  # twice the stylus's calibrated range


def run_example(name: str, *args: str, timeout: float = 90.0) -> subprocess.CompletedProcess[str]:
    """Run ``examples/name`` with ``args``; fail with its output if it does not exit 0."""
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{name} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def test_every_example_is_tested_here_and_linked_from_the_readme() -> None:
    names = sorted(p.name for p in EXAMPLES.glob("*.py"))
    here = Path(__file__).read_text(encoding="utf-8")
    readme = (EXAMPLES.parent / "README.md").read_text(encoding="utf-8")
    assert names == sorted(
        [
            "analyse_recording.py",
            "field_check.py",
            "live_plot.py",
            "print_newtons.py",
            "save_csv.py",
        ]
    )
    assert [n for n in names if f'"{n}"' not in here] == []
    assert [n for n in names if f"(examples/{n})" not in readme] == []


@pytest.mark.parametrize(
    ("source", "names"),
    [("sim://grip", ["force"]), ("sim://stylus", ["tip", "barrel_a", "barrel_b", "barrel"])],
)
def test_print_newtons(source: str, names: list[str]) -> None:
    out = run_example("print_newtons.py", source, "--seconds", "2").stdout
    pattern = re.compile(
        r"^\s*(\d+\.\d+) s  " + "  ".join(rf"{n}\s+(-?\d+\.\d+) N" for n in names) + "$"
    )
    rows = [m.groups() for line in out.splitlines() if (m := pattern.match(line))]
    assert len(rows) >= 15, out  # ten a second for two seconds
    t = np.array([float(r[0]) for r in rows])
    forces = np.array([[float(x) for x in r[1:]] for r in rows])
    assert np.all(np.diff(t) >= 0.1 - 1e-9)
    top = GRIP_MAX_N if source == "sim://grip" else STYLUS_MAX_N
    assert forces.min() > -1.0 and forces.max() < top
    if "barrel" in names:  # the barrel grip is the pads' sum
        assert forces[:, 3] == pytest.approx(forces[:, 1] + forces[:, 2], abs=0.002)
        assert forces[:, 3].min() > 0.5  # the simulated student holds the pen throughout


def test_save_csv(tmp_path: Path) -> None:
    out = tmp_path / "forces.csv"
    printed = run_example("save_csv.py", "sim://stylus", "--seconds", "2", "--out", str(out)).stdout
    with out.open(encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["seq", "t_s", "tip_N", "barrel_a_N", "barrel_b_N", "barrel_N"]
    data = np.array(rows[1:], dtype=np.float64)
    assert f"{data.shape[0]} samples written" in printed
    assert data.shape[0] >= 380  # 200 Hz for two seconds
    assert np.all(np.diff(data[:, 0]) == 1)  # every sample, in order
    assert np.median(np.diff(data[:, 1])) == pytest.approx(1 / 200, rel=0.05)
    assert data[:, 5] == pytest.approx(data[:, 3] + data[:, 4], abs=2e-4)
    assert data[:, 2:].min() > -1.0 and data[:, 2:].max() < STYLUS_MAX_N
    assert data[:, 2].max() > 0.5  # the simulated student wrote


def test_live_plot_writes_a_png_off_screen(tmp_path: Path) -> None:
    png = tmp_path / "grip.png"
    printed = run_example("live_plot.py", "sim://grip", "--seconds", "2", "--save", str(png)).stdout
    m = re.search(r"plot of (\d+) samples written", printed)
    assert m is not None and int(m.group(1)) >= 600  # 320 Hz for two seconds
    image = np.asarray(mpimg.imread(png))
    assert image.shape[:2] == (400, 900)
    assert len(np.unique(image.reshape(-1, image.shape[2]), axis=0)) > 10  # axes, text, a trace


def test_analyse_recording(tmp_path: Path) -> None:
    db = tmp_path / "rec.sqlite"
    out = run_example(
        "analyse_recording.py", "sim://stylus", "--seconds", "3", "--db", str(db)
    ).stdout
    m = re.search(r"^stylus: (\d+) samples over ([\d.]+) s at 200 Hz$", out, re.M)
    assert m is not None, out
    with Recording(db) as rec:
        (session,) = rec.list_sessions()
        samples = rec.load_samples(session.id, "stylus")
    assert len(samples.seq) == int(m.group(1)) >= 580
    mean = re.search(r"^  force mean: ([\d.]+) N$", out, re.M)
    assert mean is not None and 0.3 < float(mean.group(1)) < STYLUS_MAX_N
    assert re.search(r"^  timing strokes: [1-9]\d* count$", out, re.M)


def test_field_check_of_the_grip() -> None:
    out = run_example("field_check.py", "sim://grip", "--weight", "20 kg").stdout
    m = re.search(r"20 kg = 196\.13 N reads ([\d.]+) N: error ([-+][\d.]+) %", out)
    assert m is not None, out
    assert float(m.group(1)) == pytest.approx(196.13, rel=0.01)
    assert abs(float(m.group(2))) < 1.0
    assert "calibration OK" in out
