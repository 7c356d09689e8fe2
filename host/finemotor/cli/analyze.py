"""``finemotor analyze``: the kit's metrics for a force recording made elsewhere.

Reads one column of a CSV file (another dynamometer's export, a tablet's pressure log),
placed by a time column or sampled at a known rate, and prints the grip or pen metrics, per
segment and overall when timestamps pause or jump back. In raw units, only the unit-free
metrics (CV, ratios, shares, times) are computed.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, get_args

from finemotor.cli import command_help
from finemotor.errors import FinemotorError, InputFileError
from finemotor.metrics.config import GAP_STEPS, ForceUnit, GripContext, GripTask, PenConfig, PenTask

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from finemotor.metrics.summary import Trigger

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
        help=command_help("analyze"),
        description=(
            "Compute the grip or pen metrics of one column of a CSV file. With --time-column, "
            "samples are placed by their timestamps (rate inferred unless --rate is given) and "
            "the file is split into segments where the time jumps back or pauses; without it, "
            "rows are samples at --rate. Empty or 'nan' cells are gaps. Exits non-zero, "
            "naming the line and column, if the file cannot be read as asked."
        ),
    )
    p.add_argument("file", metavar="FILE.csv", help="the recording")
    p.add_argument("--kind", required=True, choices=("grip", "pen"), help="what was recorded")
    p.add_argument(
        "--rate",
        type=_rate,
        metavar="HZ",
        help="sampling rate (inferred from the time column if absent)",
    )
    p.add_argument("--column", metavar="NAME", help="value column header (or 1-based number)")
    p.add_argument("--time-column", metavar="NAME", help="time column header (or number)")
    p.add_argument(
        "--time-unit",
        choices=("s", "ms"),
        help="unit of the time column (default: from its name, else from its steps)",
    )
    p.add_argument(
        "--max-gap",
        type=_rate,
        metavar="S",
        help=f"a longer pause between timestamps starts a new segment (default {GAP_STEPS:g} "
        "sample periods)",
    )
    p.add_argument(
        "--units",
        choices=("N", "kgf", "raw"),
        default="N",
        help="unit of the column (raw: uncalibrated readings; unit-free metrics only)",
    )
    p.add_argument(
        "--task",
        help=f"grip: {', '.join(GRIP_TASKS)}; pen: {', '.join(PEN_TASKS)} (default auto/unknown)",
    )
    p.add_argument(
        "--trigger-on",
        type=_level,
        metavar="LEVEL",
        help="grip: trial trigger level in the column's unit, or N%% of the recording's range "
        "above its resting level (default: by task, docs/metrics.md)",
    )
    p.add_argument("--trigger-off", type=_level, metavar="LEVEL", help="grip: release level")
    p.add_argument("--target", type=float, metavar="F", help="grip: steadiness target force")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _level(text: str) -> tuple[float, bool]:
    rel = text.strip().endswith("%")
    try:
        v = float(text.strip().removesuffix("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a level: {text!r} (a number or N%)") from None
    if not math.isfinite(v) or (rel and not 0 < v < 100):
        raise argparse.ArgumentTypeError(f"not a usable level: {text!r}")
    return (v / 100.0 if rel else v), rel


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
    """Read one column of numbers from a CSV file (see :func:`read_columns`)."""
    return read_columns(path, kind, column, None)[0]


def read_columns(
    path: str, kind: str, column: str | None, time_column: str | None
) -> tuple[Column, Column | None]:
    """Read the value column and, if asked, the time column of a CSV file.

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
    start = first + 1 if has_header else first
    data = [
        (i + 1, row)
        for i, row in enumerate(rows[start:], start=start)
        if row and any(c.strip() for c in row)
    ]
    value = _values(path, names[idx], idx, data)
    if value.missing == value.values.shape[0]:
        raise InputFileError(path, f"no samples: every value of column {names[idx]!r} is empty")
    time = None
    if time_column is not None:
        tdx = _pick_column(path, names, kind, time_column, first + 1, has_header)
        if tdx == idx:
            raise InputFileError(
                path, f"--time-column and the value column are both {names[idx]!r}", first + 1
            )
        time = _values(path, names[tdx], tdx, data)
    return value, time


def _values(path: str, name: str, idx: int, data: list[tuple[int, list[str]]]) -> Column:
    import numpy as np

    cells: list[str] = []
    line_nos: list[int] = []
    for line, row in data:
        if idx >= len(row):
            raise InputFileError(
                path, f"row has {len(row)} field(s), no value for column {name!r}", line
            )
        cells.append(row[idx].strip())
        line_nos.append(line)
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
    return Column(name, values, int(np.count_nonzero(missing_mask)))


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


