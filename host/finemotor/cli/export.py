"""``finemotor export``: one recorded session as CSV (samples) or JSON (everything)."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finemotor.cli import command_help
from finemotor.errors import RecordingError

if TYPE_CHECKING:
    from finemotor.recording import Recording


def register(sub: Any) -> None:
    """Add the ``export`` sub-command."""
    p: argparse.ArgumentParser = sub.add_parser(
        "export",
        help=command_help("export"),
        description=(
            "CSV: one row per sample (device, seq, device time in s, raw counts per channel). "
            "JSON: the session, its devices with calibration records, samples, events and "
            "metrics."
        ),
    )
    p.add_argument("session", type=int, help="the session id (`finemotor sessions`)")
    p.add_argument("--format", choices=("csv", "json"), default="csv")
    p.add_argument("--db", type=Path, default=None, help="the database (default: data directory)")
    p.add_argument("--out", type=Path, default=None, help="write here (default: standard output)")
    p.set_defaults(func=run)


def export_csv(rec: Recording, session: int) -> str:
    """The session's samples as CSV text; times written exactly (shortest round-trip form)."""
    devices = rec.devices(session)
    columns: list[str] = []
    for d in devices:
        columns += [c for c in d.channels if c not in columns]
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(["device", "seq", "device_t_s", *columns])
    for d in devices:
        s = rec.load_samples(session, d.name)
        where = [d.channels.index(c) if c in d.channels else None for c in columns]
        for i in range(len(s.seq)):
            row = s.counts[i].tolist()
            out.writerow(
                [d.name, int(s.seq[i]), repr(float(s.t[i]))]
                + ["" if w is None else row[w] for w in where]
            )
    return buf.getvalue()


def export_json(rec: Recording, session: int) -> dict[str, Any]:
    """The whole session as one JSON-ready object."""
    devices = []
    for d in rec.devices(session):
        s = rec.load_samples(session, d.name)
        devices.append(
            {
                **dataclasses.asdict(d),
                "samples": {
                    "seq": s.seq.tolist(),
                    "device_t_s": s.t.tolist(),
                    "counts": {c: s.counts[:, i].tolist() for i, c in enumerate(s.channels)},
                },
            }
        )
    return {
        "session": dataclasses.asdict(rec.session(session)),
        "devices": devices,
        "events": [dataclasses.asdict(e) for e in rec.events(session)],
        "metrics": rec.metrics(session),
    }


def run(args: argparse.Namespace) -> int:
    """Export; 0, or an error (unknown session, unreadable database)."""
    from finemotor.recording import Recording

    with Recording(args.db) as rec:
        text = (
            export_csv(rec, args.session)
            if args.format == "csv"
            else json.dumps(export_json(rec, args.session)) + "\n"
        )
    if args.out is None:
        sys.stdout.write(text)
        return 0
    try:
        args.out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise RecordingError(str(args.out), "export", f"cannot write the export: {exc}") from exc
    return 0
