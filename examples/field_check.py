"""Field check of a kit's calibration: one known weight, the error, and whether to recalibrate.

    python examples/field_check.py sim://grip --weight "20 kg"
    python examples/field_check.py ble://5A2002 --kind grip --weight "20 kg"

The kit's stored calibration reads the tared weight; the error against the weight's force
(1 kg = 9.80665 N) is compared with the procedure's limit (``calibration/<kind>.toml``). A
simulated kit is loaded by its simulated rig; with a real kit, the script asks you to put the
weight on and press Enter. Ends when both readings are stable (or a reading times out).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from urllib.parse import urlparse

from finemotor.calibration.guided import check_kit
from finemotor.calibration.procedure import load_procedure


def main(source: str, kind: str, weight: str) -> bool:
    """Check ``source`` with ``weight``; print the result; True if no recalibration is due."""
    simulated = source.startswith("sim://")
    result = asyncio.run(
        check_kit(
            source, load_procedure(kind), weight, simulated, lambda s: print(s, file=sys.stderr)
        )
    )
    print(
        f"{result['weight']:g} {result['unit']} = {result['reference_n']:.2f} N reads "
        f"{result['indicated_n']:.2f} N: error {result['error_pct']:+.2f} % "
        f"(limit {result['limit_pct']:g} %)"
    )
    due = bool(result["recalibration_due"])
    print("recalibration is due" if due else "calibration OK: no recalibration needed")
    return not due


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="the kit: sim://grip, sim://stylus, ble://KIT_ID, ...")
    parser.add_argument("--kind", choices=("grip", "stylus"), help="default: from sim://KIND")
    parser.add_argument("--weight", default=None, help="e.g. '20 kg', '500 g', '2 N'")
    args = parser.parse_args()
    kind = args.kind or urlparse(args.source).netloc
    if kind not in ("grip", "stylus"):
        parser.error("give --kind grip or --kind stylus")
    weight = args.weight or ("20 kg" if kind == "grip" else "300 g")
    sys.exit(0 if main(args.source, kind, weight) else 1)