@dataclass(frozen=True)
class Options:
    """What ``finemotor analyze`` was asked (see :func:`register`)."""

    kind: str
    rate_hz: float | None = None
    column: str | None = None
    time_column: str | None = None
    time_unit: str | None = None
    max_gap_s: float | None = None
    units: str = "N"
    task: str | None = None
    trigger_on: tuple[float, bool] | None = None
    trigger_off: tuple[float, bool] | None = None
    target: float | None = None


def analyze(path: str, opts: Options) -> dict[str, Any]:
    """Return the JSON-ready result of ``finemotor analyze``.

    Raises:
        InputFileError: the file cannot be read as asked.
        FinemotorError: the options do not fit together (a task of the other kind...).
    """
    import numpy as np

    from finemotor.metrics import KGF_N, to_jsonable
    from finemotor.metrics.timeline import infer_rate, split, time_unit

    kind = opts.kind
    col, tcol = read_columns(path, kind, opts.column, opts.time_column)
    x = col.values
    unit: ForceUnit = "raw" if opts.units == "raw" else "N"
    scale = KGF_N if opts.units == "kgf" else 1.0
    x = x * scale
    task = _task(kind, opts.task)
    out: dict[str, Any] = {
        "file": os.path.basename(path),
        "kind": kind,
        "column": col.name,
        "input_units": opts.units,
        "units": unit,
    }
    if tcol is None:
        if opts.rate_hz is None:
            raise InputFileError(path, "give --rate HZ, or --time-column NAME to use timestamps")
        rate = opts.rate_hz
        t = np.arange(x.shape[0], dtype=np.float64) / rate
        out["rate_hz"] = rate
        out["rate_source"] = "given (one row per sample)"
    else:
        tu, why = time_unit(tcol.name, tcol.values, opts.time_unit)
        t = tcol.values * (1e-3 if tu == "ms" else 1.0)
        inferred = infer_rate(t)
        if opts.rate_hz is None and inferred is None:
            raise InputFileError(path, f"column {tcol.name!r}: no two increasing timestamps")
        rate = opts.rate_hz if opts.rate_hz is not None else float(inferred or 0.0)
        out["time_column"] = tcol.name
        out["time_unit"] = {"unit": tu, "from": why}
        out["rate_hz"] = rate
        out["rate_source"] = "given" if opts.rate_hz is not None else "inferred (median step)"
        out["rate_inferred_hz"] = inferred
    out["rows"] = int(x.shape[0])
    out["missing_values"] = col.missing + (tcol.missing if tcol is not None else 0)
    out["task"] = task
    out["signal"] = _signal_stats(x, unit)
    if tcol is None:
        out["metrics"] = to_jsonable(_summarize(kind, [(t, x)], rate, unit, task, opts)[0])
        return out
    segs = split(t, x, rate, opts.max_gap_s)
    out["segments"] = [
        {
            "index": g.index,
            "start_s": float(g.t[0]),
            "end_s": float(g.t[-1]),
            "duration_s": g.duration_s,
            "samples": int(g.t.shape[0]),
            "rows": [g.first_row + 1, g.last_row + 1],
            "ends": g.ends,
            "resampled": g.resampled,
            "largest_jitter_s": g.largest_jitter_s,
        }
        for g in segs
    ]
    overall, per_segment = _summarize(kind, [(g.t, g.x) for g in segs], rate, unit, task, opts)
    out["metrics"] = to_jsonable(overall)
    out["overall_rule"] = (
        "segments in file order, none bridged: a trial open at a break is closed there "
        "(flag truncated_end) and the trigger restarts"
        if kind == "grip"
        else "segments in file order, none bridged: each break is taken as a pen lift (zero "
        "force for just over the shortest lift, counted in quality.samples), so no stroke "
        "spans it; the time of a forward gap counts as in air"
    ) + (
        "; a segment that starts before the previous one ends (the time went back) is moved "
        "to follow it, by its shift_s"
    )
    for entry, (summary, shift) in zip(out["segments"], per_segment, strict=True):
        entry["shift_s"] = shift
        entry["metrics"] = to_jsonable(summary)
    return out


GRIP_TASKS = get_args(GripTask)
PEN_TASKS = get_args(PenTask)


def _task(kind: str, task: str | None) -> str:
    names = GRIP_TASKS if kind == "grip" else PEN_TASKS
    if task is None:
        return "auto" if kind == "grip" else "unknown"
    if task not in names:
        raise FinemotorError(f"--task {task!r} is not a {kind} task: use one of {', '.join(names)}")
    return task


