"""The kit's radio: MicroPython's ``bluetooth`` API served to a firmware process.

A simulated kit runs its firmware under the MicroPython unix port, where
``firmware/sim/bluetooth.py`` stands in for the ``bluetooth`` module and forwards every call to
a :class:`KitBridge` over a TCP socket on 127.0.0.1. The bridge puts a bumble peripheral
``Device`` on the virtual radio's link for it and maps the API onto bumble:

- ``gatts_register_services``: bumble services with the same order and handle semantics
  (value handles, characteristics and descriptors flattened per service); the
  ``FLAG_*_ENCRYPTED``/``AUTHENTICATED`` bits become bumble's encryption/authentication
  permissions, so bumble itself answers an unpaired central with an ATT error;
- values: a central's writes are cut to the value's buffer (20 bytes unless set or written
  locally, append mode as ``gatts_set_buffer`` says) and reach the firmware as
  ``_IRQ_GATTS_WRITE``; ``gatts_notify``/``gatts_indicate`` go out whether or not the central
  subscribed, as MicroPython documents;
- ``gap_advertise``: raw advertising and scan response bytes, no restart after a connection,
  from the address the firmware's stack uses (``config(addr_mode=2)``: a resolvable private
  address the stand-in renews; the bumble device's identity stays its static address);
- security: pairing as ``config(bond=, le_secure=, mitm=, io=)`` says; bonds live in the
  firmware's store, through ``_IRQ_GET_SECRET``/``_IRQ_SET_SECRET``, so the firmware decides
  which bond is kept (:mod:`finemotor.transport.virtual.security`, records in
  :mod:`finemotor.transport.virtual.bond`). As on NimBLE, ``_IRQ_ENCRYPTION_UPDATE`` for a
  pairing comes after its keys were offered to the store. The kit's IRK (loaded by the
  stand-in from the firmware's store) is the bumble device's ``irk``: SMP hands it and the
  identity address to the central.

The frames and their opcodes are in :mod:`finemotor.transport.virtual.wire`, the payloads in
docs/virtual-radio.md, "The kit's side". :class:`finemotor.transport.virtual.simkit.SimKit`
starts a bridge and the firmware process together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from bumble import hci
from bumble.att import ATT_Error, Attribute, ErrorCode
from bumble.core import UUID
from bumble.device import AdvertisingType, Connection, Device
from bumble.gatt import Characteristic, CharacteristicValue, Descriptor, Service
from bumble.keys import PairingKeys
from bumble.pairing import PairingConfig

from finemotor.errors import TransportError
from finemotor.transport.virtual.radio import VirtualRadio
from finemotor.transport.virtual.security import FirmwareKeyStore, FirmwarePairingDelegate
from finemotor.transport.virtual.wire import (
    CALL_ANSWERS,
    Opcode,
    address_bytes,
    frame,
    read_frame,
)

__all__ = ["DEFAULT_BUFFER", "KitBridge"]

logger = logging.getLogger(__name__)

DEFAULT_BUFFER = 20
"""Bytes a characteristic's value takes from a central until the firmware sets or writes more."""

_DEFAULT_MTU = 256  # MicroPython's NimBLE preferred ATT MTU until config(mtu=...)

# Characteristic/descriptor flags of MicroPython's bluetooth module.
_F_READ = 0x0002
_F_WRITE_NO_RESPONSE = 0x0004
_F_WRITE = 0x0008
_F_READ_ENC = 0x0200
_F_READ_AUTHEN = 0x0400
_F_READ_AUTHOR = 0x0800
_F_WRITE_ENC = 0x1000
_F_WRITE_AUTHEN = 0x2000
_F_WRITE_AUTHOR = 0x4000

_Perm = Attribute.Permissions


