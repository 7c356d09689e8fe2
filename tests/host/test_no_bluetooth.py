"""The facilitator's commands on a computer whose Bluetooth cannot be used: one line saying
what is missing and ``finemotor doctor``, a non-zero exit, never a traceback.

Each condition is real to bleak: no D-Bus (a socket that does not exist), no BlueZ (a private
``dbus-daemon`` where nobody owns ``org.bluez``), no adapter, an adapter switched off (a BlueZ
stand-in), and a bus policy that forbids talking to BlueZ.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from bluez_bus import Bus

from finemotor.cli import main
from finemotor.recording import Recorder

Condition = Callable[[Path], tuple[dict[str, str], Bus | None]]


def no_dbus(tmp: Path) -> tuple[dict[str, str], Bus | None]:
    return {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp / 'none'}"}, None


def no_bluez(tmp: Path) -> tuple[dict[str, str], Bus | None]:
    bus = Bus(tmp)
    return bus.env(), bus


def no_adapter(tmp: Path) -> tuple[dict[str, str], Bus | None]:
    bus = Bus(tmp)
    bus.serve_bluez({})
    return bus.env(), bus


def switched_off(tmp: Path) -> tuple[dict[str, str], Bus | None]:
    bus = Bus(tmp)
    bus.serve_bluez({"hci0": False})
    return bus.env(), bus


def denied(tmp: Path) -> tuple[dict[str, str], Bus | None]:
    bus = Bus(tmp, deny_bluez=True)
    bus.serve_bluez({"hci0": True})
    return bus.env(), bus


CONDITIONS: dict[str, tuple[Condition, str]] = {
    "no D-Bus": (no_dbus, "D-Bus is not running"),
    "no BlueZ": (no_bluez, "Bluetooth service (bluetoothd) is not running"),
    "no adapter": (no_adapter, "has no Bluetooth adapter"),
    "switched off": (switched_off, "Bluetooth is switched off"),
    "permission denied": (denied, "not allowed to use Bluetooth"),
}


def one_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize("name", list(CONDITIONS))
def test_scan_names_what_is_missing(name: str, tmp_path: Path) -> None:
    make, says = CONDITIONS[name]
    env, bus = make(tmp_path)
    try:
        out = subprocess.run(
            [sys.executable, "-m", "finemotor", "scan", "--timeout", "1"],
            env={**env, "FINEMOTOR_DATA": str(tmp_path / "data")},
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    finally:
        if bus is not None:
            bus.close()
    assert out.returncode == 1
    line = one_line(out.stderr)
    assert line.startswith("finemotor scan: ") and says in line and "finemotor doctor" in line


@pytest.mark.parametrize(
    "argv",
    [
        ["pair", "--kit", "5A2002"],
        ["identify", "--kit", "5A2002"],
        ["session", "--student", "S-1"],
        ["calibrate", "grip", "--device", "ble://5A2002"],
    ],
    ids=lambda a: a[0],
)
def test_every_bluetooth_command_says_so_before_asking_anything(
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bus = Bus(tmp_path)
    bus.serve_bluez({"hci0": False})
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.address)
    monkeypatch.setenv("FINEMOTOR_DATA", str(tmp_path / "data"))
    monkeypatch.setattr("sys.stdin", open("/dev/null"))  # noqa: SIM115 (closed by pytest)
    try:
        assert main(argv) == 1
    finally:
        bus.close()
    out = capsys.readouterr()
    line = one_line(out.err)
    assert "Bluetooth is switched off" in line and "finemotor doctor" in line
    assert "press" not in out.out.lower()  # nobody was asked to press a button first


def test_an_unexpected_error_is_one_line_and_its_details_are_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FINEMOTOR_DATA", str(tmp_path / "data"))
    token = "Zq3" * 10

    def broken(_rec: object, _session: int) -> str:
        raise ValueError(f"something broke at http://relay.example/view/abc?t={token}")

    monkeypatch.setattr("finemotor.cli.export.export_csv", broken)
    with Recorder(tmp_path / "data" / "recordings.sqlite", student="S-1"):
        pass
    assert main(["export", "1", "--format", "csv"]) == 1
    line = one_line(capsys.readouterr().err)
    log = tmp_path / "data" / "logs" / "finemotor.log"
    assert "something unexpected went wrong (ValueError)" in line and str(log) in line
    text = log.read_text()
    assert "Traceback" in text and "ValueError" in text and "broken" in text
    assert token not in text and "?t=" not in text