def _signal_stats(x: F64, unit: str) -> dict[str, Any]:
    import numpy as np

    from finemotor.metrics import to_jsonable
    from finemotor.metrics.results import RAW, absent, present

    v = x[np.isfinite(x)]
    note = (
        "raw readings (uncalibrated): no newton scale; mean and SD are in the sensor's units"
        if unit == RAW
        else None
    )
    sd = float(np.std(v, ddof=1)) if v.shape[0] > 1 else math.nan
    return {
        "mean": to_jsonable(present(float(np.mean(v)), unit, note)),
        "sd": to_jsonable(
            present(sd, unit, note) if v.shape[0] > 1 else absent(unit, "needs 2 samples")
        ),
    }


def _summarize(
    kind: str,
    pieces: list[tuple[F64, F64]],
    rate: float,
    unit: ForceUnit,
    task: str,
    opts: Options,
) -> tuple[Any, list[tuple[Any, float]]]:
    """The overall summary of the pieces (none bridged) and each piece's own, with the shift
    each piece was given on the overall clock."""
    import numpy as np

    from finemotor.metrics import KGF_N, summarize_grip, summarize_pen
    from finemotor.metrics.grip import GripCore
    from finemotor.metrics.pen import PenCore
    from finemotor.metrics.results import RAW
    from finemotor.metrics.summary import grip_settings, raw_pen_config

    allx = np.concatenate([x for _, x in pieces])
    if kind == "grip":
        cfg = grip_settings(allx, task, unit, _trigger(opts), None)
        target = (
            None if opts.target is None else opts.target * (KGF_N if opts.units == "kgf" else 1.0)
        )
        ctx = [(-math.inf, GripContext(task=task, target=target))]  # type: ignore[arg-type]
        core = GripCore(rate, cfg, unit)
        for t_from, c in ctx:
            core.set_context(c, t_from)
        own: list[tuple[Any, float]] = []
        last = -math.inf
        for t, x in pieces:
            shift = max(0.0, last + 1.0 / rate - float(t[0])) if math.isfinite(last) else 0.0
            core.push(t + shift, x)
            core.end_segment()
            last = float(t[-1]) + shift
            own.append(
                (
                    summarize_grip(t, x, rate_hz=rate, unit=unit, config=cfg, contexts=ctx),
                    shift,
                )
            )
        core.finish()
        return core.summary(), own
    pcfg = replace(PenConfig(), task=task)  # type: ignore[arg-type]
    if unit == RAW:
        pcfg = raw_pen_config(allx, pcfg)
    pcore = PenCore(rate, pcfg, unit, None)
    own = []
    last = -math.inf
    lift = np.arange(1, math.ceil(pcfg.min_lift_s * rate) + 2) / rate
    for t, x in pieces:
        shift = max(0.0, last + lift[-1] + 1.0 / rate - float(t[0])) if math.isfinite(last) else 0.0
        pcore.push(t + shift, x)
        # the break as a pen lift: zero force just after the piece, long enough to end it
        end = float(t[-1]) + shift
        pcore.push(end + lift, np.zeros(lift.shape[0]))
        last = end
        own.append((summarize_pen(t, x, rate_hz=rate, unit=unit, config=pcfg), shift))
    pcore.finish()
    return pcore.summary(), own


def _trigger(opts: Options) -> Trigger | None:
    from finemotor.metrics import KGF_N
    from finemotor.metrics.summary import Trigger

    on, off = opts.trigger_on, opts.trigger_off
    if on is None and off is None:
        return None
    if on is None or off is None:
        raise FinemotorError("give both --trigger-on and --trigger-off")
    if on[1] != off[1]:
        raise FinemotorError("--trigger-on and --trigger-off must both be levels or both N%")
    if off[0] >= on[0]:
        raise FinemotorError("--trigger-off must be below --trigger-on")
    scale = KGF_N if opts.units == "kgf" and not on[1] else 1.0
    return Trigger(on[0] * scale, off[0] * scale, relative=on[1])


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
    opts = Options(
        kind=args.kind,
        rate_hz=args.rate,
        column=args.column,
        time_column=args.time_column,
        time_unit=args.time_unit,
        max_gap_s=args.max_gap,
        units=args.units,
        task=args.task,
        trigger_on=args.trigger_on,
        trigger_off=args.trigger_off,
        target=args.target,
    )
    result = analyze(args.file, opts)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        out: list[str] = []
        _lines("", result, out)
        print("\n".join(out))
    return 0
