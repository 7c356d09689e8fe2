"""A private system bus for tests: the real ``dbus-daemon`` on a socket in a temporary folder,
and a small BlueZ stand-in (``org.bluez`` with ``org.bluez.Adapter1`` objects) on it.

``finemotor doctor``'s tests read it directly; the commands' tests point bleak at it with
``DBUS_SYSTEM_BUS_ADDRESS``, as a computer without working Bluetooth would look to them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from dbus_fast.aio import MessageBus
from dbus_fast.service import PropertyAccess, ServiceInterface, dbus_property

_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>{address}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
    {deny}
  </policy>
</busconfig>
"""


class Adapter(ServiceInterface):
    """``org.bluez.Adapter1`` with what doctor and bleak read of it."""

    def __init__(self, powered: bool) -> None:
        super().__init__("org.bluez.Adapter1")
        self._powered = powered

    @dbus_property(access=PropertyAccess.READ)
    def Powered(self) -> b:  # type: ignore[name-defined]  # noqa: F821, N802  (D-Bus "b")
        return self._powered

    @dbus_property(access=PropertyAccess.READ)
    def Roles(self) -> "as":  # type: ignore[name-defined]  # noqa: F722, N802
        return ["central", "peripheral"]

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> s:  # type: ignore[name-defined]  # noqa: F821, N802
        return "00:11:22:33:44:55"


class Bus:
    """A private bus (dbus-daemon); ``serve_bluez`` puts a BlueZ stand-in on it.

    Args:
        tmp: a folder for the socket and the configuration.
        deny_bluez: the bus policy forbids talking to ``org.bluez`` (permission denied).
    """

    def __init__(self, tmp: Path, deny_bluez: bool = False) -> None:
        daemon = shutil.which("dbus-daemon")
        if daemon is None:
            pytest.fail("dbus-daemon is not installed: install Debian's dbus-daemon")
        self.address = f"unix:path={tmp / 'bus'}"
        config = tmp / "bus.conf"
        deny = '<deny send_destination="org.bluez"/>' if deny_bluez else ""
        config.write_text(_CONFIG.format(address=self.address, deny=deny))
        self.proc = subprocess.Popen(
            [daemon, f"--config-file={config}", "--nofork", "--print-address"],
            stdout=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        self.proc.stdout.readline()  # the address: the bus is up
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None

    def serve_bluez(self, powered: dict[str, bool]) -> None:
        """Own ``org.bluez`` with one adapter per name (``hci0``: powered or not)."""
        ready = threading.Event()

        async def serve() -> None:
            self._stop = asyncio.Event()
            bus = await MessageBus(bus_address=self.address).connect()
            for name, on in powered.items():
                bus.export(f"/org/bluez/{name}", Adapter(on))
            await bus.request_name("org.bluez")
            ready.set()
            await self._stop.wait()
            bus.disconnect()

        self._loop = asyncio.new_event_loop()
        loop = self._loop
        self._thread = threading.Thread(
            target=lambda: loop.run_until_complete(serve()), daemon=True
        )
        self._thread.start()
        assert ready.wait(10)

    def env(self) -> dict[str, str]:
        """The environment of a process that takes this bus as the system bus."""
        return {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": self.address}

    def close(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(2)
        if self._loop is not None:
            self._loop.close()
        self.proc.terminate()
        self.proc.wait(5)
