"""``finemotor doctor`` against a fake system: a folder laid out like ``/sys``, ``/dev`` and
``/etc/group``, and a private D-Bus (the real ``dbus-daemon``) on which a small BlueZ
stand-in owns ``org.bluez`` and exports an ``org.bluez.Adapter1`` object."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from bluez_bus import Bus

from finemotor.cli import doctor as doctor_cli
from finemotor.doctor import (
    PROBLEM,
    Check,
    System,
    check_database,
    check_python,
    check_serial_permission,
    macos_bluetooth_state,
    run_checks,
)


def make_root(
    tmp: Path, adapters: int = 1, soft: bool = False, hard: bool = False, groups: str = ""
) -> Path:
    """A fake system root with Bluetooth adapters, an rfkill switch per adapter, a wifi
    switch (blocked: it must not count), and /etc/group."""
    root = tmp / "root"
    (root / "sys" / "class" / "bluetooth").mkdir(parents=True)
    (root / "sys" / "class" / "rfkill").mkdir(parents=True)
    (root / "dev").mkdir()
    (root / "etc").mkdir()
    for i in range(adapters):
        (root / "sys" / "class" / "bluetooth" / f"hci{i}").mkdir()
        (root / "sys" / "class" / "bluetooth" / f"hci{i}:256").mkdir()  # a connection
        sw = root / "sys" / "class" / "rfkill" / f"rfkill{i}"
        sw.mkdir()
        (sw / "type").write_text("bluetooth\n")
        (sw / "name").write_text(f"hci{i}\n")
        (sw / "soft").write_text("1\n" if soft else "0\n")
        (sw / "hard").write_text("1\n" if hard else "0\n")
    wifi = root / "sys" / "class" / "rfkill" / "rfkill9"
    wifi.mkdir()
    (wifi / "type").write_text("wlan\n")
    (wifi / "soft").write_text("1\n")
    (wifi / "hard").write_text("1\n")
    (root / "etc" / "group").write_text(
        "root:x:0:\ndialout:x:20:" + groups + "\nbluetooth:x:110:\nusers:x:100:\n"
    )
    return root


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[Bus]:
    b = Bus(tmp_path)
    yield b
    b.close()


def system(root: Path, dbus: str, **kw: object) -> System:
    args: dict[str, object] = {
        "platform": "linux",
        "root": root,
        "dbus_address": dbus,
        "user": "facilitator",
        "groups": {"facilitator", "dialout"},
        "db_path": root / "data" / "recordings.sqlite",
        "dbus_timeout": 2.0,
    }
    args.update(kw)
    return System(**args)  # type: ignore[arg-type]


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def run_cli(s: System, *argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="finemotor")
    doctor_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["doctor", *argv])
    args.system = s
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = args.func(args)
    return code, out.getvalue()


def test_a_ready_linux_computer(tmp_path: Path, bus: Bus) -> None:
    bus.serve_bluez({"hci0": True})
    s = system(make_root(tmp_path), bus.address)
    checks = by_name(run_checks(s))
    assert all(c.ok for c in checks.values()), [c for c in checks.values() if not c.ok]
    assert checks["bluetooth-adapter"].detail == "hci0 found"
    assert checks["bluetooth-powered"].detail == "hci0 powered on"
    assert "1 adapter" in checks["bluez"].detail
    code, out = run_cli(s)
    assert code == 0 and "All set" in out
    code, out = run_cli(s, "--json")
    data = json.loads(out)
    assert code == 0 and data["ok"] is True and data["platform"] == "linux"
    assert {c["name"] for c in data["checks"]} >= {"python", "packages", "database", "serial"}


def test_adapter_powered_off(tmp_path: Path, bus: Bus) -> None:
    bus.serve_bluez({"hci0": False})
    code, out = run_cli(system(make_root(tmp_path), bus.address))
    assert code == 1
    assert "PROBLEM  Bluetooth powered: hci0 powered off" in out
    assert "fix: run: bluetoothctl power on" in out


def test_bluetoothd_not_running(tmp_path: Path, bus: Bus) -> None:
    checks = by_name(run_checks(system(make_root(tmp_path), bus.address)))
    assert checks["bluez"].status == PROBLEM
    assert checks["bluez"].detail == "bluetoothd is not running"
    assert "systemctl enable --now bluetooth" in (checks["bluez"].fix or "")


def test_no_dbus(tmp_path: Path) -> None:
    s = system(make_root(tmp_path), f"unix:path={tmp_path / 'no-bus'}")
    c = by_name(run_checks(s))["bluez"]
    assert c.status == PROBLEM and "cannot reach the D-Bus system bus" in c.detail
    assert "no-bus" in c.detail and "systemctl start dbus" in (c.fix or "")


def test_no_adapter(tmp_path: Path, bus: Bus) -> None:
    bus.serve_bluez({})
    checks = by_name(run_checks(system(make_root(tmp_path, adapters=0), bus.address)))
    assert checks["bluetooth-adapter"].status == PROBLEM
    assert "USB Bluetooth" in (checks["bluetooth-adapter"].fix or "")
    assert checks["rfkill"].ok  # the blocked wifi switch does not count


def test_rfkill_soft_block(tmp_path: Path) -> None:
    s = system(make_root(tmp_path, soft=True), f"unix:path={tmp_path / 'x'}")
    c = by_name(run_checks(s))["rfkill"]
    assert c.status == PROBLEM and "soft block: hci0" in c.detail
    assert c.fix is not None and "rfkill unblock bluetooth" in c.fix


def test_rfkill_hard_block_wins(tmp_path: Path) -> None:
    s = system(make_root(tmp_path, soft=True, hard=True), f"unix:path={tmp_path / 'x'}")
    c = by_name(run_checks(s))["rfkill"]
    assert c.status == PROBLEM and "hardware switch" in c.detail
    assert c.fix is not None and "switch or key" in c.fix


def test_serial_permission(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    out = check_serial_permission(system(root, "", groups={"facilitator"}))
    assert out.status == PROBLEM
    assert out.fix == "run: sudo usermod -aG dialout $USER, then log out and back in"
    root2 = make_root(tmp_path / "2", groups="facilitator")  # added, not logged in again
    out = check_serial_permission(system(root2, "", groups={"facilitator"}))
    assert out.status == PROBLEM and "log out and back in" in (out.fix or "")
    assert "not have it yet" in out.detail
    (root / "dev" / "ttyACM0").touch()
    ok = check_serial_permission(system(root, ""))
    assert ok.ok and "ttyACM0" in ok.detail


def test_database_folder(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    assert check_database(system(root, "")).ok  # made on first use
    (root / "data").write_text("not a folder")
    bad = check_database(system(root, ""))
    assert bad.status == PROBLEM and "is a file" in bad.detail
    assert "FINEMOTOR_DATA" in (bad.fix or "")


def test_old_python() -> None:
    c = check_python(System(platform="win32", python=(3, 9, 7)))
    assert c.status == PROBLEM and "3.9.7" in c.detail and "python.org" in (c.fix or "")


def test_macos_profile_parsing() -> None:
    on = {"SPBluetoothDataType": [{"controller_properties": {"controller_state": "attrib_on"}}]}
    off = {"SPBluetoothDataType": [{"controller_properties": {"controller_state": "attrib_off"}}]}
    assert macos_bluetooth_state(json.dumps(on)) == (True, True)
    assert macos_bluetooth_state(json.dumps(off)) == (True, False)
    assert macos_bluetooth_state(json.dumps({"SPBluetoothDataType": []})) == (False, None)
    assert macos_bluetooth_state(None) == (None, None)
    assert macos_bluetooth_state("not json") == (None, None)


def test_this_computer_gets_an_answer_for_every_check() -> None:
    checks = run_checks()
    assert {"python", "packages", "database"} <= {c.name for c in checks}
    for c in checks:
        assert c.status in ("ok", "problem", "note")
        assert c.ok or c.fix, c  # every problem says what to do
