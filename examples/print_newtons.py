"""Print a kit's forces in newtons, ten lines a second, for a few seconds.

    python examples/print_newtons.py sim://grip
    python examples/print_newtons.py ble://5A1001 --seconds 30

Each line: the kit's own clock (s), then each force's mean over the last 0.1 s with its unit:
newtons (N), or raw units (the tared counts) for a channel that is not calibrated. A stylus
shows its tip, its barrel grip (the pads' sum) and each pad.
"""

from __future__ import annotations

import argparse
import asyncio

from finemotor import open_forces


async def main(source: str, seconds: float) -> None:
    """Stream ``source`` for ``seconds`` of device time, printing a line every 0.1 s."""
    async with open_forces(source) as kit:
        units = kit.units
        print(
            f"{kit.kind} at {kit.rate_hz:g} Hz: "
            + ", ".join(f"{n} in {u}" for n, u in units.items())
        )
        last = None
        async for forces in kit.during(seconds):
            t = float(forces.t[-1])
            if last is not None and t - last < 0.1:
                continue
            last = t
            cells = [f"{n} {forces[n].values.mean():8.3f} {forces[n].unit}" for n in forces.names]
            print(f"{t:8.2f} s  " + "  ".join(cells))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="the kit: sim://grip, sim://stylus, ble://KIT_ID, ...")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long (default 5)")
    args = parser.parse_args()
    asyncio.run(main(args.source, args.seconds))
