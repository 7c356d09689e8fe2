"""Golden vectors packed by the firmware's own code under the MicroPython interpreter."""

from __future__ import annotations

import json
from pathlib import Path

from mpy_runner import run_mpy

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "protocol_v1.json"
SCRIPT = Path(__file__).resolve().parent / "mpy" / "vectors_fw.py"


def test_firmware_packs_every_golden_vector(tmp_path: Path) -> None:
    doc = json.loads(VECTORS.read_text())
    proc = run_mpy(SCRIPT, str(VECTORS), str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    failed = [ln for ln in lines if ln.startswith("FAIL")]
    assert not failed, "\n".join(failed)
    expected = (
        len(doc["frames"])
        + len(doc["status"])
        + len(doc["control"])
        + len(doc["calibration"])
        + sum(1 for v in doc["calibration"] if v["valid"])
        + len(doc["calibration_writes"]["sequences"])
        + len(doc["calibration_writes"]["damaged"])
    )
    assert sum(ln.startswith("PASS") for ln in lines) == expected
