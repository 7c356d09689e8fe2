"""``finemotor analyze``: the kit's metrics for a force recording made elsewhere.

Reads one column of a CSV file (another dynamometer's export, a tablet's pressure log),
sampled at a known rate, and prints the grip or pen metrics. In raw units, only the
unit-free metrics (CV, ratios, shares, times) are computed.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from finemotor.errors import InputFileError
from finemotor.metrics import KGF_N, summarize_grip, summarize_pen, to_jsonable
from finemotor.metrics.config import ForceUnit

F64 = npt.NDArray[np.float64]

DEFAULT_COLUMNS = {
    "grip": ("force", "force_n", "grip", "grip_n", "force_kgf", "kgf"),
    "pen": ("tip", "tip_n", "pressure", "force", "force_n"),
}
MISSING = {"", "nan", "NaN", "NAN", "na", "NA"}


@dataclass(frozen=True)
class Column:
    """One column read from a CSV file.

    Attributes:
        name: its header (or 1-based position, for a file without a header).
        values: one value per data row; NaN where the cell was empty or ``nan``.
        missing: how many cells were empty or ``nan``.
    """

    name: str
    values: F64
    missing: int


def register(sub: Any) -> None:
    """Add the ``analyze`` sub-command."""
    p: argparse.ArgumentParser = sub.add_parser(
        "analyze",
        help="metrics of a force recording from a CSV file",
        description=(
            "Compute the grip or pen metrics of one column of a CSV file. Rows are samples "
            "at --rate; empty or 'nan' cells are gaps. Exits non-zero, naming the line and "
            "column, if the file cannot be read as asked."
        ),
    )
    p.add_argument("file", metavar="FILE.csv", help="the recording")
    p.add_argument("--kind", required=True, choices=("grip", "pen"), help="what was recorded")
    p.add_argument("--rate", required=True, type=_rate, metavar="HZ", help="sampling rate")
    p.add_argument("--column", metavar="NAME", help="column header (or 1-based number)")
    p.add_argument(
        "--units",
        choices=("N", "kgf", "raw"),
        default="N",
        help="unit of the column (raw: uncalibrated readings; unit-free metrics only)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _rate(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of hertz, got {text!r}")
    return v


def _dialect(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def read_column(path: str, kind: str, column: str | None) -> Column:
    """Read one column of numbers from a CSV file.

    Raises:
        InputFileError: naming the file, line and column of the first problem.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            text = fh.read()
    except OSError as exc:
        raise InputFileError(path, f"cannot read the file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputFileError(path, "not a text (UTF-8) CSV file") from None
    lines = text.splitlines()
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is None:
        raise InputFileError(path, "the file is empty: no header and no samples")
    rows = list(csv.reader(lines, delimiter=_dialect(lines[first])))
    header_cells = [c.strip() for c in rows[first]]
    has_header = not all(_is_number(c) or c in MISSING for c in header_cells)
    names = header_cells if has_header else [str(i + 1) for i in range(len(header_cells))]
    idx = _pick_column(path, names, kind, column, first + 1, has_header)
    name = names[idx]
    start = first + 1 if has_header else first
    cells: list[str] = []
    line_nos: list[int] = []
    for i in range(start, len(rows)):
        row = rows[i]
        if not row or all(not c.strip() for c in row):
            continue  # blank line
        if idx >= len(row):
            raise InputFileError(
                path, f"row has {len(row)} field(s), no value for column {name!r}", i + 1
            )
        cells.append(row[idx].strip())
        line_nos.append(i + 1)
    if not cells:
        raise InputFileError(path, f"no samples: column {name!r} has no data rows")
    missing_mask = np.array([c in MISSING for c in cells], dtype=np.bool_)
    filled = ["nan" if m else c for c, m in zip(cells, missing_mask, strict=True)]
    try:
        values = np.array(filled, dtype=np.float64)
    except ValueError:
        for c, ln in zip(filled, line_nos, strict=True):
            if not _is_number(c):
                raise InputFileError(path, f"column {name!r}: {c!r} is not a number", ln) from None
        raise  # pragma: no cover - numpy and float() disagree
    bad = ~np.isfinite(values) & ~missing_mask
    if np.any(bad):
        k = int(np.flatnonzero(bad)[0])
        raise InputFileError(path, f"column {name!r}: {cells[k]!r} is not finite", line_nos[k])
    n_missing = int(np.count_nonzero(missing_mask))
    if n_missing == values.shape[0]:
        raise InputFileError(path, f"no samples: every value of column {name!r} is empty")
    return Column(name, values, n_missing)


def _pick_column(
    path: str, names: list[str], kind: str, column: str | None, line: int, has_header: bool
) -> int:
    listed = ", ".join(repr(n) for n in names)
    if column is not None:
        for i, n in enumerate(names):
            if n == column:
                return i
        lowered = [n.lower() for n in names]
        if column.lower() in lowered:
            return lowered.index(column.lower())
        if column.isdigit() and 1 <= int(column) <= len(names):
            return int(column) - 1
        where = "header" if has_header else "first row (no header: use a column number)"
        raise InputFileError(path, f"no column {column!r} in the {where}; columns: {listed}", line)
    if len(names) == 1:
        return 0
    lowered = [n.lower() for n in names]
    for cand in DEFAULT_COLUMNS[kind]:
        if cand in lowered:
            return lowered.index(cand)
    raise InputFileError(path, f"{len(names)} columns ({listed}); choose one with --column", line)


def analyze(path: str, kind: str, rate_hz: float, column: str | None, units: str) -> dict[str, Any]:
    """Return the JSON-ready result of ``finemotor analyze``."""
    col = read_column(path, kind, column)
    x = col.values
    unit: ForceUnit = "raw" if units == "raw" else "N"
    if units == "kgf":
        x = x * KGF_N
    t = np.arange(x.shape[0], dtype=np.float64) / rate_hz
    summary: Any
    if kind == "grip":
        summary = summarize_grip(t, x, rate_hz=rate_hz, unit=unit)
    else:
        summary = summarize_pen(t, x, rate_hz=rate_hz, unit=unit)
    return {
        "file": os.path.basename(path),
        "kind": kind,
        "column": col.name,
        "input_units": units,
        "units": unit,
        "rate_hz": rate_hz,
        "rows": int(x.shape[0]),
        "missing_values": col.missing,
        "metrics": to_jsonable(summary),
    }


def _lines(prefix: str, obj: Any, out: list[str]) -> None:
    if isinstance(obj, dict) and "unit" in obj and "value" in obj:
        if obj["value"] is None:
            out.append(f"{prefix}: - ({obj.get('reason', 'absent')})")
        else:
            v = obj["value"]
            text = f"{v:.4g}" if isinstance(v, float) else str(v)
            disp = obj.get("display")
            extra = f" ({disp['value']:.4g} {disp['unit']})" if disp else ""
            note = f"  [{obj['note']}]" if obj.get("note") else ""
            out.append(f"{prefix}: {text} {obj['unit']}{extra}{note}")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _lines(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _lines(f"{prefix}[{i}]", v, out)
    elif obj is not None:
        out.append(f"{prefix}: {obj}")


def run(args: argparse.Namespace) -> int:
    """Analyse the file and print the metrics."""
    result = analyze(args.file, args.kind, args.rate, args.column, args.units)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        out: list[str] = []
        _lines("", result, out)
        print("\n".join(out))
    return 0
