"""``finemotor analyze``: metrics of a CSV recording, and exact complaints about bad files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from finemotor.cli import main
from finemotor.metrics import KGF_N

FS = 320.0


def squeezes(seconds: float = 30.0) -> np.ndarray:
    t = np.arange(round(seconds * FS)) / FS
    f = np.zeros_like(t)
    for k, peak in enumerate((200.0, 190.0, 195.0)):
        x = t - (2.0 + 8.0 * k)
        shape = np.clip(np.minimum(x / 0.5, (3.3 - x) / 0.3), 0, 1)
        f += peak * (0.5 - 0.5 * np.cos(np.pi * shape))
    return f


def write(
    path: Path, header: str | None, values: np.ndarray, fmt: str = "{:.5f}", sep: str = ","
) -> Path:
    lines = [] if header is None else [header]
    t = np.arange(values.shape[0]) / FS
    for ti, v in zip(t, values, strict=True):
        lines.append(
            fmt.format(v)
            if header is None or sep not in header
            else f"{ti:.5f}{sep}{fmt.format(v)}"
        )
    path.write_text("\n".join(lines) + "\n")
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    code = main(["analyze", *args])
    out, err = capsys.readouterr()
    data = json.loads(out) if code == 0 and "--json" in args else out
    return code, data, err


def test_grip_csv_in_newtons(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = write(tmp_path / "grip.csv", "time,force", squeezes())
    code, data, _ = run(capsys, str(f), "--kind", "grip", "--rate", "320", "--json")
    assert code == 0
    assert data["file"] == "grip.csv" and data["column"] == "force" and data["units"] == "N"
    assert data["rows"] == squeezes().shape[0] and data["missing_values"] == 0
    m = data["metrics"]
    assert [tr["peak"]["value"] for tr in m["trials"]] == pytest.approx([200, 190, 195], rel=2e-3)
    hand = m["hands"]["unspecified"]
    assert hand["mean_of_3"]["value"] == pytest.approx(195.0, rel=2e-3)
    assert hand["mean_of_3"]["display"]["unit"] == "kgf"
    rfd = m["trials"][0]["rfd"]["0_50ms"]
    assert rfd == {
        "value": None,
        "unit": "N/s",
        "reason": "needs ≥500 Hz sampling, recording is 320 Hz",
    }


def test_kgf_and_raw_units(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = squeezes()
    n_file = write(tmp_path / "n.csv", "time,force", f)
    kgf_file = write(tmp_path / "kgf.csv", "time,force", f / KGF_N, "{:.9f}")
    raw_file = write(tmp_path / "raw.csv", "time,force", np.round(f * 1000), "{:.0f}")
    _, n, _ = run(capsys, str(n_file), "--kind", "grip", "--rate", "320", "--json")
    _, k, _ = run(
        capsys, str(kgf_file), "--kind", "grip", "--rate", "320", "--units", "kgf", "--json"
    )
    _, r, _ = run(
        capsys, str(raw_file), "--kind", "grip", "--rate", "320", "--units", "raw", "--json"
    )
    pk_n = [tr["peak"]["value"] for tr in n["metrics"]["trials"]]
    assert [tr["peak"]["value"] for tr in k["metrics"]["trials"]] == pytest.approx(pk_n, rel=1e-6)
    assert k["input_units"] == "kgf" and k["units"] == "N"
    hr = r["metrics"]["hands"]["unspecified"]
    assert r["units"] == "raw"
    assert hr["mean_of_3"]["value"] is None and "uncalibrated" in hr["mean_of_3"]["reason"]
    assert hr["cv"]["value"] == pytest.approx(
        n["metrics"]["hands"]["unspecified"]["cv"]["value"], rel=1e-3
    )
    assert r["metrics"]["trials"][0]["time_to_peak_s"]["value"] is not None


def test_pen_pressure_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fs = 200.0
    t = np.arange(round(20 * fs)) / fs
    tip = np.where((t % 0.5) < 0.3, 1.5 + 0.3 * np.sin(2 * np.pi * 3 * t), 0.0)
    path = tmp_path / "tablet.csv"
    path.write_text("x;y;pressure\n" + "".join(f"1;2;{v:.4f}\n" for v in tip))
    code, data, _ = run(capsys, str(path), "--kind", "pen", "--rate", "200", "--json")
    assert code == 0 and data["column"] == "pressure"
    m = data["metrics"]
    assert m["timing"]["strokes"]["value"] == 40
    assert m["force"]["cv"]["value"] > 0
    assert m["barrel"]["mean"]["reason"] == "no barrel channels in this recording"


def test_headerless_single_column_and_text_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = write(tmp_path / "one.csv", None, squeezes())
    code, text, _ = run(capsys, str(f), "--kind", "grip", "--rate", "320")
    assert code == 0
    assert "trials[0].peak:" in text and "kgf" in text
    assert "needs ≥500 Hz sampling" in text


def test_missing_values_are_gaps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = squeezes()
    path = tmp_path / "gaps.csv"
    rows = [f"{v:.4f}" for v in f]
    rows[100] = ""
    rows[2000] = "nan"
    path.write_text("force,other\n" + "".join(f"{r},1\n" for r in rows))
    code, data, _ = run(capsys, str(path), "--kind", "grip", "--rate", "320", "--json")
    assert code == 0 and data["missing_values"] == 2
    assert data["metrics"]["quality"]["dropped_samples"] == 2


@pytest.mark.parametrize(
    ("content", "args", "expect"),
    [
        (
            "time,force\n0,1\n0.1,abc\n",
            (),
            "bad.csv, line 3: column 'force': 'abc' is not a number",
        ),
        (
            "time,force\n0,1\n0.1\n",
            (),
            "bad.csv, line 3: row has 1 field(s), no value for column 'force'",
        ),
        ("time,force\n", (), "bad.csv: no samples: column 'force' has no data rows"),
        ("", (), "bad.csv: the file is empty"),
        (
            "time,force\n0,1\n",
            ("--column", "grip"),
            "bad.csv, line 1: no column 'grip' in the header; columns: 'time', 'force'",
        ),
        ("a,b\n0,1\n", (), "bad.csv, line 1: 2 columns ('a', 'b'); choose one with --column"),
        ("force\n\nnan\n", (), "bad.csv: no samples: every value of column 'force' is empty"),
        ("force\n1\ninf\n", (), "bad.csv, line 3: column 'force': 'inf' is not finite"),
    ],
)
def test_bad_files_say_what_is_wrong(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str,
    args: tuple[str, ...],
    expect: str,
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    code, _, err = run(capsys, str(path), "--kind", "grip", "--rate", "320", *args)
    assert code == 1
    assert expect in err
    assert err.startswith("finemotor analyze: ")


def test_missing_file_and_bad_rate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, str(tmp_path / "nope.csv"), "--kind", "grip", "--rate", "320")
    assert code == 1 and "nope.csv: cannot read the file" in err
    with pytest.raises(SystemExit) as exc:
        main(["analyze", "x.csv", "--kind", "grip", "--rate", "-5"])
    assert exc.value.code == 2
    assert "positive" in capsys.readouterr().err


def test_entry_point_exit_status(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("force\n1\nx\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from finemotor.cli import main; sys.exit(main())",
            "analyze",
            str(path),
            "--kind",
            "pen",
            "--rate",
            "200",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert "line 3" in proc.stderr and "'x' is not a number" in proc.stderr
