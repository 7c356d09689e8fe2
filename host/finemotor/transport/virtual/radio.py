"""The virtual radio: bumble controllers on one in-process link, plus the host's adapter.

A :class:`VirtualRadio` owns one bumble ``LocalLink`` and, on it, one central bumble
``Device`` that plays the host's Bluetooth adapter (scanning, connecting, pairing, its own
keystore). Peripherals join the same link with :meth:`VirtualRadio.add_peripheral`; the
bleak backend in this package drives the central. Everything runs in the asyncio loop that
started the radio.

The link also models what a real radio does to a kit that walks away: :meth:`VirtualRadio.cut`
takes a device out of range (no advertisements, no data) and drops its connections on both
ends, as a supervision timeout would.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Self

from bumble import hci
from bumble.controller import Controller
from bumble.device import Advertisement, Device, DeviceConfiguration
from bumble.host import Host
from bumble.keys import KeyStore, MemoryKeyStore
from bumble.link import LocalLink
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.transport.common import AsyncPipeSink, TransportSink, TransportSource

from finemotor.errors import TransportError
from finemotor.transport.virtual.link import AdapterController, VirtualLink

if TYPE_CHECKING:
    from finemotor.transport.virtual.client import VirtualBleakClient
    from finemotor.transport.virtual.scanner import VirtualBleakScanner

__all__ = [
    "CENTRAL_ADDRESS",
    "DEFAULT_MTU",
    "DEFAULT_RSSI",
    "LinkCut",
    "VirtualRadio",
    "normalize_address",
]

logger = logging.getLogger(__name__)

DEFAULT_RSSI = -60
"""Signal strength (dBm) reported for every advertiser unless set with ``set_rssi``."""

DEFAULT_MTU = 247
"""ATT MTU the adapter asks for right after connecting (244-byte notifications)."""

CENTRAL_ADDRESS = "C0:00:00:00:00:01"
"""Random static address of the host's adapter on the virtual link."""

_POWER_OFF = hci.HCI_ErrorCode.REMOTE_DEVICE_TERMINATED_CONNECTION_DUE_TO_POWER_OFF_ERROR

AdvertisementListener = Callable[[Advertisement], None]


def normalize_address(address: str) -> str:
    """Returns a Bluetooth address as bleak shows it: ``AA:BB:CC:DD:EE:FF``.

    Accepts lower case, ``-`` separators and bumble's ``/P`` public-address suffix.
    """
    text = address.split("/", 1)[0].strip().replace("-", ":").upper()
    parts = text.split(":")
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise TransportError(
            f"{address!r} is not a Bluetooth address: write it as six hex byte pairs, "
            "e.g. F0:12:34:56:78:9A",
            address,
        )
    try:
        bytes.fromhex("".join(parts))
    except ValueError:
        raise TransportError(
            f"{address!r} is not a Bluetooth address: only hex digits are allowed", address
        ) from None
    return text


@dataclasses.dataclass
class _Node:
    controller: Controller
    device: Device


