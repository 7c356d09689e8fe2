"""``finemotor calibrate``: calibrate a kit with weights, fit points, check in the field.

* ``calibrate grip|stylus [--device URL] [--auto] [--force] [--json] [--out DIR]``: the guided
  ISO 7500-1 procedure (docs/calibration.md).
* ``calibrate fit POINTS.csv --model linear|poly2|poly3|monotone [--json]``: a fit from
  reference/reading pairs recorded by other means.
* ``calibrate check grip|stylus --weight W [--device URL]``: one known weight, % error, and
  whether recalibration is due.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finemotor.calibration.names import DEVICES, FIT_MODELS, FitModel
from finemotor.cli import command_help
from finemotor.errors import CalibrationError, InputFileError
from finemotor.units import KGF_N

if TYPE_CHECKING:
    import numpy as np

    from finemotor.calibration.fit import Fit

REFERENCE_COLUMNS = ("reference", "force", "load", "weight", "mass")
REFERENCE_STEMS = (*REFERENCE_COLUMNS, "ref", "known", "applied")
READING_COLUMNS = ("reading", "counts", "raw", "indication")
READING_STEMS = (*READING_COLUMNS, "adc", "value", "output", "sensor")


def register(sub: Any) -> None:
    """Add the ``calibrate`` sub-command and its own sub-commands."""
    p: argparse.ArgumentParser = sub.add_parser(
        "calibrate",
        help=command_help("calibrate"),
        description="Calibration after ISO 7500-1 (see docs/calibration.md).",
    )
    what = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    f = what.add_parser(
        "fit",
        help="fit reference/reading pairs from a CSV file",
        description=(
            "Fit a calibration to a CSV file with a header: a reference column "
            f"({', '.join(REFERENCE_COLUMNS)}, its unit as a suffix: force_n, mass_kg, "
            f"reference_g) and a reading column ({', '.join(READING_COLUMNS)}). Rows at 0 "
            "give the zero; repeated weights are fine. Noisy, non-monotone points get the "
            "least-squares fit and a warning. Coefficients: docs/calibration.md."
        ),
    )
    f.add_argument("points", metavar="POINTS.csv")
    f.add_argument("--model", choices=FIT_MODELS, default="linear")
    f.add_argument(
        "--reference-unit",
        choices=("N", "kg", "g"),
        default=None,
        help="unit of the reference column (default: from its name, e.g. mass_kg, else N)",
    )
    f.add_argument("--reference-column", metavar="NAME", help="the reference column's header")
    f.add_argument("--reading-column", metavar="NAME", help="the reading column's header")
    f.add_argument("--zero", type=float, default=None, help="reading at zero force")
    f.add_argument("--json", action="store_true", help="print JSON")
    f.set_defaults(func=_run_fit)
    for kind in DEVICES:
        g = what.add_parser(
            kind,
            help=f"calibrate the {kind} with weights (ISO 7500-1)",
            description=(
                f"Guided calibration of the {kind} after calibration/{kind}.toml: prompts for "
                "each weight, stable readings, fit, ISO 7500-1 verification; writes the kit "
                "only if the required class is reached (or --force), then reads it back. "
                "Saves a JSON record and a PDF/PNG certificate."
            ),
        )
        _device_args(g, kind)
        g.add_argument("--force", action="store_true", help="write even if the class is missed")
        g.add_argument("--out", default=".", help="folder for the record and the certificate")
        g.set_defaults(func=_run_calibrate, kind=kind)
    c = what.add_parser(
        "check",
        help="field check with one known weight",
        description="Read one known weight: the % error, and whether recalibration is due.",
    )
    c.add_argument("kind", choices=DEVICES)
    c.add_argument("--weight", required=True, help="the weight with its unit, e.g. '5 kg', '2 N'")
    _device_args(c, None)
    c.set_defaults(func=_run_check)


def _device_args(p: argparse.ArgumentParser, kind: str | None) -> None:
    p.add_argument(
        "--device",
        default=None if kind is None else f"sim://{kind}",
        help="the kit: ble://KIT_ID, serial://PORT or sim://KIND[?seed=N]",
    )
    p.add_argument("--procedure", default=None, help="a procedure file (default: calibration/)")
    p.add_argument("--auto", action="store_true", help="the simulated rig places the weights")
    p.add_argument("--json", action="store_true", help="print JSON")


UNIT_N = {"N": 1.0, "kg": KGF_N, "g": KGF_N / 1000.0}
_SUFFIXES = (
    ("N", ("_n", "(n)", "[n]", " n", "newton", "newtons")),
    ("kg", ("_kg", "(kg)", "[kg]", " kg", "kilograms")),
    ("g", ("_g", "(g)", "[g]", " g", "grams", "gram")),
)


def _unit_of(name: str) -> str | None:
    low = name.strip().lower()
    for unit, ends in _SUFFIXES:
        if low in (unit.lower(),) or low.endswith(ends):
            return unit
    return None


def _stem(name: str) -> str:
    low = name.strip().lower()
    for _unit, ends in _SUFFIXES:
        for e in ends:
            if low.endswith(e) and len(low) > len(e):
                return low[: -len(e)].rstrip(" _")
    return low


def _find(header: list[str], wanted: str | None, stems: tuple[str, ...]) -> int | None:
    if wanted is not None:
        low = [h.strip().lower() for h in header]
        if wanted.strip().lower() in low:
            return low.index(wanted.strip().lower())
        return None
    for stem in stems:
        for i, h in enumerate(header):
            if _stem(h) == stem:
                return i
    return None


def read_points(
    path: str,
    unit: str | None = None,
    reference_column: str | None = None,
    reading_column: str | None = None,
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], str]:
    """Reference forces (N), readings, and the reference's unit, from a CSV file.

    The reference column is named ``reference``, ``force``, ``load``, ``weight``, ``mass``...
    with its unit as a suffix (``force_n``, ``mass_kg``, ``reference_g``, ``load (kg)``), or
    chosen with ``reference_column``; ``unit`` (N, kg, g) overrides the name's unit. Plain
    ``reference``/``force``/``load`` are newtons; ``weight``/``mass`` need a unit.

    Raises:
        InputFileError: the file is missing, has no usable header, a reference column has
            no unit, or a cell is not a number.
    """
    import numpy as np

    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        raise InputFileError(path, f"cannot read it ({exc.strerror})") from exc
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise InputFileError(path, "the file is empty: give a header and one row per point")
    header = [h.strip() for h in rows[0]]
    ref = _find(header, reference_column, REFERENCE_STEMS)
    rd = _find(header, reading_column, READING_STEMS)
    if ref is None or rd is None:
        raise InputFileError(
            path,
            f"header {rows[0]} lacks a reference column ({', '.join(REFERENCE_COLUMNS)}, with a "
            f"unit suffix _n, _kg or _g) or a reading column ({', '.join(READING_COLUMNS)}): "
            "add a header line naming them, or give --reference-column and --reading-column",
            1,
        )
    ref_unit = unit or _unit_of(header[ref])
    if ref_unit is None:
        if _stem(header[ref]) in ("weight", "mass", "ref_weight", "known"):
            raise InputFileError(
                path,
                f"column {header[ref]!r} has no unit: name it {header[ref]}_g or "
                f"{header[ref]}_kg, or give --reference-unit N|kg|g",
                1,
            )
        ref_unit = "N"
    refs: list[float] = []
    reads: list[float] = []
    for line, row in enumerate(rows[1:], start=2):
        try:
            a, b = float(row[ref]), float(row[rd])
        except (IndexError, ValueError):
            raise InputFileError(
                path, f"{row!r}: the reference and the reading must both be numbers", line
            ) from None
        if not (math.isfinite(a) and math.isfinite(b)):
            raise InputFileError(path, f"{row!r}: a value is not finite", line)
        refs.append(a * UNIT_N[ref_unit])
        reads.append(b)
    if not refs:
        raise InputFileError(path, "no points after the header: add one row per point")
    return np.asarray(refs), np.asarray(reads), ref_unit


def fit_report(fit: Fit, reference_unit: str = "N") -> dict[str, Any]:
    """A fit as JSON-ready data (coefficient order and direction: docs/calibration.md)."""
    ch = fit.channel()
    w = fit.worst
    return {
        "model": fit.model,
        "device_model": ch.model,
        "zero": fit.zero,
        "coeffs": list(fit.coeffs),
        "coefficients": {
            "reading_to_force": {
                "formula": _formula(fit.model, "N", "x"),
                "x": "reading - zero",
                "coeffs": list(fit.coeffs),
            },
            "force_to_reading": {
                "formula": _formula(fit.model, "x", "N"),
                "coeffs": list(fit.inverse),
                "note": "fitted by least squares to the same points, not inverted",
            },
        },
        "reference_unit": reference_unit,
        "rms_residual_n": fit.rms_n,
        "max_residual_pct": fit.max_relative_pct,
        "worst_point": {
            "index": w,
            "reference_n": float(fit.reference_n[w]),
            "reading": float(fit.reading[w]),
            "residual_n": float(fit.residuals_n[w]),
        },
        "warnings": list(fit.warnings),
        "points": [
            {
                "reference_n": float(f),
                "reading": float(r),
                "fitted_n": float(f + e),
                "residual_n": float(e),
            }
            for f, r, e in zip(fit.reference_n, fit.reading, fit.residuals_n, strict=True)
        ],
    }


def _formula(model: str, y: str, x: str) -> str:
    if model == "monotone":
        return f"{y} interpolated linearly in the table (x0, N0, x1, N1, ...)"
    terms = {"linear": 1, "poly2": 2, "poly3": 3}[model]
    return f"{y} = " + " + ".join(
        f"c{k - 1}·{x}" + (f"^{k}" if k > 1 else "") for k in range(1, terms + 1)
    )


def _show(args: argparse.Namespace) -> Callable[[str], None]:
    def show(text: str) -> None:
        if not args.json:
            print(text, file=sys.stderr)

    return show


class ConsoleOperator:
    """The person at the keyboard who places the weights (the calibration's ``Operator``)."""

    async def ask(self, prompt: str, load_n: float | None) -> str:
        try:
            return await asyncio.to_thread(input, prompt + " ")
        except EOFError:
            from finemotor.calibration.session import UNCHANGED

            raise CalibrationError(f"stopped at the prompt; {UNCHANGED}") from None

    def show(self, text: str) -> None:
        print(text, file=sys.stderr)


def _run_calibrate(args: argparse.Namespace) -> int:
    from finemotor.calibration.guided import calibrate_kit
    from finemotor.calibration.procedure import load_procedure

    proc = load_procedure(args.procedure or args.kind)
    if proc.device != args.kind:
        raise CalibrationError(f"{args.procedure} is a procedure for the {proc.device}")
    rec = asyncio.run(
        calibrate_kit(
            args.device,
            proc,
            args.auto,
            args.force,
            Path(args.out),
            _show(args),
            progress=args.auto and not args.json,
            person=ConsoleOperator(),
        )
    )
    if args.json:
        print(json.dumps(rec, indent=2))
    else:
        v, fit = rec.get("verification", {}), rec.get("fit", {})
        print(f"{proc.device} {rec['serial']}: class {v.get('class') or 'none'} reached")
        print(
            f"q {v.get('q_max_pct', 0):.3f} %  b {v.get('b_max_pct', 0):.3f} %  "
            f"v {v.get('v_max_pct', 0):.3f} %  f0 {v.get('f0_pct', 0):+.4f} %  "
            f"a {v.get('a_max_pct', 0):.4f} %"
        )
        print(
            f"fit {fit.get('model')}: zero {fit.get('zero')}, coefficients "
            + ", ".join(f"{c:.6g}" for c in fit.get("coeffs", []))
        )
        print("written to the kit" if rec["written"] else "NOT written: the kit is unchanged")
        for f in rec["files"]:
            print(f"  {f}")
    return 0 if rec["written"] else 3


def _run_check(args: argparse.Namespace) -> int:
    from finemotor.calibration.guided import check_kit
    from finemotor.calibration.procedure import load_procedure

    if args.device is None:
        args.device = f"sim://{args.kind}"
    proc = load_procedure(args.procedure or args.kind)
    res = asyncio.run(
        check_kit(args.device, proc, args.weight, args.auto, _show(args), ConsoleOperator())
    )
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print(
            f"{res['weight']:g} {res['unit']} ({res['reference_n']:.3f} N) reads "
            f"{res['indicated_n']:.3f} N: error {res['error_pct']:+.2f} %"
        )
        print(
            "recalibration is due"
            if res["recalibration_due"]
            else f"within {res['limit_pct']:g} %: no recalibration needed"
        )
    return 0


def _run_fit(args: argparse.Namespace) -> int:
    from finemotor.calibration.fit import fit_points

    refs, reads, unit = read_points(
        args.points, args.reference_unit, args.reference_column, args.reading_column
    )
    model: FitModel = args.model
    try:
        fit = fit_points(refs, reads, model, zero=args.zero, lenient=True)
    except CalibrationError as exc:
        raise CalibrationError(f"{args.points}: {exc}") from exc
    report = fit_report(fit, unit)
    for w in fit.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{fit.model} fit of {len(refs)} points (reference in {unit}), zero {fit.zero:.6g}")
    print("reading to force, " + _formula(fit.model, "N", "x") + ", x = reading - zero:")
    print("  " + ", ".join(f"c{k}={c:.9g}" for k, c in enumerate(fit.coeffs)))
    print("force to reading (least squares), " + _formula(fit.model, "x", "N") + ":")
    print("  " + ", ".join(f"c{k}={c:.9g}" for k, c in enumerate(fit.inverse)))
    print(f"{'reference N':>12} {'reading':>12} {'fitted N':>12} {'residual N':>12}")
    for p in report["points"]:
        print(
            f"{p['reference_n']:12.4f} {p['reading']:12.6g} {p['fitted_n']:12.4f} "
            f"{p['residual_n']:12.4f}"
        )
    wp = report["worst_point"]
    print(
        f"rms residual {fit.rms_n:.4g} N, largest {fit.max_relative_pct:.3g} % of its force; "
        f"worst point {wp['reference_n']:.4g} N: residual {wp['residual_n']:+.4g} N"
    )
    return 0
