"""The calibration record (JSON) and certificate (PDF and PNG, matplotlib)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np


def save_record(record: dict[str, Any], out_dir: Path, stem: str) -> Path:
    """Write the record as ``<stem>.json`` in ``out_dir``; return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{stem}.json"
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path


def save_certificate(record: dict[str, Any], out_dir: Path, stem: str) -> list[Path]:
    """Draw the certificate (error against load, the table of results) as PDF and PNG."""
    import matplotlib as mpl  # noqa: PLC0415  (only when a certificate is drawn)

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    v = record.get("verification", {})
    points = v.get("points", [])
    fig, (ax, tab) = plt.subplots(
        2, 1, figsize=(8.27, 11.69), gridspec_kw={"height_ratios": [3, 2]}
    )
    fig.suptitle(
        f"Calibration certificate: finemotor {record['device']} {record.get('serial', '')}\n"
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(record.get('date_unix', 0)))}, "
        f"firmware {record.get('firmware', '?')}, ISO 7500-1 class {v.get('class') or 'none'}"
    )
    loads = np.array([p["force_n"] for p in points])
    limit = next((c["q"] for c in record.get("classes", []) if c["name"] == "1"), 1.0)
    if loads.size:
        incs = record.get("indications_n", {}).get("increasing", [])
        for i, row in enumerate(incs):
            err = (np.asarray(row) - loads) / loads * 100.0
            ax.plot(loads, err, "o-", label=f"increasing series {i + 1}")
        dec = record.get("indications_n", {}).get("decreasing", [])
        if dec:
            ax.plot(loads, (np.asarray(dec) - loads) / loads * 100.0, "s--", label="decreasing")
        ax.axhspan(-limit, limit, color="0.9", label=f"class 1 (q ±{limit:g} %)")
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set_xlabel("reference force (N)")
    ax.set_ylabel("relative indication error (%)")
    ax.legend(loc="best", fontsize=8)
    ax.grid(True, alpha=0.3)
    tab.axis("off")
    rows = [
        [
            f"{p['force_n']:.3f}",
            f"{p['mean_n']:.3f}",
            f"{p['q']:+.3f}",
            f"{p['b']:.3f}",
            "" if p["v"] is None else f"{p['v']:+.3f}",
            f"{p['a']:.4f}",
        ]
        for p in points
    ]
    if rows:
        t = tab.table(
            cellText=rows,
            colLabels=["F (N)", "mean (N)", "q (%)", "b (%)", "v (%)", "a (%)"],
            loc="upper center",
        )
        t.scale(1.0, 1.4)
    fit = record.get("fit", {})
    tab.text(
        0.0,
        0.15,
        f"f0 = {v.get('f0_pct', float('nan')):+.4f} %   fit: {fit.get('model', '?')}, "
        f"zero {fit.get('zero', '?')}, coefficients "
        + ", ".join(f"{c:.6g}" for c in fit.get("coeffs", []))
        + f"\nwritten to the kit: {'yes' if record.get('written') else 'no'}",
        fontsize=9,
        transform=tab.transAxes,
    )
    paths = [out_dir / f"{stem}.pdf", out_dir / f"{stem}.png"]
    out_dir.mkdir(parents=True, exist_ok=True)
    for p in paths:
        fig.savefig(p, dpi=100)
    plt.close(fig)
    return paths