class LinkCut:
    """One device out of range of the virtual link, until :meth:`restore`.

    Use it as a (sync or async) context manager to restore on exit, or await
    :meth:`wait_restored` when it was made with a duration.

    Attributes:
        address: the device taken out of range.
    """

    def __init__(self, radio: VirtualRadio, address: str) -> None:
        self._radio = radio
        self.address = address
        self._restored = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None

    @property
    def active(self) -> bool:
        """True while the device is still out of range because of this cut."""
        return not self._restored.is_set()

    def restore(self) -> None:
        """Brings the device back in range (idempotent). Connections stay dropped."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._restored.is_set():
            self._restored.set()
            self._radio._end_cut(self)

    async def wait_restored(self) -> None:
        """Waits until the device is back in range."""
        await self._restored.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.restore()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.restore()

    def __repr__(self) -> str:
        state = "active" if self.active else "restored"
        return f"LinkCut({self.address}, {state})"


_running: dict[asyncio.AbstractEventLoop, list[VirtualRadio]] = {}


class VirtualRadio:
    """Bluetooth LE in software: one bumble link, the host's adapter and the peripherals on it.

    Args:
        rssi: signal strength (dBm) reported for advertisers; ``set_rssi`` changes it per device.
        mtu: ATT MTU the adapter requests when it connects.
        central_address: the adapter's random static address.
        keystore: where the adapter keeps its bonds (a fresh in-memory store by default; a
            bumble ``JsonKeyStore`` keeps them across runs).
        supervision_timeout: seconds between a cut and both ends seeing the link drop.

    Example:
        >>> async with VirtualRadio() as radio:  # doctest: +SKIP
        ...     kit = await radio.add_peripheral("F0:00:00:00:00:02")
        ...     devices = await BleakScanner.discover(1.0, backend=radio.scanner_backend)
    """

    def __init__(
        self,
        *,
        rssi: int = DEFAULT_RSSI,
        mtu: int = DEFAULT_MTU,
        central_address: str = CENTRAL_ADDRESS,
        keystore: KeyStore | None = None,
        supervision_timeout: float = 0.0,
    ) -> None:
        self.default_rssi = rssi
        self.mtu = mtu
        self.central_address = normalize_address(central_address)
        self.supervision_timeout = supervision_timeout
        self._keystore = keystore
        self._rssi: dict[str, int] = {}
        self._link: VirtualLink | None = None
        self._central: _Node | None = None
        self._peripherals: dict[str, _Node] = {}
        self._bare: list[Controller] = []
        self._cuts: dict[Controller, list[LinkCut]] = {}
        self._losses: dict[tuple[str, str | None], int] = {}
        self.lost_notifications: list[bytes] = []
        """The notifications lost on command (:meth:`lose_notifications`), as sent."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scan_listeners: dict[object, tuple[AdvertisementListener, bool]] = {}
        self._scan_lock = asyncio.Lock()
        self._scanning: bool | None = None  # None: not scanning; else: active or not
        self.connect_lock = asyncio.Lock()
        """Held by a client while the adapter creates a connection (one at a time)."""
        self._next_peripheral = 2

    # Lifecycle

    async def start(self) -> None:
        """Creates the link and powers the adapter on (in the running loop)."""
        if self._link is not None:
            raise TransportError("This virtual radio is already running: start it once.")
        self._loop = asyncio.get_running_loop()
        self._link = VirtualLink()
        controller = AdapterController("adapter", self._link, self.rssi)
        device = self._make_device(controller, self.central_address, "finemotor host", None)
        device.keystore = self._keystore if self._keystore is not None else MemoryKeyStore()
        device.pairing_config_factory = lambda _connection: PairingConfig(
            sc=True,
            mitm=False,
            bonding=True,
            delegate=PairingDelegate(io_capability=PairingDelegate.IoCapability.NO_OUTPUT_NO_INPUT),
        )
        device.on(Device.EVENT_ADVERTISEMENT, self._on_advertisement)
        # Kits advertise resolvable private addresses. The bleak backends resolve them with
        # this adapter's resolving list (its keystore's IRKs: ``address_resolver``) and always
        # connect to the address being advertised, so bumble's own search for an identity's
        # RPA (a scan without a timeout) is left out; bumble still resolves a connection's
        # peer address on its side (``peer_address`` is then the kit's identity).
        device.address_resolution_offload = True
        await device.power_on()
        self._central = _Node(controller, device)
        _running.setdefault(self._loop, []).append(self)

    async def stop(self) -> None:
        """Ends every connection, silences every device and takes the link down."""
        if self._link is None:
            return
        link = self._link
        for cuts in list(self._cuts.values()):
            for cut in list(cuts):
                cut.restore()
        nodes = [*self._peripherals.values(), *([self._central] if self._central else [])]
        for node in nodes:
            link.drop_connections(node.controller, _POWER_OFF)
            self._silence(node.controller)
        for controller in self._bare:
            link.drop_connections(controller, _POWER_OFF)
            self._silence(controller)
        await asyncio.sleep(0)  # let the hosts hear about it
        for node in nodes:
            await self._power_off(node.device)
        for controller in [*(n.controller for n in nodes), *self._bare]:
            if controller in link.controllers:
                link.remove_controller(controller)
        self._peripherals.clear()
        self._bare.clear()
        self._central = None
        self._link = None
        self._scan_listeners.clear()
        self._scanning = None
        if self._loop is not None:
            radios = _running.get(self._loop, [])
            if self in radios:
                radios.remove(self)
            if not radios:
                _running.pop(self._loop, None)
        self._loop = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @classmethod
    def current(cls) -> VirtualRadio:
        """The one virtual radio running in this event loop.

        Raises:
            TransportError: none is running, or several are (then pass
                ``backend=radio.client_backend`` to say which).
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise TransportError(
                "The virtual radio works inside an asyncio event loop: call it from a coroutine."
            ) from None
        radios = _running.get(loop, [])
        if not radios:
            raise TransportError(
                "No virtual radio is running in this event loop: start one first with "
                "`async with VirtualRadio() as radio:`."
            )
        if len(radios) > 1:
            raise TransportError(
                f"{len(radios)} virtual radios are running in this event loop: say which with "
                "backend=radio.scanner_backend / backend=radio.client_backend."
            )
        return radios[0]

    # What other code needs

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._link is not None

    @property
    def link(self) -> LocalLink:
        """The bumble link every device of this radio is on."""
        return self._require_link()

    @property
    def central(self) -> Device:
        """The host adapter: the bumble central the bleak backend drives."""
        if self._central is None:
            raise TransportError("The virtual radio is not running: start it first.")
        return self._central.device

    @functools.cached_property
    def scanner_backend(self) -> type[VirtualBleakScanner]:
        """A ``BleakScanner`` backend class bound to this radio (for ``backend=``)."""
        from finemotor.transport.virtual.scanner import VirtualBleakScanner  # noqa: PLC0415

        return VirtualBleakScanner.bound_to(self)

    @functools.cached_property
    def client_backend(self) -> type[VirtualBleakClient]:
        """A ``BleakClient`` backend class bound to this radio (for ``backend=``)."""
        from finemotor.transport.virtual.client import VirtualBleakClient  # noqa: PLC0415

        return VirtualBleakClient.bound_to(self)

    async def add_peripheral(
        self,
        address: str | None = None,
        *,
        name: str = "virtual peripheral",
        config: DeviceConfiguration | None = None,
        power_on: bool = True,
    ) -> Device:
        """Puts a new bumble ``Device`` with its own controller on the link.

        The caller owns what the device does: GATT services, pairing config, advertising.

        Args:
            address: its random static address (two top bits set); a fresh one by default.
            name: its GAP device name.
            config: a bumble device configuration (address and name above take precedence).
            power_on: power the device on now; pass False to set its keystore or anything
                else that must be in place before ``await device.power_on()``.

        Returns:
            The device, powered on unless asked otherwise.
        """
        link = self._require_link()
        if address is None:
            n = self._next_peripheral
            address = f"F0:00:00:00:{n >> 8 & 0xFF:02X}:{n & 0xFF:02X}"
            self._next_peripheral += 1
        address = normalize_address(address)
        if address in self._peripherals or address == self.central_address:
            raise TransportError(
                f"{address} is already on the virtual link: give each device its own address.",
                address,
            )
        controller = Controller(f"peripheral {address}", link=link)
        device = self._make_device(controller, address, name, config)
        self._peripherals[address] = _Node(controller, device)
        if power_on:
            await device.power_on()
        return device

    async def remove_peripheral(self, device_or_address: Device | str) -> None:
        """Switches a peripheral off and takes it off the link; its links drop."""
        address = self._address_of(device_or_address)
        node = self._peripherals.pop(address, None)
        if node is None:
            raise TransportError(f"{address} is not a peripheral of this virtual radio.", address)
        link = self._require_link()
        link.drop_connections(node.controller)
        self._silence(node.controller)
        await asyncio.sleep(0)
        await self._power_off(node.device)
        link.remove_controller(node.controller)
        for cut in list(self._cuts.pop(node.controller, [])):
            cut.restore()

    def add_controller(
        self,
        name: str,
        *,
        host_source: TransportSource | None = None,
        host_sink: TransportSink | None = None,
    ) -> Controller:
        """Puts a bare controller on the link, for a bumble host that runs elsewhere.

        With a bumble transport, a host in another process joins the link over HCI::

            transport = await open_transport("tcp-server:127.0.0.1:9000")
            radio.add_controller("kit", host_source=transport.source, host_sink=transport.sink)

        and the other process opens ``tcp-client:127.0.0.1:9000`` for its ``Device``. The
        device appears on the link with the address its host sets; ``cut`` takes that address.

        Returns:
            The controller (take it off again with :meth:`remove_controller`).
        """
        controller = Controller(
            name, host_source=host_source, host_sink=host_sink, link=self._require_link()
        )
        self._bare.append(controller)
        return controller

    async def remove_controller(self, controller: Controller) -> None:
        """Takes a controller added with :meth:`add_controller` off the link; its links drop."""
        link = self._require_link()
        if controller not in self._bare:
            raise TransportError(
                f"{controller.name!r} was not added with add_controller: "
                "use remove_peripheral for peripherals."
            )
        self._bare.remove(controller)
        link.drop_connections(controller)
        self._silence(controller)
        link.remove_controller(controller)
        for cut in list(self._cuts.pop(controller, [])):
            cut.restore()

    @property
    def peripherals(self) -> dict[str, Device]:
        """The peripherals on the link, by address."""
        return {address: node.device for address, node in self._peripherals.items()}

    def rssi(self, address: str) -> int:
        """The RSSI (dBm) the adapter reports for ``address`` (a peripheral's own address, or
        the address it advertises from now)."""
        address = normalize_address(address)
        if address not in self._rssi:
            for identity, node in self._peripherals.items():
                if normalize_address(node.controller.random_address.to_string(False)) == address:
                    address = identity
                    break
        return self._rssi.get(address, self.default_rssi)

    def resolve(self, address: hci.Address) -> hci.Address | None:
        """The identity of a resolvable private ``address`` that the adapter's bonds resolve
        (the keystore's IRKs, as a computer's controller does), else None."""
        if self._central is None or not address.is_resolvable:
            return None
        resolver = self._central.device.address_resolver
        return None if resolver is None else resolver.resolve(address)

    def set_rssi(self, address: str, dbm: int) -> None:
        """Sets the RSSI (dBm) the adapter reports for ``address``."""
        self._rssi[normalize_address(address)] = int(dbm)

    # Link cuts

    def cut(self, address: str, seconds: float | None = None) -> LinkCut:
        """Takes a device out of range: the student walks off with the kit.

        From now on nothing it sends arrives and nothing reaches it; its connections drop on
        both ends after ``supervision_timeout`` (even if it is back in range by then), with
        reason "connection timeout". It comes
        back in range after ``seconds`` (if given) or on ``restore()``; it then has to
        advertise again and the host to reconnect, as with a real radio.

        Args:
            address: a peripheral's address or the adapter's (the host walks off).
            seconds: restore on its own after this long.

        Returns:
            The cut, to restore it, wait for its end, or use as a context manager.
        """
        link = self._require_link()
        address = normalize_address(address)
        controller = self._controller_of(address)
        cut = LinkCut(self, address)
        self._cuts.setdefault(controller, []).append(cut)
        link.out_of_range.add(controller)
        loop = asyncio.get_running_loop()

        doomed = list(controller.le_connections.values())  # not those made after the cut

        def drop() -> None:
            link.drop_connections(controller, only=doomed)

        if self.supervision_timeout > 0:
            loop.call_later(self.supervision_timeout, drop)
        else:
            drop()
        if seconds is not None:
            cut._timer = loop.call_later(seconds, cut.restore)
        return cut

    def lose_notifications(self, address: str, count: int, uuid: str | None = None) -> None:
        """The next ``count`` notifications from ``address`` (of characteristic ``uuid``, or
        any) are lost on the way to the host: the deterministic stand-in for a radio that
        drops packets in flight, so a test can make a hole where it wants one.

        Args:
            address: the peripheral's address.
            count: how many notifications to lose (added to any still pending).
            uuid: only notifications of this characteristic (any if None).
        """
        key = (normalize_address(address), uuid.lower() if uuid else None)
        self._losses[key] = self._losses.get(key, 0) + count

    def notification_lost(self, address: str, uuid: str, value: bytes) -> bool:
        """Whether the notification ``value`` that ``address`` just sent on ``uuid`` is one
        to lose (then it is kept in :attr:`lost_notifications`); the virtual client asks
        before delivering each notification."""
        address = normalize_address(address)
        for key in ((address, uuid.lower()), (address, None)):
            if self._losses.get(key, 0) > 0:
                self._losses[key] -= 1
                self.lost_notifications.append(bytes(value))
                return True
        return False

    def is_in_range(self, address: str) -> bool:
        """False while a cut keeps ``address`` out of range."""
        link = self._require_link()
        return self._controller_of(normalize_address(address)) not in link.out_of_range

    def _end_cut(self, cut: LinkCut) -> None:
        for controller, cuts in list(self._cuts.items()):
            if cut in cuts:
                cuts.remove(cut)
                if not cuts:
                    del self._cuts[controller]
                    if self._link is not None:
                        self._link.out_of_range.discard(controller)

    # Scanning, shared by every scanner of this radio

    async def add_scan_listener(
        self, token: object, listener: AdvertisementListener, *, active: bool = True
    ) -> None:
        """Starts delivering advertisements to ``listener`` (scanning starts if needed)."""
        async with self._scan_lock:
            self._scan_listeners[token] = (listener, active)
            await self._apply_scan()

    async def remove_scan_listener(self, token: object) -> None:
        """Stops delivering to the listener added with ``token`` (scanning stops if last)."""
        async with self._scan_lock:
            if self._scan_listeners.pop(token, None) is not None:
                await self._apply_scan()

    async def _apply_scan(self) -> None:
        if self._central is None:
            return
        device = self._central.device
        want: bool | None = None
        if self._scan_listeners:
            want = any(active for _, active in self._scan_listeners.values())
        if want == self._scanning:
            return
        if self._scanning is not None:
            await device.stop_scanning()
        if want is not None:
            await device.start_scanning(active=want, filter_duplicates=False)
        self._scanning = want

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        for listener, _ in list(self._scan_listeners.values()):
            listener(advertisement)

    # Helpers

    def _require_link(self) -> VirtualLink:
        if self._link is None:
            raise TransportError(
                "The virtual radio is not running: use `async with VirtualRadio() as radio:` "
                "or `await radio.start()` first."
            )
        return self._link

    def _controller_of(self, address: str) -> Controller:
        if self._central is not None and address == self.central_address:
            return self._central.controller
        node = self._peripherals.get(address)
        if node is not None:
            return node.controller
        for controller in self._bare:
            shown = (controller.random_address, controller.public_address)
            if any(normalize_address(a.to_string(False)) == address for a in shown):
                return controller
        known = ", ".join(sorted(self._peripherals)) or "none"
        raise TransportError(
            f"No device {address} on the virtual link (peripherals: {known}).", address
        )

    @staticmethod
    def _address_of(device_or_address: Device | str) -> str:
        if isinstance(device_or_address, str):
            return normalize_address(device_or_address)
        return normalize_address(device_or_address.static_address.to_string(False))

    @staticmethod
    def _make_device(
        controller: Controller, address: str, name: str, config: DeviceConfiguration | None
    ) -> Device:
        host = Host(controller, AsyncPipeSink(controller))
        return Device(
            name=name,
            address=hci.Address(address, hci.Address.RANDOM_DEVICE_ADDRESS),
            config=config,
            host=host,
        )

    @staticmethod
    def _silence(controller: Controller) -> None:
        controller.le_legacy_advertiser.stop()
        for adv_set in controller.advertising_sets.values():
            adv_set.stop()
        controller.le_scan_enable = False
        controller.pending_le_connection = None

    @staticmethod
    async def _power_off(device: Device) -> None:
        try:
            await device.power_off()
        except Exception as error:  # a device half set up by its owner
            logger.debug("power off of %s: %r", device, error)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"VirtualRadio({state}, peripherals={sorted(self._peripherals)})"
