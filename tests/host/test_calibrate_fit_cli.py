"""``finemotor calibrate fit``: a CSV in, coefficients and residuals out; bad files refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finemotor.cli import main


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
        ("reference,reading\n1,100\n2,50\n3,200\n", "do not rise"),
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
