"""Plot a kit's forces live with matplotlib: the last 10 s, redrawn five times a second.

    python examples/live_plot.py sim://stylus --seconds 30
    python examples/live_plot.py sim://grip --seconds 5 --save grip.png   # no window needed

With ``--save`` the plot is drawn off screen (matplotlib's Agg) and written to the file when
the time is up; without it, a window shows the forces as they arrive.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from finemotor import open_forces

WINDOW_S = 10.0
REDRAW_S = 0.2
F64 = npt.NDArray[np.float64]


async def main(source: str, seconds: float, save: Path | None) -> None:
    """Plot ``seconds`` of ``source``; write the figure to ``save`` if given."""
    if save is not None:
        plt.switch_backend("Agg")  # off screen: no window, no display needed
    fig, ax = plt.subplots(figsize=(9, 4))
    if save is None:
        plt.ion()
        plt.show()
    async with open_forces(source) as kit:
        units = kit.units
        names = ["tip", "barrel"] if kit.kind == "stylus" else ["force"]
        lines = {n: ax.plot([], [], label=f"{n} ({units[n]})")[0] for n in names}
        ax.set_xlabel("device time (s)")
        ax.set_ylabel("force (N)" if all(units[n] == "N" for n in names) else "force")
        ax.set_title(f"{source}: {kit.kind}")
        ax.legend(loc="upper left")
        t: list[F64] = []
        values: dict[str, list[F64]] = {n: [] for n in names}
        drawn = None
        async for forces in kit.during(seconds):
            t.append(forces.t)
            for n in names:
                values[n].append(forces[n].values)
            now = float(forces.t[-1])
            if drawn is None or now - drawn >= REDRAW_S:
                drawn = now
                _draw(ax, lines, t, values, now)
                fig.canvas.draw_idle()
                fig.canvas.flush_events()
                await asyncio.sleep(0)
        _draw(ax, lines, t, values, float(t[-1][-1]) if t else 0.0)
    if save is not None:
        fig.savefig(save, dpi=100)
        print(f"plot of {sum(len(x) for x in t)} samples written to {save}")
    plt.close(fig)


def _draw(
    ax: Axes,
    lines: dict[str, Line2D],
    t: list[F64],
    values: dict[str, list[F64]],
    now: float,
) -> None:
    if not t:
        return
    tt = np.concatenate(t)
    keep = tt >= now - WINDOW_S
    for n, line in lines.items():
        line.set_data(tt[keep], np.concatenate(values[n])[keep])
    ax.relim()
    ax.autoscale_view()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="the kit: sim://grip, sim://stylus, ble://KIT_ID, ...")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long (default 10)")
    parser.add_argument("--save", type=Path, default=None, help="write the plot to this PNG")
    args = parser.parse_args()
    asyncio.run(main(args.source, args.seconds, args.save))