def _permissions(flags: int) -> Attribute.Permissions:
    """bumble permissions for MicroPython flags (readable/writable are checked by the bridge)."""
    perm = _Perm.READABLE | _Perm.WRITEABLE
    for bit, p in (
        (_F_READ_ENC, _Perm.READ_REQUIRES_ENCRYPTION),
        (_F_READ_AUTHEN, _Perm.READ_REQUIRES_AUTHENTICATION),
        (_F_READ_AUTHOR, _Perm.READ_REQUIRES_AUTHORIZATION),
        (_F_WRITE_ENC, _Perm.WRITE_REQUIRES_ENCRYPTION),
        (_F_WRITE_AUTHEN, _Perm.WRITE_REQUIRES_AUTHENTICATION),
        (_F_WRITE_AUTHOR, _Perm.WRITE_REQUIRES_AUTHORIZATION),
    ):
        if flags & bit:
            perm |= p
    return perm


@dataclass
class _Link:
    """What the bridge tracks per connection."""

    connection: Connection
    settled: asyncio.Event = field(default_factory=asyncio.Event)  # no pairing half done
    pairing: bool = False
    deferred: bool = False  # an encryption change waits for the pairing's end
    bonded: bool = False
    authenticated: bool = False


@dataclass
class _Value:
    """A characteristic's or descriptor's value as the firmware's stack holds it."""

    flags: int
    attribute: Characteristic[bytes] | Descriptor | None = None
    value: bytes = b""
    size: int = DEFAULT_BUFFER
    append: bool = False


