"""``finemotor calibrate fit``: a CSV in, coefficients and residuals out; bad files refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from finemotor.cli import main
from finemotor.units import KGF_N as KG_N


def _csv(tmp_path: Path, text: str) -> str:
    p = tmp_path / "points.csv"
    p.write_text(text, encoding="utf-8")
    return str(p)


def test_fit_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _csv(tmp_path, "reference_n,reading\n0,100\n10,1100\n21,2100\n")
    assert main(["calibrate", "fit", path, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "linear" and out["device_model"] == "linear"
    assert out["zero"] == 100.0
    assert out["coeffs"] == pytest.approx([0.0104])
    assert [p["residual_n"] for p in out["points"]] == pytest.approx([0.0, 0.4, -0.2])


def test_fit_kg_and_poly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = "".join(f"{kg},{1000 * kg + 5 * kg * kg}\n" for kg in (1, 2, 3, 4, 5))
    path = _csv(tmp_path, "load,counts\n" + rows)
    assert main(["calibrate", "fit", path, "--model", "poly2", "--reference-unit", "kg"]) == 0
    assert "poly2 fit of 5 points" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty"),
        ("a,b\n1,2\n", "lacks a reference column"),
        ("reference,reading\n1,x\n", "line 2"),
        ("reference,reading\n", "no points"),
        ("reference,reading\n1,100\n2,100\n3,100\n", "do not change with the force"),
        ("weight,reading\n1,100\n2,200\n", "has no unit: name it weight_g or weight_kg"),
        ("reference,reading\n1,100\n", "needs at least 2"),
    ],
)
def test_fit_bad_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, match: str
) -> None:
    assert main(["calibrate", "fit", _csv(tmp_path, text)]) == 1
    assert match in capsys.readouterr().err


def test_fit_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "fit", str(tmp_path / "nope.csv")]) == 1
    assert "cannot read" in capsys.readouterr().err


def pen_profile() -> tuple[np.ndarray, np.ndarray]:
    """A weighed pen as people keep it: 30 points, 10 weights of 0-530 g each put on three
    times (the last four 10 g apart), a saturating sensor, noise and hysteresis: adjacent
    weights read out of order."""
    rng = np.random.default_rng(1)
    grams = np.repeat(np.array([0, 50, 100, 200, 300, 400, 500, 510, 520, 530.0]), 3)
    newtons = grams * KG_N / 1000
    ideal = 4095 * newtons / (newtons + 5.0)
    reading = ideal + rng.normal(0, 40, grams.shape[0]) + np.tile([-30.0, 0.0, 30.0], 10)
    reading[grams == 0] = rng.normal(0, 3, 3)
    return grams, reading


def test_fit_noisy_grams_poly3_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    grams, reading = pen_profile()
    text = "reference_g,reading\n" + "".join(
        f"{g:g},{r:.1f}\n" for g, r in zip(grams, reading, strict=True)
    )
    path = _csv(tmp_path, text)
    assert main(["calibrate", "fit", path, "--model", "poly3", "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["reference_unit"] == "g"
    assert [p["reference_n"] for p in out["points"]] == pytest.approx(grams * KG_N / 1000)
    means = [np.mean(reading[grams == g]) for g in np.unique(grams)]
    assert np.any(np.diff(means) <= 0)  # the input really is non-monotone
    assert any("do not rise steadily" in w for w in out["warnings"])
    assert "warning: the readings do not rise steadily" in captured.err
    # the printed coefficients reproduce the printed fitted values, in the documented order
    c = out["coefficients"]["reading_to_force"]["coeffs"]
    assert c == out["coeffs"] and len(c) == 3
    for p in out["points"]:
        x = p["reading"] - out["zero"]
        assert c[0] * x + c[1] * x**2 + c[2] * x**3 == pytest.approx(p["fitted_n"], abs=1e-9)
        assert p["residual_n"] == pytest.approx(p["fitted_n"] - p["reference_n"], abs=1e-12)
    # least squares: no other cubic through the origin has a smaller sum of squares
    loaded = grams > 0  # the 0 g points give the zero
    x = np.array([p["reading"] for p in out["points"]])[loaded] - out["zero"]
    design = np.stack([x, x**2, x**3], axis=1)
    best, *_ = np.linalg.lstsq(design, grams[loaded] * KG_N / 1000, rcond=None)
    assert c == pytest.approx(best, rel=1e-6)
    res = np.array([p["residual_n"] for p in out["points"]])
    assert out["rms_residual_n"] == pytest.approx(float(np.sqrt(np.mean(res**2))))
    worst = out["worst_point"]
    assert abs(worst["residual_n"]) == pytest.approx(float(np.max(np.abs(res))))
    inv = out["coefficients"]["force_to_reading"]["coeffs"]
    assert len(inv) == 3


def test_fit_columns_units_and_monotone_pooling(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "when,mass_kg,adc_reading\n1,0,10\n2,1,1010\n3,2,2030\n4,3,1990\n5,4,4010\n"
    path = _csv(tmp_path, text)
    args = ["calibrate", "fit", path, "--reference-column", "mass_kg"]
    args += ["--reading-column", "adc_reading", "--model", "monotone", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["reference_unit"] == "kg" and out["zero"] == 10.0
    # 2 kg and 3 kg read out of order: pooled into one step at their mean reading and force
    table = out["coeffs"]
    assert table == pytest.approx([0.0, 0.0, 1000.0, KG_N, 2000.0, 2.5 * KG_N, 4000.0, 4 * KG_N])
    assert any("pooled" in w for w in out["warnings"])
    assert (
        main(
            [
                "calibrate",
                "fit",
                path,
                "--reference-column",
                "mass_kg",
                "--reading-column",
                "adc_reading",
                "--reference-unit",
                "g",
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["points"][1]["reference_n"] == pytest.approx(
        KG_N / 1000
    )
