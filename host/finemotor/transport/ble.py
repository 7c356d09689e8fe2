"""One kit over Bluetooth LE, through bleak's public API (real radio or the virtual one).

:class:`BleKit` connects (with retries), pairs (LE Secure Connections, bonded) when there is
no bond yet, subscribes to the data, control point and status characteristics, and turns
control point commands into awaitable calls with a timeout. Reconnection after a link loss is
the job of :class:`finemotor.kitlink.KitLink`, which owns the stream.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError

from finemotor.errors import KitCommandError, PairingRefusedError, TransportError
from finemotor.protocol import control as cp
from finemotor.protocol.constants import (
    BATTERY_LEVEL_UUID,
    CONTROL_UUID,
    DATA_UUID,
    STATUS_UUID,
)
from finemotor.protocol.status import Status, decode_status
from finemotor.transport.bluetooth import bluetooth_unavailable
from finemotor.transport.commands import KitCommands, KitInfo

logger = logging.getLogger(__name__)

MODEL_UUID = "00002a24-0000-1000-8000-00805f9b34fb"
SERIAL_UUID = "00002a25-0000-1000-8000-00805f9b34fb"
FIRMWARE_UUID = "00002a26-0000-1000-8000-00805f9b34fb"


class BleKit(KitCommands):
    """A connection to one kit over Bluetooth LE: a
    :class:`~finemotor.transport.contract.KitTransport`.

    Args:
        target: the kit's ``BLEDevice`` (from a scan) or address.
        on_frame: called with each data notification (raw bytes), in arrival order.
        on_status: called with each decoded status notification.
        on_disconnect: called when the link drops (asked for or not).
        backend: bleak client backend (None: the operating system's radio).
        timeout: seconds for each connection attempt and each command.
    """

    def __init__(
        self,
        target: BLEDevice | str,
        on_frame: Callable[[bytes], None],
        on_status: Callable[[Status], None] | None = None,
        on_disconnect: Callable[[], None] | None = None,
        backend: Any = None,
        timeout: float = 10.0,
    ) -> None:
        self.target = target
        self.address = target if isinstance(target, str) else target.address
        self.on_frame = on_frame
        """Called with each data frame (raw bytes), in arrival order."""
        self._on_status = on_status
        self.on_disconnect = on_disconnect
        """Called when the link drops (asked for or not)."""
        self._backend = backend
        self.timeout = timeout
        self._client: BleakClient | None = None
        self._token = 0
        self._waiting: dict[int, asyncio.Future[cp.Response]] = {}
        self.info: KitInfo | None = None
        self.identity: str | None = None
        """The address this computer's stack knows the kit by once connected: the identity
        it learnt from the bond (the kit advertises from addresses it renews)."""
        self.status: Status | None = None
        self.battery_percent: int | None = None

    @property
    def connected(self) -> bool:
        """True while the link is up."""
        return self._client is not None and self._client.is_connected

    @property
    def mtu(self) -> int:
        """The negotiated ATT MTU."""
        return self._client.mtu_size if self._client is not None else 23

    async def connect(self, attempts: int = 3) -> KitInfo:
        """Connect, pair if needed, subscribe, and read what the kit is.

        Raises:
            BluetoothUnavailableError: this computer's Bluetooth cannot be used (says why).
            TransportError: the kit could not be reached or refused to pair, with what to do.
        """
        last: Exception | None = None
        for attempt in range(attempts):
            try:
                return await self._connect_once()
            except PairingRefusedError:
                # Whatever keys this computer kept for the kit are stale: forget them, so the
                # next connection (once its button is pressed) pairs afresh.
                await self._drop(forget=True)
                raise
            except (BleakError, TimeoutError, OSError) as exc:  # the radio's: worth a retry
                unavailable = bluetooth_unavailable(exc)
                if unavailable is not None:  # this computer's Bluetooth, not the kit: final
                    await self._drop()
                    raise unavailable from exc
                last = exc
            except TransportError as exc:
                client = self._client
                if client is None or client.is_connected:  # ours (e.g. an unknown layout)
                    await self._drop()
                    raise
                last = exc  # the link dropped while connecting: worth a retry
            await self._drop()
            if attempt + 1 < attempts:
                logger.info("connecting to %s failed (%s), retrying", self.address, last)
                await asyncio.sleep(0.5 * 2**attempt)
        raise TransportError(
            f"could not connect to the kit at {self.address} ({last}): check that it is "
            "switched on, charged, and within a few metres, then try again",
            self.address,
        )

    async def _connect_once(self) -> KitInfo:
        client = BleakClient(
            self.target,
            disconnected_callback=self._disconnected,
            timeout=self.timeout,
            pair=True,
            backend=self._backend,
        )
        self._client = client
        try:
            await client.connect()
        except BleakError as exc:
            if "pair" in str(exc).lower() or "authentic" in str(exc).lower():
                raise self._refused() from exc
            raise
        if not client.is_connected:
            raise self._refused()
        self.identity = client.address.upper()  # the bonded identity, once the stack has it
        try:
            model = (await client.read_gatt_char(MODEL_UUID)).decode(errors="replace")
            serial = (await client.read_gatt_char(SERIAL_UUID)).decode(errors="replace")
            firmware = (await client.read_gatt_char(FIRMWARE_UUID)).decode(errors="replace")
            await client.start_notify(CONTROL_UUID, self._control_notified)
            await client.start_notify(STATUS_UUID, self._status_notified)
            await client.start_notify(DATA_UUID, self._data_notified)
            await client.start_notify(BATTERY_LEVEL_UUID, self._battery_notified)
            self.status = decode_status(await client.read_gatt_char(STATUS_UUID))
        except BleakError as exc:
            if "encrypt" in str(exc).lower() or "authentic" in str(exc).lower():
                raise self._refused() from exc
            raise
        try:
            return await self.read_info(model, serial, firmware)
        except KitCommandError as exc:
            if exc.result == "NOT_AUTHORISED":  # connected but not bonded: it forgot us
                raise self._refused() from exc
            raise

    def _refused(self) -> PairingRefusedError:
        return PairingRefusedError(
            f"the kit at {self.address} refused to pair: press the kit's button (its light "
            "blinks for a minute), then connect again",
            self.address,
        )

    async def disconnect(self) -> None:
        """Close the link (the kit goes on sampling until told to stop)."""
        await self._drop()

    async def _drop(self, forget: bool = False) -> None:
        """Disconnect (``forget``: also delete this computer's keys for the kit)."""
        client, self._client = self._client, None
        if client is not None:
            try:
                await (client.unpair() if forget else client.disconnect())
            except (BleakError, TimeoutError, OSError) as exc:
                logger.debug("disconnect from %s: %s", self.address, exc)
        self._fail_waiting("the link to the kit dropped")

    # --- commands ---------------------------------------------------------------------
    async def command(self, request: bytes) -> cp.Response:
        """Write one command to the control point and wait for its response.

        Raises:
            KitCommandError: the kit refused it (with the reason and what to do).
            TransportError: no link, or no answer within the timeout.
        """
        client = self._client
        if client is None or not client.is_connected:
            raise TransportError("the kit is not connected: connect first", self.address)

        async def send(req: bytes) -> None:
            try:
                await client.write_gatt_char(CONTROL_UUID, req, response=True)
            except BleakError as exc:
                raise TransportError(f"command failed: {exc}", self.address) from exc

        return await self._exchange(request, send, "it may be out of range; move it closer")

    # --- notifications ----------------------------------------------------------------
    def _control_notified(self, _char: BleakGATTCharacteristic, data: bytearray) -> None:
        self._answered(bytes(data))

    def _status_notified(self, _char: BleakGATTCharacteristic, data: bytearray) -> None:
        try:
            self.status = decode_status(data)
        except Exception as exc:
            logger.warning("kit %s: %s", self.address, exc)
            return
        if self._on_status is not None:
            self._on_status(self.status)

    def _battery_notified(self, _char: BleakGATTCharacteristic, data: bytearray) -> None:
        if data:
            self.battery_percent = data[0]

    def _data_notified(self, _char: BleakGATTCharacteristic, data: bytearray) -> None:
        self.on_frame(bytes(data))

    def _disconnected(self, _client: BleakClient) -> None:
        self._fail_waiting("the link to the kit dropped")
        if self.on_disconnect is not None:
            self.on_disconnect()
