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


def timestamped(path: Path, t_ms: np.ndarray, f: np.ndarray) -> Path:
    path.write_text(
        "t_ms;force\n" + "".join(f"{a:.3f};{b:.4f}\n" for a, b in zip(t_ms, f, strict=True))
    )
    return path


def test_timestamps_with_gaps_and_a_backwards_jump(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a 500 Hz logger with ±0.2 ms jitter: 12 s with two squeezes, a 1.5 s pause, 8 s with one
    # squeeze whose clock then jumps back 3 s for 6 s with one more squeeze
    rng = np.random.default_rng(5)
    fs = 500.0
    parts = [(0.0, 12.0, (2.0, 7.0)), (13.5, 8.0, (16.0,)), (18.5, 6.0, (20.0,))]
    ts, fs_ = [], []
    for start, seconds, squeezes_at in parts:
        t = start + np.arange(round(seconds * fs)) / fs
        f = np.full_like(t, 1.0)
        for s0 in squeezes_at:
            x = np.clip((t - s0) / 0.4, 0, 1) * np.clip((s0 + 2.4 - t) / 0.3, 0, 1)
            f += 150.0 * (0.5 - 0.5 * np.cos(np.pi * x))
        ts.append(t + rng.uniform(-2e-4, 2e-4, t.shape[0]))
        fs_.append(f)
    t_all = np.concatenate(ts) * 1000.0
    path = timestamped(tmp_path / "logger.csv", t_all, np.concatenate(fs_))
    code, data, _ = run(
        capsys, str(path), "--kind", "grip", "--time-column", "t_ms", "--task", "max", "--json"
    )
    assert code == 0
    assert data["time_unit"] == {"unit": "ms", "from": "column name"}
    assert data["rate_hz"] == pytest.approx(fs, rel=1e-3)
    assert data["rate_source"] == "inferred (median step)"
    segs = data["segments"]
    # each segment resampled onto a uniform 500 Hz clock (its jitter is 20% of a step)
    assert [s["samples"] for s in segs] == pytest.approx([6000, 4000, 3000], abs=1)
    assert all(s["resampled"] for s in segs)
    assert segs[0]["ends"].startswith("gap of 1.5")
    assert segs[1]["ends"].startswith("time goes back 2.99")  # 3 s less one step
    assert segs[2]["ends"] == "end of file"
    assert [len(s["metrics"]["trials"]) for s in segs] == [2, 1, 1]
    assert segs[2]["shift_s"] > 2.99 and segs[0]["shift_s"] == 0.0
    overall = data["metrics"]
    assert len(overall["trials"]) == 4
    for tr in overall["trials"]:
        assert tr["peak"]["value"] == pytest.approx(151.0, rel=0.01)
        assert tr["baseline"]["value"] == pytest.approx(1.0, abs=0.05)
    assert overall["hands"]["unspecified"]["mean_of_3"]["value"] == pytest.approx(151, rel=0.01)
    assert "none bridged" in data["overall_rule"]


def test_a_squeeze_across_a_gap_is_not_bridged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fs = 320.0
    t = np.arange(round(6 * fs)) / fs
    f = 100.0 * (0.5 - 0.5 * np.cos(np.pi * np.clip((t - 2.0) / 0.4, 0, 1)))
    keep = (t < 3.0) | (t > 4.0)  # the logger paused for 1 s in the middle of the hold
    path = timestamped(tmp_path / "pause.csv", 1000 * t[keep], f[keep])
    code, data, _ = run(capsys, str(path), "--kind", "grip", "--time-column", "1", "--json")
    assert code == 0 and len(data["segments"]) == 2
    (first,) = data["metrics"]["trials"]
    assert "truncated_end" in first["flags"]
    assert first["offset_s"]["value"] is None


def test_tremor_share_does_not_depend_on_the_native_rate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the same tracing (2 N with 2.3, 4.4 and 9.7 Hz components, 5 s down, 1 s up) logged at
    # 111 Hz and at 143 Hz with jittered timestamps in seconds
    rng = np.random.default_rng(2)
    shares = []
    for fs in (111.0, 143.0):
        t = np.arange(round(60 * fs)) / fs + rng.uniform(-0.1, 0.1, round(60 * fs)) / fs
        tip = np.where(
            (t % 6.0) < 5.0,
            2.0
            + 0.3 * np.sin(2 * np.pi * 2.3 * t)
            + 0.08 * np.sin(2 * np.pi * 4.4 * t + 1)
            + 0.05 * np.sin(2 * np.pi * 9.7 * t),
            0.0,
        )
        path = tmp_path / f"pen{fs:g}.csv"
        path.write_text(
            "time,tip\n" + "".join(f"{a:.6f},{b:.5f}\n" for a, b in zip(t, tip, strict=True))
        )
        code, data, _ = run(capsys, str(path), "--kind", "pen", "--time-column", "time", "--json")
        assert code == 0 and len(data["segments"]) == 1
        assert data["rate_hz"] == pytest.approx(fs, rel=0.01)
        tremor = data["metrics"]["tremor"]
        shares.append((tremor["share_4_12"]["value"], tremor["share_8_12"]["value"]))
        assert tremor["peak_hz_8_12"]["value"] == 9.5
    (a4, a8), (b4, b8) = shares
    # power of the components: 0.08²/2 + 0.05²/2 in 4-12 Hz of a total with 0.3²/2 added
    assert a4 == pytest.approx(b4, rel=0.02) and a8 == pytest.approx(b8, rel=0.02)
    assert a4 == pytest.approx((0.08**2 + 0.05**2) / (0.3**2 + 0.08**2 + 0.05**2), rel=0.1)


def test_rapid_task_thresholds_and_raw_labels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fs = 500.0
    t = np.arange(round(0.5 * fs)) / fs
    f = 2.0 + 8.0 * (0.5 - 0.5 * np.cos(2 * np.pi * np.clip((t - 0.1) / 0.3, 0, 1)))
    path = tmp_path / "pinch.csv"
    path.write_text("counts\n" + "".join(f"{1000 * v:.1f}\n" for v in f))
    code, data, _ = run(
        capsys,
        str(path),
        "--kind",
        "grip",
        "--rate",
        "500",
        "--task",
        "rapid",
        "--units",
        "raw",
        "--json",
    )
    assert code == 0
    (tr,) = data["metrics"]["trials"]
    assert tr["peak"]["value"] is None and "uncalibrated" in tr["peak"]["reason"]
    assert tr["time_to_peak_s"]["value"] == pytest.approx(
        0.15 - 0.3 / np.pi * np.arccos(0.95) / 2, abs=2 / fs
    )
    assert (
        data["signal"]["mean"]["unit"] == "raw" and "uncalibrated" in data["signal"]["mean"]["note"]
    )
    code, data, _ = run(
        capsys,
        str(path),
        "--kind",
        "grip",
        "--rate",
        "500",
        "--units",
        "raw",
        "--task",
        "rapid",
        "--trigger-on",
        "5000",
        "--trigger-off",
        "4000",
        "--json",
    )
    assert code == 0
    assert data["metrics"]["trials"][0]["definitions"]["trigger"].startswith("absolute: on at 5000")
    code, _, err = run(capsys, str(path), "--kind", "grip", "--rate", "500", "--task", "copying")
    assert code == 1 and "not a grip task" in err
    code, _, err = run(capsys, str(path), "--kind", "grip")
    assert code == 1 and "give --rate HZ, or --time-column NAME" in err