class KitBridge:
    """Serves MicroPython's ``bluetooth`` API to one firmware process, on a bumble peripheral.

    Args:
        radio: the running virtual radio the kit joins.
        address: the kit's random static address (a fresh one from the radio by default).
        name: the bumble device's name (the GAP name the firmware sets wins).
        reply_timeout: seconds to wait for the firmware to answer a secret or passkey request.

    Example:
        >>> bridge = KitBridge(radio)  # doctest: +SKIP
        >>> port = await bridge.start()  # the firmware calls bluetooth.connect_bridge(.., port)
        >>> await bridge.wait_advertising(10.0)
    """

    def __init__(
        self,
        radio: VirtualRadio,
        *,
        address: str | None = None,
        name: str = "finemotor kit",
        reply_timeout: float = 5.0,
    ) -> None:
        self.radio = radio
        self.name = name
        self.reply_timeout = reply_timeout
        self._wanted_address = address
        self.device: Device | None = None
        """The kit's bumble device, once the firmware connected."""
        self._server: asyncio.Server | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._replies: dict[int, asyncio.Future[bytes]] = {}
        self._next_request = 0
        self._passkeys: dict[int, asyncio.Future[int]] = {}
        self._values: dict[int, _Value] = {}
        self._links: dict[int, _Link] = {}
        self._powered = False
        self._base: tuple[int, int] | None = None  # the GATT server's size before ours
        self._adv = b""
        self._resp = b""
        self._adv_params: tuple[AdvertisingType, float] | None = None  # while advertising
        self._config: dict[str, Any] = {
            "mtu": _DEFAULT_MTU,
            "bond": False,
            "le_secure": False,
            "mitm": False,
            "io": 3,
        }
        self._advertising = asyncio.Event()
        self._session_over = asyncio.Event()
        self.notifications = 0
        """Notifications and indications the firmware sent."""

    # Lifecycle

    @property
    def port(self) -> int:
        """TCP port on 127.0.0.1 that the firmware connects to."""
        if self._server is None:
            raise TransportError("The kit bridge is not started: await bridge.start() first.")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def address(self) -> str:
        """The kit's Bluetooth address on the virtual link."""
        if self.device is None:
            raise TransportError("No firmware has connected to this kit bridge yet.")
        return str(self.device.static_address.to_string(False))

    @property
    def advertised_address(self) -> str:
        """The address the kit advertises from now (a resolvable private one once the
        firmware asked for privacy; else :attr:`address`)."""
        if self.device is None:
            raise TransportError("No firmware has connected to this kit bridge yet.")
        return str(self.device.random_address.to_string(False))

    @property
    def connected(self) -> bool:
        """True while a firmware process is connected."""
        return self._writer is not None and not self._session_over.is_set()

    async def start(self) -> int:
        """Listens on 127.0.0.1 (a free port) for the firmware; returns the port."""
        if self._server is not None:
            raise TransportError("This kit bridge is already started: start it once.")
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.port

    async def wait_advertising(self, timeout: float) -> None:
        """Waits until the firmware advertises for the first time.

        Raises:
            TransportError: the firmware went away first, or did not advertise in time.
        """
        advertising = asyncio.ensure_future(self._advertising.wait())
        over = asyncio.ensure_future(self._session_over.wait())
        try:
            await asyncio.wait({advertising, over}, timeout=timeout, return_when="FIRST_COMPLETED")
        finally:
            advertising.cancel()
            over.cancel()
        if not self._advertising.is_set():
            what = "disconnected" if self._session_over.is_set() else "did not advertise"
            raise TransportError(f"The kit's firmware {what} within {timeout:.0f} s.")

    async def wait_closed(self) -> None:
        """Waits until the firmware's connection is over."""
        await self._session_over.wait()

    async def close(self) -> None:
        """Stops listening, drops the firmware's connection and takes the kit off the link."""
        if self._server is not None:
            self._server.close()
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await self._session_over.wait()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._server.wait_closed()
        await self._remove_device()

    # Simulation controls

    def press_button(self, ms: int) -> None:
        """Presses the kit's button for ``ms`` milliseconds (60 s pairing window if short)."""
        self._send(Opcode.BUTTON, struct.pack("<I", ms))

    def set_battery_mv(self, mv: int) -> None:
        """Sets the kit's cell voltage in millivolts."""
        self._send(Opcode.BATTERY, struct.pack("<I", mv))

    def apply_load(self, newtons: float | None) -> None:
        """Sets the simulated load rig's force on the sensor (None hands it back to the
        student)."""
        mn = 0xFFFFFFFF if newtons is None else max(0, min(0xFFFFFFFE, round(newtons * 1000)))
        self._send(Opcode.LOAD, struct.pack("<I", mn))

    def dump_truth(self) -> None:
        """Asks the firmware to write its world's hidden truth to ``truth.json``."""
        self._send(Opcode.TRUTH, struct.pack("<I", 0))

    def renew_address(self) -> None:
        """Makes the kit's stack renew its resolvable private address now (what its controller
        does every 15 minutes)."""
        self._send(Opcode.RENEW_ADDRESS, b"")

    def quit(self) -> None:
        """Asks the firmware process to exit (it raises ``SystemExit(0)``)."""
        self._send(Opcode.QUIT, b"")

    # Requests to the firmware (answered from its irq handler)

    async def get_secret(self, sec_type: int, index: int, key: bytes | None) -> bytes | None:
        """``_IRQ_GET_SECRET``: the firmware's stored value, or None."""
        payload = bytes((sec_type, index & 0xFF, 0 if key is None else 1)) + (key or b"")
        answer = await self._request(Opcode.GET_SECRET, payload)
        if answer is None or not answer or not answer[0]:
            return None
        return answer[1:]

    async def set_secret(self, sec_type: int, key: bytes, value: bytes | None) -> bool:
        """``_IRQ_SET_SECRET`` (value None deletes): True if the firmware stored it."""
        payload = bytes((sec_type, len(key))) + key
        payload += b"\0" if value is None else b"\1" + value
        answer = await self._request(Opcode.SET_SECRET, payload)
        return bool(answer and answer[0])

    async def passkey_action(self, connection: Connection, action: int, passkey: int) -> int | None:
        """``_IRQ_PASSKEY_ACTION``: the firmware's ``gap_passkey`` answer, or None."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._passkeys[connection.handle] = future
        self._send(Opcode.PASSKEY_ACTION, struct.pack("<HBI", connection.handle, action, passkey))
        try:
            async with asyncio.timeout(30.0):
                return await future
        except TimeoutError:
            return None
        finally:
            self._passkeys.pop(connection.handle, None)

    def bond_offered(self, name: str, accepted: bool) -> None:
        """Notes whether the firmware kept a new bond (the keystore tells after pairing)."""
        for link in self._links.values():
            if str(link.connection.peer_address) == name:
                link.bonded = accepted
        if not accepted:
            logger.info("the kit refused the bond with %s", name)

    async def _request(self, typ: Opcode, payload: bytes) -> bytes | None:
        if not self.connected:
            return None
        request = self._next_request
        self._next_request = (request + 1) & 0xFF
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._replies[request] = future
        self._send(typ, bytes((request,)) + payload)
        try:
            async with asyncio.timeout(self.reply_timeout):
                return await future
        except TimeoutError:
            logger.warning("the kit's firmware did not answer request %r in time", chr(typ))
            return None
        finally:
            self._replies.pop(request, None)

    def _send(self, opcode: Opcode, payload: bytes) -> None:
        data = frame(opcode, payload)
        if self._writer is None or self._session_over.is_set():
            raise TransportError(
                "The kit's firmware is not connected to its bridge (it has exited or not "
                "started): start the simulated kit again."
            )
        self._writer.write(data)

    # The firmware's connection

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._writer is not None:
            logger.warning("a second firmware tried to use this kit bridge: refused")
            writer.close()
            return
        self._writer = writer
        sock = writer.get_extra_info("socket")
        if sock is not None:  # small frames both ways: no Nagle delay
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        worker = asyncio.create_task(self._work())
        try:
            while True:
                typ, payload = await read_frame(reader)
                if typ == Opcode.SECRET_ANSWER:  # a secret answered: request id, result
                    future = self._replies.get(payload[0]) if payload else None
                    if future is not None and not future.done():
                        future.set_result(payload[1:])
                elif typ == Opcode.PASSKEY:  # gap_passkey(conn, action, passkey)
                    conn, _action, passkey = struct.unpack("<HBI", payload)
                    pending = self._passkeys.get(conn)
                    if pending is not None and not pending.done():
                        pending.set_result(passkey)
                else:
                    self._queue.put_nowait((typ, payload))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._session_over.set()
            self._queue.put_nowait(None)
            for future in self._replies.values():
                if not future.done():
                    future.cancel()
            with contextlib.suppress(Exception):
                await worker
            writer.close()
            await self._remove_device()

    async def _work(self) -> None:
        """Runs the firmware's calls in order."""
        while (item := await self._queue.get()) is not None:
            typ, payload = item
            try:
                await self._call(typ, payload)
            except Exception:
                logger.exception("kit bridge: the firmware's call %r failed", chr(typ))
                answer = CALL_ANSWERS.get(typ)
                if answer is not None:  # an empty answer: the call raises OSError
                    self._send(answer, b"")

    async def _call(self, typ: int, p: bytes) -> None:
        handler = self._calls.get(typ)
        if handler is None:
            logger.warning("kit bridge: unknown call %r from the firmware", chr(typ))
            return
        await handler(self, p)

    async def _hello(self, _p: bytes) -> None:
        device = await self.radio.add_peripheral(
            self._wanted_address, name=self.name, power_on=False
        )
        self.device = device
        device.keystore = FirmwareKeyStore(self)
        device.pairing_config_factory = self._pairing_config
        device.gatt_server.max_mtu = _DEFAULT_MTU
        device.on(Device.EVENT_CONNECTION, self._on_connection)
        self._send(Opcode.HELLO_ANSWER, address_bytes(device.static_address))

    async def _active(self, p: bytes) -> None:
        device = self._device()
        if p[0] and not self._powered:
            await device.power_on()
            self._powered = True
        elif not p[0]:
            await device.stop_advertising()
            for link in list(self._links.values()):
                self._spawn(link.connection.disconnect())
        self._send(Opcode.ACTIVE_ANSWER, b"\1")

    async def _configure(self, p: bytes) -> None:
        mtu, bond, le_secure, mitm, io = struct.unpack_from("<HBBBB", p)
        self._config.update(mtu=mtu, bond=bool(bond), le_secure=bool(le_secure))
        self._config.update(mitm=bool(mitm), io=io)
        device = self._device()
        device.gatt_server.max_mtu = max(23, mtu)
        if len(p) > 6:
            device.name = p[6:].decode("utf-8", "replace")

    async def _register(self, p: bytes) -> None:
        device = self._device()
        server = device.gatt_server
        if self._base is None:
            self._base = (len(server.attributes), len(server.services))
        else:  # gatts_register_services replaces the services registered before
            server.attributes = server.attributes[: self._base[0]]
            server.services = server.services[: self._base[1]]
            server.attributes_by_handle = {}
            self._values.clear()
        reply = bytearray((p[0],))
        i = 1

        def uuid() -> UUID:
            nonlocal i
            n = p[i]
            u = UUID.from_bytes(p[i + 1 : i + 1 + n])
            i += 1 + n
            return u

        for _ in range(p[0]):
            service_uuid = uuid()
            n_chars = p[i]
            i += 1
            chars: list[Characteristic[bytes]] = []
            values: list[_Value] = []
            for _ in range(n_chars):
                char_uuid = uuid()
                flags, n_desc = struct.unpack_from("<HB", p, i)
                i += 3
                v = _Value(flags)
                descs: list[tuple[Descriptor, _Value]] = []
                for _ in range(n_desc):
                    desc_uuid = uuid()
                    dv = _Value(struct.unpack_from("<H", p, i)[0])
                    i += 2
                    dv.attribute = Descriptor(desc_uuid, _permissions(dv.flags), self._value_of(dv))
                    descs.append((dv.attribute, dv))
                characteristic: Characteristic[bytes] = Characteristic(
                    char_uuid,
                    Characteristic.Properties(flags & 0xFF),
                    _permissions(flags),
                    self._value_of(v),
                    descriptors=[d for d, _ in descs],
                )
                v.attribute = characteristic
                chars.append(characteristic)
                values += [v, *(dv for _, dv in descs)]
            device.add_service(Service(service_uuid, chars))
            handles = [v.attribute.handle for v in values if v.attribute is not None]
            for v in values:
                if v.attribute is not None:
                    self._values[v.attribute.handle] = v
            reply.append(len(handles))
            reply += struct.pack(f"<{len(handles)}H", *handles)
        self._send(Opcode.REGISTER_ANSWER, bytes(reply))

    async def _write_local(self, p: bytes) -> None:
        handle, send_update = struct.unpack_from("<HB", p)
        v = self._values.get(handle)
        if v is None:
            return
        v.value = p[3:]
        v.size = max(v.size, len(v.value))
        if send_update and self.device is not None and v.attribute is not None:
            self._spawn(self.device.notify_subscribers(v.attribute, v.value))
            self._spawn(self.device.indicate_subscribers(v.attribute, v.value))

    async def _set_buffer(self, p: bytes) -> None:
        handle, size, append = struct.unpack("<HHB", p)
        v = self._values.get(handle)
        if v is not None:
            v.size, v.append = size, bool(append)

    async def _notify(self, p: bytes) -> None:
        conn, handle, kind = struct.unpack_from("<HHB", p)
        v = self._values.get(handle)
        link = self._links.get(conn)
        if v is None or v.attribute is None or link is None or self.device is None:
            return
        self.notifications += 1
        if kind == 0:
            await self.device.notify_subscriber(link.connection, v.attribute, p[5:], force=True)
        else:
            self._spawn(self._indicate(link.connection, handle, v, p[5:]))

    async def _indicate(self, connection: Connection, handle: int, v: _Value, data: bytes) -> None:
        status = 0
        try:
            if self.device is not None and v.attribute is not None:
                await self.device.indicate_subscriber(connection, v.attribute, data, force=True)
        except Exception as error:
            logger.debug("indication on 0x%04X: %r", handle, error)
            status = 1
        if self.connected:
            self._send(Opcode.INDICATE_DONE, struct.pack("<HHB", connection.handle, handle, status))

    async def _advertise(self, p: bytes) -> None:
        device = self._device()
        interval_us, flags, adv_len = struct.unpack_from("<IBB", p)
        if interval_us == 0:
            self._adv_params = None
            await device.stop_advertising()
            return
        if flags & 2:
            self._adv = p[6 : 6 + adv_len]
        if flags & 4:
            self._resp = p[6 + adv_len :]
        if flags & 1:
            kind = AdvertisingType.UNDIRECTED_CONNECTABLE_SCANNABLE
        elif self._resp:
            kind = AdvertisingType.UNDIRECTED_SCANNABLE
        else:
            kind = AdvertisingType.UNDIRECTED
        ms = max(interval_us // 625, 32) * 0.625  # rounded down to 625 us, at least 20 ms
        self._adv_params = (kind, ms)
        await self._start_advertising()
        self._advertising.set()

    async def _start_advertising(self) -> None:
        if self._adv_params is None:
            return
        kind, ms = self._adv_params
        await self._device().start_advertising(
            advertising_type=kind,
            advertising_data=self._adv,
            scan_response_data=self._resp,
            advertising_interval_min=ms,
            advertising_interval_max=ms,
            auto_restart=False,
        )

    async def _own_address(self, p: bytes) -> None:
        """The firmware's stack changed its own address (its address mode, or a new RPA).

        The controller takes it for what it sends from now on; a connection keeps the address
        it was made with, and advertising under way goes on from the new one.
        """
        device = self._device()
        if not p[0]:
            return  # a public identity: the bumble device has none (the kits' is static)
        address = hci.Address(bytes(reversed(p[1:7])), hci.Address.RANDOM_DEVICE_ADDRESS)
        if address == device.random_address:
            return
        device.random_address = address
        await device.send_sync_command(
            hci.HCI_LE_Set_Random_Address_Command(random_address=address)
        )
        if self._adv_params is not None and not self._links:
            await self._start_advertising()

    async def _set_irk(self, p: bytes) -> None:
        """The kit's identity resolving key, as its stack keeps it (least significant byte
        first, as bumble's): what SMP distributes to a computer that bonds."""
        self._device().irk = bytes(p[:16])

    async def _disconnect(self, p: bytes) -> None:
        link = self._links.get(struct.unpack("<H", p)[0])
        if link is not None:
            self._spawn(link.connection.disconnect())

    async def _pair(self, p: bytes) -> None:
        link = self._links.get(struct.unpack("<H", p)[0])
        if link is not None:
            self._device().request_pairing(link.connection)

    _calls: ClassVar[dict[int, Callable[[KitBridge, bytes], Awaitable[None]]]] = {
        Opcode.HELLO: _hello,
        Opcode.ACTIVE: _active,
        Opcode.CONFIG: _configure,
        Opcode.REGISTER: _register,
        Opcode.LOCAL_WRITE: _write_local,
        Opcode.SET_BUFFER: _set_buffer,
        Opcode.NOTIFY: _notify,
        Opcode.ADVERTISE: _advertise,
        Opcode.DISCONNECT: _disconnect,
        Opcode.PAIR: _pair,
        Opcode.OWN_ADDRESS: _own_address,
        Opcode.IRK: _set_irk,
    }

    # Values, as a central sees them

    def _value_of(self, v: _Value) -> CharacteristicValue[bytes]:
        def read(_connection: Connection) -> bytes:
            if not v.flags & _F_READ:
                raise ATT_Error(ErrorCode.READ_NOT_PERMITTED)
            return v.value

        async def write(connection: Connection, value: bytes) -> None:
            if not v.flags & (_F_WRITE | _F_WRITE_NO_RESPONSE):
                raise ATT_Error(ErrorCode.WRITE_NOT_PERMITTED)
            link = self._links.get(connection.handle)
            if link is not None and not link.settled.is_set():
                # As on NimBLE, the firmware hears how a pairing ended before the next write.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.reply_timeout):
                        await link.settled.wait()
            v.value = (v.value + value if v.append else bytes(value))[: v.size]
            if self.connected and v.attribute is not None:
                handle = v.attribute.handle
                self._send(
                    Opcode.CENTRAL_WRITE, struct.pack("<HH", connection.handle, handle) + v.value
                )

        return CharacteristicValue(read=read, write=write)

    # Connections and security

    def _pairing_config(self, connection: Connection) -> PairingConfig:
        c = self._config
        return PairingConfig(
            sc=c["le_secure"],
            mitm=c["mitm"],
            bonding=c["bond"],
            delegate=FirmwarePairingDelegate(self, connection, c["io"]),
        )

    def _on_connection(self, connection: Connection) -> None:
        if connection.role != hci.Role.PERIPHERAL:
            return
        self._adv_params = None  # a connection ends legacy advertising
        link = _Link(connection)
        link.settled.set()

        def mtu() -> int:
            return int(connection.att_mtu)

        self._links[connection.handle] = link
        connection.on(Connection.EVENT_DISCONNECTION, lambda _r: self._on_disconnection(link))
        connection.on(
            Connection.EVENT_CONNECTION_ENCRYPTION_CHANGE, lambda: self._on_encryption(link)
        )
        connection.on(Connection.EVENT_PAIRING_START, lambda: self._on_pairing_start(link))
        connection.on(Connection.EVENT_PAIRING, lambda keys: self._on_pairing_end(link, keys))
        connection.on(Connection.EVENT_PAIRING_FAILURE, lambda _r: self._on_pairing_end(link))
        connection.on(
            Connection.EVENT_CONNECTION_ATT_MTU_UPDATE,
            lambda: self._event(
                Opcode.MTU_EXCHANGED, struct.pack("<HH", link.connection.handle, mtu())
            ),
        )
        self._event(
            Opcode.CENTRAL_CONNECT,
            struct.pack("<H", connection.handle) + address_bytes(connection.peer_address),
        )

    def _on_disconnection(self, link: _Link) -> None:
        connection = link.connection
        self._links.pop(connection.handle, None)
        link.settled.set()
        self._event(
            Opcode.CENTRAL_DISCONNECT,
            struct.pack("<H", connection.handle) + address_bytes(connection.peer_address),
        )

    def _on_pairing_start(self, link: _Link) -> None:
        link.pairing = True
        link.settled.clear()

    def _on_encryption(self, link: _Link) -> None:
        if link.pairing:
            link.deferred = True  # told when the keys have been offered to the store
            return
        if link.connection.is_encrypted:  # re-encrypted with a stored bond
            link.bonded = True
        self._send_encryption(link)

    def _on_pairing_end(self, link: _Link, keys: PairingKeys | None = None) -> None:
        link.pairing = False
        if keys is not None and keys.ltk is not None:
            link.authenticated = keys.ltk.authenticated
        if link.deferred or keys is not None:
            link.deferred = False
            self._send_encryption(link)
        link.settled.set()

    def _send_encryption(self, link: _Link) -> None:
        c = link.connection
        encrypted = c.is_encrypted
        self._event(
            Opcode.ENCRYPTION_UPDATE,
            struct.pack(
                "<HBBBB",
                c.handle,
                int(encrypted),
                int(encrypted and link.authenticated),
                int(encrypted and link.bonded),
                (c.encryption_key_size or 16) if encrypted else 0,  # bumble: 0 when LE
            ),
        )

    def _event(self, typ: Opcode, payload: bytes) -> None:
        if self.connected:
            self._send(typ, payload)

    # Helpers

    def _device(self) -> Device:
        if self.device is None:
            raise TransportError("The firmware called the radio before connecting to the bridge.")
        return self.device

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.debug("kit bridge task: %r", task.exception())

    async def _remove_device(self) -> None:
        device, self.device = self.device, None
        for task in list(self._tasks):
            task.cancel()
        if device is not None and self.radio.running:
            address = str(device.static_address.to_string(False))
            if address in self.radio.peripherals:
                await self.radio.remove_peripheral(device)
