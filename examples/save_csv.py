"""Save a kit's forces to a CSV file: one row per sample, on the kit's own clock.

    python examples/save_csv.py sim://stylus --out forces.csv --seconds 10

Columns: ``seq`` (the sample's index), ``t_s`` (device time in seconds) and each force with
its unit in the header: ``tip_N``, ``barrel_N``, ``force_N`` (or ``..._raw`` for a channel
that is not calibrated: tared counts, not newtons).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
from pathlib import Path

from finemotor import open_forces


async def main(source: str, out: Path, seconds: float) -> int:
    """Write ``seconds`` of ``source``'s forces to ``out``; return the number of rows."""
    rows = 0
    async with open_forces(source) as kit:
        names = list(kit.units)
        with out.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["seq", "t_s", *(f"{n}_{u}" for n, u in kit.units.items())])
            async for forces in kit.during(seconds):
                columns = [forces[n].values for n in names]
                for i in range(len(forces)):
                    cells = [f"{c[i]:.4f}" for c in columns]
                    writer.writerow([int(forces.seq[i]), f"{forces.t[i]:.6f}", *cells])
                rows += len(forces)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="the kit: sim://grip, sim://stylus, ble://KIT_ID, ...")
    parser.add_argument("--out", type=Path, default=Path("forces.csv"), help="the CSV file")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long (default 5)")
    args = parser.parse_args()
    n = asyncio.run(main(args.source, args.out, args.seconds))
    print(f"{n} samples written to {args.out}")
