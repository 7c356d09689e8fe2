"""Accuracy of the metrics against the simulated student's truth over seeds 1-5: the figures
docs/metrics.md quotes, from the same harness the accuracy tests bound (bench/sim_accuracy)."""

from __future__ import annotations

import numpy as np

from bench.sim_accuracy import SEEDS, grip_errors, pen_errors, sim_grip, sim_pen


def main() -> None:
    """Print, per seed and overall, each metric's error against the truth."""
    peaks: list[float] = []
    worst: dict[str, float] = {}

    def keep(name: str, value: float) -> str:
        worst[name] = max(worst.get(name, 0.0), value)
        return f"{value:.3f}"

    print(
        "seed | grip peak max % | mean of 3 % | static FI pts | repeated FI pts | "
        "steadiness CV % | time to peak s | pen CV % | pen mean % | between CV % | within CV %"
    )
    for seed in SEEDS:
        g = grip_errors(*sim_grip(seed))
        p = pen_errors(*sim_pen(seed))
        peaks += g.peaks
        cells = [
            keep("peak", max(g.peaks)),
            keep("mean_of_3", max(g.mean_of_3)),
            keep("static_fatigue", g.static_fatigue),
            keep("repeated_fatigue", g.repeated_fatigue),
            keep("steadiness_cv", g.steadiness_cv),
            keep("time_to_peak", g.time_to_peak),
            keep("pen_cv", p.cv),
            keep("pen_mean", p.mean),
            keep("between_cv", p.between_stroke_cv),
            keep("within_cv", p.within_stroke_cv),
        ]
        print(f"{seed} | " + " | ".join(cells))
    print(
        f"all seeds: {len(peaks)} grip peaks, largest error {max(peaks):.2f} %, median "
        f"{float(np.median(peaks)):.2f} %; largest per metric: "
        + ", ".join(f"{k} {v:.3f}" for k, v in worst.items())
    )
