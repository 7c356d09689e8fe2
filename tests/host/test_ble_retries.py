"""BleKit.connect: the radio's own errors are retried, ours and this computer's are final."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from bluez_bus import Bus

from finemotor.errors import BluetoothUnavailableError, TransportError
from finemotor.transport.ble import BleKit
from finemotor.transport.virtual.radio import VirtualRadio


def retries(caplog: pytest.LogCaptureFixture) -> int:
    return sum("retrying" in r.getMessage() for r in caplog.records)


def test_a_kit_that_is_not_there_is_tried_each_attempt_then_named(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        async with VirtualRadio() as radio:
            kit = BleKit(
                "F0:00:00:00:00:99", lambda _b: None, backend=radio.client_backend, timeout=0.5
            )
            with pytest.raises(TransportError, match="could not connect to the kit"):
                await kit.connect(attempts=3)

    with caplog.at_level(logging.INFO, logger="finemotor.transport.ble"):
        asyncio.run(asyncio.wait_for(main(), 60))
    assert retries(caplog) == 2  # three attempts: two retries


def test_no_bluetooth_on_this_computer_is_final_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    bus = Bus(tmp_path)
    bus.serve_bluez({"hci0": False})
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.address)
    try:
        kit = BleKit("F0:00:00:00:00:99", lambda _b: None, timeout=2.0)
        with (
            caplog.at_level(logging.INFO, logger="finemotor.transport.ble"),
            pytest.raises(BluetoothUnavailableError, match="switched off") as err,
        ):
            asyncio.run(asyncio.wait_for(kit.connect(attempts=3), 60))
    finally:
        bus.close()
    assert err.value.reason == "powered_off"
    assert retries(caplog) == 0
