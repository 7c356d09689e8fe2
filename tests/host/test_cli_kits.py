"""`finemotor scan`, `pair` and `identify` against simulated kits on the virtual radio."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from finemotor.desk import Desk


def finemotor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "finemotor", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_scan_finds_both_kits_but_not_their_ids() -> None:
    # Privacy on the air: outside its pairing window a kit this computer has not paired says
    # only its kind, from an address it renews (resolvable private: top bits 01).
    proc = finemotor("scan", "--sim", "--timeout", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    kits: list[dict[str, Any]] = json.loads(proc.stdout)["kits"]
    assert sorted(k["kind"] for k in kits) == ["grip", "stylus"]
    for k in kits:
        assert k["kit_id"] is None and k["battery_percent"] is None
        assert k["pairing_open"] is False
        assert int(k["address"][:2], 16) >> 6 == 0b01


@pytest.mark.parametrize("action", ["pair", "identify"])
def test_pair_and_identify_the_chosen_kit(action: str, tmp_path: Path) -> None:
    desk = tmp_path / "kits.json"
    proc = finemotor(
        action, "--sim", "--kit", "5a2002", "--seconds", "2", "--json", "--desk", str(desk)
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["kit_id"] == "5A2002" and result["kind"] == "grip"
    assert result["model"].startswith("FM-GRIP")
    assert result["paired"] is True
    # Pairing makes it this desk's grip (what `finemotor session` looks for); blinking does not.
    if action == "pair":
        assert Desk(desk).kit_for("grip") == Desk(desk).kits["5A2002"]
    else:
        assert not desk.exists()


def test_an_unknown_kit_gets_advice() -> None:
    proc = finemotor("pair", "--sim", "--kit", "ABCDEF", "--timeout", "1")
    assert proc.returncode == 1
    assert "not in range" in proc.stderr and "label" in proc.stderr
