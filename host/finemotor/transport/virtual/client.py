"""A bleak client backend that connects over the virtual radio's link."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ClassVar, TypeVar

from bleak import BleakScanner
from bleak.args import SizedBuffer
from bleak.assigned_numbers import CHARACTERISTIC_PROPERTIES, CharacteristicPropertyName
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import (
    PROTOCOL_ERROR_CODES,
    BleakDeviceNotFoundError,
    BleakError,
    BleakGATTProtocolError,
    BleakGATTProtocolErrorCode,
)
from bleak.uuids import normalize_uuid_str
from bumble import att, core, hci
from bumble.device import Connection, Peer
from bumble.gatt_client import CharacteristicProxy, ServiceProxy

from finemotor.errors import TransportError
from finemotor.transport.virtual.radio import VirtualRadio, normalize_address
from finemotor.transport.virtual.scanner import VirtualDeviceDetails

__all__ = [
    "VirtualBleakClient",
    "VirtualGATTProtocolError",
    "VirtualLinkError",
    "VirtualTimeoutError",
]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
_DEFAULT_MTU = 23
_CCCD = normalize_uuid_str("2902")
_BASE_UUID_TAIL = "-0000-1000-8000-00805f9b34fb"
_SECURITY_CODES = {
    BleakGATTProtocolErrorCode.INSUFFICIENT_AUTHENTICATION,
    BleakGATTProtocolErrorCode.INSUFFICIENT_ENCRYPTION,
    BleakGATTProtocolErrorCode.INSUFFICIENT_ENCRYPTION_KEY_SIZE,
}


class VirtualLinkError(TransportError, BleakError):
    """A bleak operation failed on the virtual link: not connected, link lost, pairing failed."""


class VirtualTimeoutError(TransportError, TimeoutError):
    """A connection or request on the virtual link took longer than allowed."""


class VirtualGATTProtocolError(BleakGATTProtocolError):
    """The peripheral answered with an ATT error (what bleak raises, plus the handle).

    Attributes:
        handle: the attribute handle the request was for.
    """

    def __init__(self, error_code: int, handle: int) -> None:
        super().__init__(error_code)
        self.handle = handle

    def __str__(self) -> str:
        name = PROTOCOL_ERROR_CODES.get(int(self.code), f"error 0x{int(self.code):02X}")
        text = f"GATT Protocol Error: {name} (handle 0x{self.handle:04X})"
        if self.code in _SECURITY_CODES:
            text += ": pair with the kit first (client.pair() while its pairing window is open)"
        return text


def _uuid_str(value: core.UUID) -> str:
    return str(uuid.UUID(bytes=bytes(reversed(value.uuid_128_bytes))))


def _bumble_uuid(value: str) -> core.UUID:
    """bleak's UUID string as bumble's, 16- or 32-bit when it is in the Bluetooth base."""
    text = normalize_uuid_str(value)
    if text.endswith(_BASE_UUID_TAIL):
        short = int(text[:8], 16)
        return core.UUID.from_16_bits(short) if short <= 0xFFFF else core.UUID.from_32_bits(short)
    return core.UUID(text)


_background: set[asyncio.Task[None]] = set()


def _in_background(coro: Coroutine[Any, Any, None]) -> None:
    task = asyncio.ensure_future(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)


async def _cancel_connecting(radio: VirtualRadio) -> None:
    """Cancels the adapter's pending connection attempt, so the next one is accepted."""
    if radio.running:
        with contextlib.suppress(hci.HCI_Error, core.BaseBumbleError):
            await radio.central.send_sync_command(hci.HCI_LE_Create_Connection_Cancel_Command())


def _property_names(properties: int) -> list[CharacteristicPropertyName]:
    return [name for bit, name in sorted(CHARACTERISTIC_PROPERTIES.items()) if properties & bit]


