"""Record a kit for a few seconds, then analyse the recording from the file.

    python examples/analyse_recording.py sim://grip --seconds 10 --db grip.sqlite

The kit's raw counts and its calibration go into a recording database (the same file
``finemotor session`` writes); the analysis then reads them back with
:class:`finemotor.Recording` and recomputes every metric offline, as ``finemotor report``
does. Without ``--db`` the recording is a temporary file, removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from finemotor import GripSummary, Metric, Recording, SampleBlock, open_source
from finemotor.recording import Recorder
from finemotor.report import analyse_session


async def record(source: str, db: Path, seconds: float) -> int:
    """Record ``seconds`` of ``source`` into ``db``; return the session's id."""
    blocks: list[SampleBlock] = []
    async with open_source(source, on_blocks=blocks.extend) as kit:
        await asyncio.sleep(seconds)
        info, calibration = kit.info, kit.calibration
    assert info is not None  # an opened kit has its info
    kind = info.layout.kind
    with Recorder(db, student="example") as rec:
        rec.add_device(
            kind,
            kind,
            info.layout.channel_names,
            serial=info.serial,
            firmware=info.firmware,
            rate_hz=info.rate_hz,
            calibration=calibration,
        )
        for block in blocks:
            rec.add_block(kind, block)
        return rec.session_id


def analyse(db: Path, session: int) -> None:
    """Print what the recording says: per device, its samples and metrics."""
    with Recording(db) as rec:
        analysis = analyse_session(rec, session)
    for dev in analysis.devices:
        secs = float(dev.t[-1] - dev.t[0]) if dev.t.shape[0] else 0.0
        print(f"{dev.name}: {dev.t.shape[0]} samples over {secs:.1f} s at {dev.rate_hz:g} Hz")
        for note in dev.notes:
            print(f"  note: {note}")
        s = dev.summary
        if isinstance(s, GripSummary):
            print(f"  {len(s.trials)} squeeze(s)" + (f" ({s.reason})" if s.reason else ""))
            for trial in s.trials:
                print(f"  trial {trial.index + 1}: peak {_show(trial.peak)}")
        elif s is not None:
            for group in ("force", "barrel", "timing"):
                for name, m in getattr(s, group).items():
                    print(f"  {group} {name}: {_show(m)}")


def _show(m: Metric) -> str:
    """A metric as a reader sees it: value and unit, or why there is none."""
    return f"{m.value:.4g} {m.unit}" if m.value is not None else f"none ({m.reason})"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="the kit: sim://grip, sim://stylus, ble://KIT_ID, ...")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long (default 10)")
    parser.add_argument("--db", type=Path, default=None, help="the recording database")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "recording.sqlite"
        session = asyncio.run(record(args.source, db, args.seconds))
        print(f"recorded session {session} in {db}")
        analyse(db, session)
