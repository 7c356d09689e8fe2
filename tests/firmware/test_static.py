"""Every firmware module (outside the simulation) compiles for the ESP32-S3 and type-checks
against MicroPython's ESP32 stubs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from finemotor.firmware import mpy_cross, tool

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
STUBS = ROOT / ".stubs" / "esp32"


def firmware_sources() -> list[Path]:
    """Every .py that goes onto a kit: the library, the board maps and the device mains."""
    return sorted(p for p in FIRMWARE.rglob("*.py") if "sim" not in p.relative_to(FIRMWARE).parts)


def test_there_is_firmware_to_check() -> None:
    names = {p.relative_to(FIRMWARE).as_posix() for p in firmware_sources()}
    assert {"stylus/main.py", "grip/main.py", "lib/fm/sampler.py", "boards/grip.py"} <= names


@pytest.mark.parametrize(
    "src", firmware_sources(), ids=lambda p: p.relative_to(FIRMWARE).as_posix()
)
def test_compiles_for_esp32_s3(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mpy"
    mpy_cross(src, out, "xtensawin")  # raises with mpy-cross's error if it does not compile
    assert out.stat().st_size > 0


def test_type_checks_against_esp32_stubs() -> None:
    assert (STUBS / "machine.pyi").exists(), "ESP32 stubs missing: run `make setup`"
    env = dict(os.environ, MYPYPATH=f"{STUBS}:{FIRMWARE / 'lib'}:{FIRMWARE}")
    proc = subprocess.run(
        [
            tool("mypy"),
            "--config-file",
            str(FIRMWARE / "mypy.ini"),
            "--cache-dir",
            str(ROOT / ".mypy_cache" / "firmware"),
            *map(str, firmware_sources()),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