class VirtualBleakClient(BaseBleakClient):
    """``BleakClient`` backend for the virtual radio: pass it as ``backend=``.

    The radio is the one bound with :meth:`bound_to` (``radio.client_backend``), else the one
    the ``BLEDevice`` was found on, else the one radio running in the current event loop.
    On connect it re-encrypts with a stored bond, exchanges the MTU (``radio.mtu``), pairs if
    asked (``pair=True``) and discovers services, as the operating systems' stacks do.
    """

    radio: ClassVar[VirtualRadio | None] = None
    """The radio this class is bound to; None: found from the device or the running loop."""

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = 10.0,
        services: set[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        self.address = normalize_address(self.address)
        self._details: VirtualDeviceDetails | None = None
        self._device: BLEDevice | None = None  # its name follows the scanner's updates
        if isinstance(address_or_ble_device, BLEDevice):
            self._device = address_or_ble_device
            if isinstance(address_or_ble_device.details, VirtualDeviceDetails):
                self._details = address_or_ble_device.details
        self._service_filter = services
        self._radio_in_use: VirtualRadio | None = None
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._lost: asyncio.Future[int] | None = None
        self._subscribers: dict[int, Callable[[bytes], None]] = {}

    @classmethod
    def bound_to(cls, radio: VirtualRadio) -> type[VirtualBleakClient]:
        """A subclass that always connects through ``radio``."""
        return type(cls.__name__, (cls,), {"radio": radio, "__module__": cls.__module__})

    # Properties

    @property
    def name(self) -> str:
        """The name the kit advertised, else its address with dashes."""
        name = self._device.name if self._device is not None else None
        return name or self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        """The negotiated ATT MTU (23 until the exchange, or when not connected)."""
        if self._connection is None:
            return _DEFAULT_MTU
        return int(self._connection.att_mtu)

    @property
    def is_connected(self) -> bool:
        """True while the link is up."""
        return self._connection is not None and self._lost is not None and not self._lost.done()

    # Connection

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        """Connects, re-encrypts a bonded link, exchanges the MTU and discovers services.

        Args:
            pair: pair (and bond) after connecting unless already bonded.
            **kwargs: ``timeout`` overrides the client's timeout (seconds).

        Raises:
            BleakDeviceNotFoundError: nothing advertises at this address on the virtual link.
            VirtualTimeoutError: the kit did not answer within the timeout.
            VirtualLinkError: the link dropped while connecting, or pairing failed.
        """
        if self.is_connected:
            return
        timeout = float(kwargs.get("timeout", self._timeout))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        radio = self._resolve_radio()
        target = await self._find(radio, timeout)
        async with radio.connect_lock:
            remaining = max(deadline - loop.time(), 0.001)
            try:
                # bumble bounds the connection attempt but not every step before it.
                connection = await asyncio.wait_for(
                    radio.central.connect(target, timeout=remaining), remaining + 0.5
                )
            except asyncio.CancelledError:
                _in_background(_cancel_connecting(radio))
                raise
            except (core.TimeoutError, TimeoutError):
                _in_background(_cancel_connecting(radio))
                raise VirtualTimeoutError(
                    f"Could not connect to {self.address} within {timeout:.1f} s: the kit "
                    "stopped advertising or is out of range; check it is on and retry.",
                    self.address,
                ) from None
            except core.ConnectionError as error:
                raise VirtualLinkError(
                    f"Could not connect to {self.address}: {error}. Retry; if it persists, "
                    "restart the kit.",
                    self.address,
                ) from error
        self._radio_in_use = radio
        self._connection = connection
        self._peer = Peer(connection)
        self._lost = loop.create_future()
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        try:
            async with asyncio.timeout(max(deadline - loop.time(), 0.001)):
                bonded = await self._bonded(radio, connection)
                if bonded:
                    await self._encrypt(connection)
                await self._gatt(self._peer.request_mtu(radio.mtu), "the MTU exchange")
                if pair and not bonded:
                    await self.pair()
                self.services = await self._discover(self._peer)
            self._learn_identity(connection)
        except TimeoutError:
            await self._abandon(connection)
            raise VirtualTimeoutError(
                f"{self.address} connected but did not finish setting up within "
                f"{timeout:.1f} s; disconnected. Retry with a longer timeout.",
                self.address,
            ) from None
        except BaseException:
            await self._abandon(connection)
            raise

    async def disconnect(self) -> None:
        """Disconnects (does nothing when not connected)."""
        connection = self._connection
        if connection is None or not self.is_connected:
            return
        try:
            async with asyncio.timeout(5.0):
                await connection.disconnect()
        except (hci.HCI_Error, core.BaseBumbleError) as error:
            logger.debug("disconnect from %s: %r", self.address, error)
        except TimeoutError:
            raise VirtualTimeoutError(
                f"{self.address} did not confirm the disconnection within 5 s.", self.address
            ) from None

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        """Pairs with LE Secure Connections ("Just Works") and bonds.

        The keys go to the radio's keystore: the next connection re-encrypts without pairing.

        Raises:
            VirtualLinkError: not connected, the kit refused (its pairing window is closed)
                or dropped the link.
        """
        connection = self._require_connection("pair")
        radio = self._radio_in_use or self._resolve_radio()
        if connection.is_encrypted and await self._bonded(radio, connection):
            return
        try:
            await self._gatt(connection.pair(), "pairing")
        except (core.ProtocolError, hci.HCI_Error) as error:
            raise VirtualLinkError(
                f"Pairing with {self.address} failed ({error}): open the kit's pairing window "
                "(short press on its button) and try again.",
                self.address,
            ) from error
        self._learn_identity(connection)

    def _learn_identity(self, connection: Connection) -> None:
        """From a resolved RPA (bonded) or the identity a pairing gave, the device's address
        is its identity, as the operating systems show a bonded device."""
        if connection.peer_resolvable_address is not None:
            self.address = normalize_address(connection.peer_address.to_string(False))

    async def unpair(self) -> None:
        """Forgets the bond with this kit and disconnects from it."""
        radio = self._radio_in_use or self._resolve_radio()
        keystore = radio.central.keystore
        if keystore is not None:
            # The bond is kept under the identity: this client's address, or what it resolves to.
            names = {self.address}
            identity = radio.resolve(hci.Address(self.address, hci.Address.RANDOM_DEVICE_ADDRESS))
            if identity is not None:
                names.add(normalize_address(identity.to_string(False)))
            for name, _keys in await keystore.get_all():
                if normalize_address(name) in names:
                    await keystore.delete(name)
            await radio.central.refresh_resolving_list()
        await self.disconnect()

    # GATT

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        """Reads a characteristic's value (``use_cached``: the last value read or notified)."""
        return await self._read(characteristic.handle, use_cached, f"read of {characteristic}")

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        """Reads a descriptor's value."""
        return await self._read(descriptor.handle, use_cached, f"read of {descriptor}")

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        """Writes a characteristic, with (request) or without (command) response."""
        peer = self._require_peer("write_gatt_char")
        await self._gatt(
            peer.write_value(characteristic.handle, bytes(data), with_response=response),
            f"write to {characteristic}",
        )

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        """Writes a descriptor (with response)."""
        peer = self._require_peer("write_gatt_descriptor")
        await self._gatt(
            peer.write_value(descriptor.handle, bytes(data), with_response=True),
            f"write to {descriptor}",
        )

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        """Subscribes (notifications preferred over indications) and routes values to callback."""
        peer = self._require_peer("start_notify")
        props = characteristic.properties
        if "notify" not in props and "indicate" not in props:
            raise VirtualLinkError(
                f"{characteristic} can neither notify nor indicate: read it instead.",
                self.address,
            )
        if characteristic.get_descriptor(_CCCD) is None:
            raise VirtualLinkError(
                f"{characteristic} has no Client Characteristic Configuration descriptor: "
                "the kit's GATT table is wrong.",
                self.address,
            )
        proxy: CharacteristicProxy[bytes] = characteristic.obj
        previous = self._subscribers.pop(characteristic.handle, None)
        if previous is not None:
            peer.gatt_client.notification_subscribers.get(proxy.handle, set()).discard(previous)
            peer.gatt_client.indication_subscribers.get(proxy.handle, set()).discard(previous)

        radio, uuid = self._radio_in_use, characteristic.uuid

        def on_value(value: bytes) -> None:
            if radio is not None and radio.notification_lost(self.address, uuid, value):
                return  # lost in flight, on the test's command
            callback(bytearray(value))

        self._subscribers[characteristic.handle] = on_value
        await self._gatt(peer.subscribe(proxy, on_value, prefer_notify=True), "subscription")

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        """Unsubscribes."""
        peer = self._require_peer("stop_notify")
        subscriber = self._subscribers.pop(characteristic.handle, None)
        if subscriber is None:
            return
        proxy: CharacteristicProxy[bytes] = characteristic.obj
        await self._gatt(peer.unsubscribe(proxy, subscriber), "unsubscription")

    # Internals

    def _resolve_radio(self) -> VirtualRadio:
        radio = type(self).radio
        if radio is not None:
            return radio
        if self._details is not None and self._details.radio.running:
            return self._details.radio
        return VirtualRadio.current()

    async def _find(self, radio: VirtualRadio, timeout: float) -> hci.Address:
        """The bumble address to connect to: from the BLEDevice, else a scan for it.

        A resolvable private address is good only until the device renews it, so a device
        seen with one is looked for again, by its identity once the adapter's bonds resolve
        it (as a computer's controller connects to a bonded device whatever its address).
        """
        details = self._details
        if details is not None and details.radio is radio and not details.address.is_resolvable:
            return details.address
        wanted = self.address
        rpa = hci.Address(wanted, hci.Address.RANDOM_DEVICE_ADDRESS)
        identity = radio.resolve(rpa)
        if identity is not None:
            wanted = normalize_address(identity.to_string(False))
        device = await BleakScanner.find_device_by_address(
            wanted, timeout=timeout, backend=radio.scanner_backend
        )
        if device is None or not isinstance(device.details, VirtualDeviceDetails):
            raise BleakDeviceNotFoundError(
                self.address,
                f"No kit advertises as {self.address} on the virtual link (waited "
                f"{timeout:.1f} s): check it is on, in range, and not connected elsewhere.",
            )
        self._details = device.details
        if self._device is None or not self._device.name:
            self._device = device
        return device.details.address

    @staticmethod
    async def _bonded(radio: VirtualRadio, connection: Connection) -> bool:
        keystore = radio.central.keystore
        if keystore is None:
            return False
        return await keystore.get(str(connection.peer_address)) is not None

    async def _encrypt(self, connection: Connection) -> None:
        """Re-encrypts with the stored bond; a kit that forgot it leaves the link plain."""
        try:
            await self._gatt(connection.encrypt(), "encryption")
        except (hci.HCI_Error, core.BaseBumbleError) as error:
            logger.warning(
                "%s did not accept the stored bond (%s): the link stays unencrypted; "
                "unpair() and pair() again.",
                self.address,
                error,
            )

    async def _discover(self, peer: Peer) -> BleakGATTServiceCollection:
        wanted = [_bumble_uuid(u) for u in self._service_filter] if self._service_filter else []
        services: list[ServiceProxy] = await self._gatt(
            peer.discover_services(wanted), "service discovery"
        )
        collection = BleakGATTServiceCollection()
        for service in services:
            bleak_service = BleakGATTService(service, service.handle, _uuid_str(service.uuid))
            collection.add_service(bleak_service)
            characteristics = await self._gatt(
                peer.discover_characteristics(service=service), "characteristic discovery"
            )
            for char in characteristics:
                bleak_char = BleakGATTCharacteristic(
                    char,
                    char.handle,
                    _uuid_str(char.uuid),
                    _property_names(int(char.properties)),
                    lambda: self.mtu_size - 3,
                    bleak_service,
                )
                collection.add_characteristic(bleak_char)
                descriptors = await self._gatt(
                    peer.discover_descriptors(characteristic=char), "descriptor discovery"
                )
                for descriptor in descriptors:
                    collection.add_descriptor(
                        BleakGATTDescriptor(
                            descriptor, descriptor.handle, _uuid_str(descriptor.type), bleak_char
                        )
                    )
        return collection

    async def _read(self, handle: int, use_cached: bool, what: str) -> bytearray:
        peer = self._require_peer(what)
        if use_cached:
            cached = peer.gatt_client.cached_values.get(handle)
            if cached is not None:
                return bytearray(cached[1])
        value = await self._gatt(peer.read_value(handle), what)
        return bytearray(value)

    async def _gatt(self, awaitable: Awaitable[_T], what: str) -> _T:
        """Awaits a bumble request, turning link loss and ATT errors into bleak's errors."""
        lost = self._lost
        if lost is None or lost.done():
            raise self._not_connected(what)
        task = asyncio.ensure_future(awaitable)
        try:
            waiters: list[asyncio.Future[Any]] = [task, lost]
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        if task.cancelled() or (lost.done() and not task.done()):
            raise VirtualLinkError(
                f"The link to {self.address} dropped during {what}: reconnect and retry.",
                self.address,
            )
        try:
            return task.result()
        except att.ATT_Error as error:
            handle = getattr(error.message, "attribute_handle_in_error", error.att_handle)
            raise VirtualGATTProtocolError(error.error_code, int(handle)) from error
        except core.TimeoutError as error:
            raise VirtualTimeoutError(
                f"{self.address} did not answer the {what} in time: the kit may be stuck.",
                self.address,
            ) from error

    def _on_disconnection(self, reason: int) -> None:
        lost = self._lost
        if lost is not None and not lost.done():
            lost.set_result(reason)
        logger.debug("%s disconnected (HCI reason 0x%02X)", self.address, reason)
        self._connection = None
        self._peer = None
        self.services = None
        self._subscribers.clear()
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    async def _abandon(self, connection: Connection) -> None:
        """Drops a connection whose set-up failed."""
        if self.is_connected:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await connection.disconnect()

    def _require_connection(self, what: str) -> Connection:
        if self._connection is None or not self.is_connected:
            raise self._not_connected(what)
        return self._connection

    def _require_peer(self, what: str) -> Peer:
        self._require_connection(what)
        assert self._peer is not None
        return self._peer

    def _not_connected(self, what: str) -> VirtualLinkError:
        return VirtualLinkError(
            f"Not connected to {self.address} ({what}): connect first.", self.address
        )
