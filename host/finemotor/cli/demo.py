"""``finemotor demo``: the simulated kit, end to end over the virtual radio."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import webbrowser
from typing import Any

from finemotor.cli import command_help


def register(sub: Any) -> None:
    """Add the ``demo`` sub-command."""
    p: argparse.ArgumentParser = sub.add_parser(
        "demo",
        help=command_help("demo"),
        description=(
            "Starts a simulated stylus and grip dynamometer (their real firmware under "
            "MicroPython, on a virtual Bluetooth radio), pairs, streams and reports."
        ),
    )
    p.add_argument("--seconds", type=float, default=20.0, help="how long to stream (s)")
    p.add_argument("--seed", type=int, default=1, help="seeds the simulated kits and student")
    p.add_argument("--drop-at", type=float, default=None, help="cut the radio link at T s")
    p.add_argument("--drop-for", type=float, default=4.0, help="for D s (default 4)")
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")
    p.add_argument("--no-browser", action="store_true", help="do not open the therapist view")
    p.add_argument(
        "--relay", default=None, help="publish to this relay URL (default: one in-process)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo; 0 if every device streamed with nothing lost."""
    from finemotor.demo import DemoOptions, run_demo

    progress = None if args.json else (lambda msg: print(msg, flush=True))

    def on_view(url: str) -> None:
        if progress is not None:
            progress(f"therapist view: {url}")
        if not args.no_browser:
            webbrowser.open(url)

    opts = DemoOptions(
        seconds=args.seconds,
        seed=args.seed,
        drop_at=args.drop_at,
        drop_for=args.drop_for,
        relay_url=args.relay,
        on_view=on_view,
    )
    report = asyncio.run(run_demo(opts, progress))
    if args.json:
        print(json.dumps(report))
    else:
        for d in report["devices"]:
            print(
                f"{d['kind']} {d['kit_id']}: {d['samples_received']} of "
                f"{d['samples_expected']} samples ({d['received_pct']} %), gaps {d['gaps']}, "
                f"backfilled {d['backfilled']}, lost {d['lost']}, malformed {d['malformed']}"
            )
            for line in _metric_lines(d):
                print("    " + line)
    ok = report["devices"] and all(d["lost"] == 0 for d in report["devices"])
    if not ok:
        print("finemotor demo: samples were lost (see above)", file=sys.stderr)
    return 0 if ok else 1


def _value(m: dict[str, Any] | None) -> str:
    if not m:
        return "-"
    if m.get("value") is None:
        return f"absent ({m.get('reason', '')})"
    disp = m.get("display")
    extra = f" ({disp['value']:.1f} {disp['unit']})" if disp else ""
    return f"{m['value']:.2f} {m['unit']}{extra}"


def _metric_lines(d: dict[str, Any]) -> list[str]:
    """A few headline metrics beside the simulated student's true values."""
    m, tm_ = d.get("metrics") or {}, d.get("truth_metrics") or {}
    if d["kind"] == "stylus":
        f, tf = m.get("force", {}), tm_.get("force", {})
        tim, ttim = m.get("timing", {}), tm_.get("timing", {})
        return [
            f"pen force mean {_value(f.get('mean'))} (true {_value(tf.get('mean'))}), "
            f"CV {_value(f.get('cv'))} (true {_value(tf.get('cv'))})",
            f"strokes/min {_value(tim.get('strokes_per_min'))} "
            f"(true {_value(ttim.get('strokes_per_min'))})",
        ]
    peaks = [_value(tr.get("peak")) for tr in m.get("trials", [])]
    true_peaks = [_value(tr.get("peak")) for tr in tm_.get("trials", [])]
    return [f"grip trial peaks {', '.join(peaks) or 'none yet'} (true {', '.join(true_peaks)})"]
