"""One kit over its USB cable: the serial link (docs/protocol.md, "Serial link").

A kit plugged in by USB streams what it streams over BLE, the same sample frames, control
point responses and status values, each in one packet on the byte stream::

    COBS(tag | payload | CRC-16/CCITT-FALSE, little-endian) | 0x00

:class:`SerialKit` is a :class:`~finemotor.transport.contract.KitTransport`, as
:class:`finemotor.transport.ble.BleKit` is (connect, commands, callbacks), over pyserial: any
port or URL :func:`serial.serial_for_url` opens (``/dev/ttyACM0``, ``COM3``, ``loop://``,
``socket://host:port``), or ``serial:///dev/ttyACM0``. A reader thread splits the stream into
packets, drops and counts the corrupted ones (:class:`LinkCounters`), sends the keep-alive
HELLO every second and notices a kit that has fallen silent; everything it receives is handed
to the asyncio loop, so the callbacks run there, as BleKit's do.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import logging
import random
import re
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeGuard

import serial  # type: ignore[import-untyped]  # pyserial ships no type information
from cobs import cobs  # type: ignore[import-untyped]

from finemotor.errors import ProtocolError, TransportError
from finemotor.protocol import control as cp
from finemotor.protocol.status import Status, decode_status
from finemotor.transport.commands import KitCommands, KitInfo

__all__ = [
    "KIND_NAMES",
    "LINK_VERSION",
    "TAG_BYE",
    "TAG_CONTROL",
    "TAG_DATA",
    "TAG_HELLO",
    "TAG_INFO",
    "TAG_REPL",
    "TAG_REQUEST",
    "TAG_STATUS",
    "KitIdentity",
    "LinkCounters",
    "PacketDecoder",
    "SerialKit",
    "crc16",
    "decode_packet",
    "encode_packet",
    "hello_packet",
    "is_serial_target",
    "release_console",
    "serial_url",
]

logger = logging.getLogger(__name__)

TAG_DATA = 0x01
"""Kit → host: a sample frame (the data characteristic's notification)."""
TAG_CONTROL = 0x02
"""Kit → host: a control point response."""
TAG_STATUS = 0x03
"""Kit → host: the 20-byte status value."""
TAG_INFO = 0x04
"""Kit → host: what the kit is (the answer to every HELLO)."""
TAG_REQUEST = 0x81
"""Host → kit: a control point request."""
TAG_HELLO = 0x82
"""Host → kit: attach (a new session number starts a new connection), then keep-alive."""
TAG_BYE = 0x83
"""Host → kit: detach; the kit's console takes Ctrl-C again."""
TAG_REPL = 0x84
"""Host → kit: stop the firmware and hand the console back to MicroPython's REPL."""

LINK_VERSION = 1
HELLO_MAGIC = b"FM1"
KIND_NAMES = {1: "stylus", 2: "grip"}

MTU = 247
"""The serial link carries frames and responses as BLE at its largest ATT MTU."""
PAYLOAD_MAX = MTU - 3
RAW_MAX = 1 + PAYLOAD_MAX + 2
"""Longest packet before COBS: tag, payload, CRC."""

# Bytes a HELLO never contains: a kit whose console is not yet the link's (Ctrl-C on) or that
# sits at its REPL prompt must not take a byte of it as Ctrl-A..Ctrl-E or Enter.
_CONSOLE_CONTROLS = frozenset((0x01, 0x02, 0x03, 0x04, 0x05, 0x0D))

_READ_S = 0.05
_HEARTBEAT_S = 1.0
_SILENCE_S = 3.0
_JOIN_S = 2.0
_REPL_GRACE_S = 0.5
_HELLO_EVERY_S = 0.5


def crc16(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor)."""
    return binascii.crc_hqx(data, 0xFFFF)


def encode_packet(tag: int, payload: bytes | bytearray | memoryview = b"") -> bytes:
    """One packet as it goes on the wire: COBS(tag | payload | CRC LE) and the 0x00.

    Raises:
        ValueError: the payload is longer than the link carries (244 bytes).
    """
    if len(payload) > PAYLOAD_MAX:
        raise ValueError(f"a serial-link payload holds at most {PAYLOAD_MAX} bytes")
    raw = bytes((tag,)) + bytes(payload)
    raw += struct.pack("<H", crc16(raw))
    return bytes(cobs.encode(raw)) + b"\x00"


def decode_packet(encoded: bytes | bytearray) -> tuple[int, bytes]:
    """``(tag, payload)`` of one packet (without its 0x00).

    Raises:
        ProtocolError: ``"cobs"`` (not a COBS encoding), ``"short"`` (under 3 bytes) or
            ``"crc"`` (the CRC does not match: corrupted on the way).
    """
    try:
        raw = bytes(cobs.decode(bytes(encoded)))
    except cobs.DecodeError as exc:
        raise ProtocolError("cobs", f"serial packet is not COBS: {exc}", bytes(encoded)) from exc
    if len(raw) < 3:
        raise ProtocolError("short", "serial packet shorter than a tag and its CRC", raw)
    if crc16(raw[:-2]) != struct.unpack_from("<H", raw, len(raw) - 2)[0]:
        raise ProtocolError("crc", "serial packet failed its CRC (corrupted on the way)", raw)
    return raw[0], raw[1:-2]


def hello_packet(session: int) -> bytes:
    """The HELLO packet for a session number (u32)."""
    return encode_packet(TAG_HELLO, HELLO_MAGIC + struct.pack("<I", session & 0xFFFFFFFF))


def _pick_session(rng: random.Random) -> int:
    # A session number whose HELLO holds no console control byte (see _CONSOLE_CONTROLS).
    while True:
        session = rng.getrandbits(32)
        if not _CONSOLE_CONTROLS.intersection(hello_packet(session)):
            return session


def serial_url(target: str) -> str:
    """The pyserial URL or port for a kit's serial target (``serial://PORT`` → ``PORT``)."""
    if target.startswith("serial://"):
        return target[len("serial://") :]
    return target


_WINDOWS_PORT = re.compile(r"COM[0-9]+", re.IGNORECASE)


def is_serial_target(target: object) -> TypeGuard[str]:
    """True for a kit on its USB cable, False for anything else (a Bluetooth address...).

    A serial target is a ``serial://`` URL with something after it (``serial:///dev/ttyACM0``,
    ``serial://COM3``; pyserial's own URLs go inside one: ``serial://socket://host:7777``), a
    device path (``/dev/ttyACM0``, ``/dev/cu.usbmodem1101``, ``/dev/pts/3``) or a Windows port
    (``COM3``). Other URLs (``ble://``, ``sim://``, a bare ``socket://``) are not.
    """
    if not isinstance(target, str):
        return False
    if target.startswith("serial://"):
        return len(target) > len("serial://")
    if target.startswith("/dev/"):
        return len(target) > len("/dev/")
    return _WINDOWS_PORT.fullmatch(target) is not None


@dataclass
class LinkCounters:
    """What the serial link saw, packet by packet (the stream's counters are separate).

    Attributes:
        packets: valid packets received.
        bad_cobs: packets dropped because they were not a COBS encoding.
        bad_crc: packets dropped because their CRC did not match (corrupted on the way).
        bad_short: packets dropped because they were too short to carry a CRC.
        overflow: runs of bytes longer than any packet, dropped up to the next 0x00.
        unknown: valid packets with a tag this library does not know (ignored).
        bytes_in: bytes read from the stream.
    """

    packets: int = 0
    bad_cobs: int = 0
    bad_crc: int = 0
    bad_short: int = 0
    overflow: int = 0
    unknown: int = 0
    bytes_in: int = 0
    last_error: str = field(default="", repr=False)

    @property
    def bad(self) -> int:
        """Packets dropped, whatever was wrong with them."""
        return self.bad_cobs + self.bad_crc + self.bad_short + self.overflow


class PacketDecoder:
    """Splits a byte stream into packets at each 0x00; drops and counts the bad ones."""

    def __init__(self, counters: LinkCounters | None = None) -> None:
        self.counters = counters if counters is not None else LinkCounters()
        self._buf = bytearray()
        self._skip = False

    def feed(self, data: bytes | bytearray) -> list[tuple[int, bytes]]:
        """The packets completed by ``data``, as ``(tag, payload)``."""
        c = self.counters
        c.bytes_in += len(data)
        out: list[tuple[int, bytes]] = []
        parts = bytes(data).split(b"\x00")
        for i, part in enumerate(parts):
            if not self._skip:
                self._buf += part
                if len(self._buf) > RAW_MAX + 3:
                    self._buf.clear()
                    self._skip = True
            if i == len(parts) - 1:
                break  # no 0x00 after this part (yet)
            if self._skip:
                c.overflow += 1
            elif self._buf:
                try:
                    out.append(decode_packet(self._buf))
                    c.packets += 1
                except ProtocolError as exc:
                    if exc.reason == "cobs":
                        c.bad_cobs += 1
                    elif exc.reason == "crc":
                        c.bad_crc += 1
                    else:
                        c.bad_short += 1
                    c.last_error = str(exc)
            self._buf.clear()
            self._skip = False
        return out


@dataclass(frozen=True)
class KitIdentity:
    """The kit's answer to HELLO: what the Device Information service says over BLE."""

    link_version: int
    new_connection: bool
    kind: str
    kit_id: str
    model: str
    serial: str
    firmware: str
    hardware: str

    @classmethod
    def decode(cls, payload: bytes) -> KitIdentity:
        """Decode a TAG_INFO payload.

        Raises:
            ProtocolError: it is too short.
        """
        if len(payload) < 6:
            raise ProtocolError("bad_info", "serial-link kit information too short", payload)
        fields = payload[6:].decode("ascii", "replace").split("\0")
        fields += [""] * (4 - len(fields))
        return cls(
            link_version=payload[0],
            new_connection=bool(payload[1]),
            kind=KIND_NAMES.get(payload[2], f"kind {payload[2]}"),
            kit_id=payload[3:6].hex().upper(),
            model=fields[0],
            serial=fields[1],
            firmware=fields[2],
            hardware=fields[3],
        )


class _Port(Protocol):
    """The part of a pyserial port the link uses."""

    @property
    def in_waiting(self) -> int: ...

    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes) -> int | None: ...

    def close(self) -> None: ...


class _SilentError(Exception):
    pass


def _open_port(url: str, baudrate: int, write_timeout: float) -> _Port:
    port: _Port = serial.serial_for_url(
        url, baudrate=baudrate, timeout=_READ_S, write_timeout=write_timeout
    )
    return port


class SerialKit(KitCommands):
    """A connection to one kit over a serial port (its USB cable): a
    :class:`~finemotor.transport.contract.KitTransport`.

    Args:
        port: the kit's port or pyserial URL (``/dev/ttyACM0``, ``serial:///dev/ttyACM0``,
            ``COM3``, ``socket://localhost:7777``).
        on_frame: called with each data frame (raw bytes), in arrival order.
        on_status: called with each decoded status value.
        on_disconnect: called when the link drops (asked for or not).
        timeout: seconds for connecting and for each command.
        baudrate: for a real UART; a USB CDC port ignores it.
        heartbeat_s: seconds between keep-alive HELLOs (the kit detaches a host silent 3 s).
        silence_s: a kit that sends nothing for this long has gone (it answers every HELLO).
    """

    def __init__(
        self,
        port: str,
        on_frame: Callable[[bytes], None],
        on_status: Callable[[Status], None] | None = None,
        on_disconnect: Callable[[], None] | None = None,
        timeout: float = 10.0,
        *,
        baudrate: int = 115200,
        heartbeat_s: float = _HEARTBEAT_S,
        silence_s: float = _SILENCE_S,
    ) -> None:
        self.address = port
        self.url = serial_url(port)
        self.on_frame = on_frame
        """Called with each data frame (raw bytes), in arrival order."""
        self._on_status = on_status
        self.on_disconnect = on_disconnect
        """Called when the link drops (asked for or not)."""
        self.timeout = timeout
        self.baudrate = baudrate
        self.heartbeat_s = heartbeat_s
        self.silence_s = silence_s
        self.counters = LinkCounters()
        self.info: KitInfo | None = None
        self.identity: KitIdentity | None = None
        self.status: Status | None = None
        self.battery_percent: int | None = None
        self._port: _Port | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._write_lock = threading.Lock()
        self._gen = 0
        self._session = 0
        self._rng = random.Random()
        self._token = 0
        self._waiting: dict[int, asyncio.Future[cp.Response]] = {}
        self._hello: asyncio.Future[KitIdentity] | None = None
        self._attached = False
        self._tasks: set[asyncio.Future[None]] = set()

    @property
    def connected(self) -> bool:
        """True while the link is up (the kit answered HELLO and has not gone quiet)."""
        return self._port is not None and self._attached

    @property
    def mtu(self) -> int:
        """The link's equivalent ATT MTU (frames and commands up to 244 bytes)."""
        return MTU

    @property
    def bad_packets(self) -> int:
        """Packets dropped as corrupted (COBS, CRC, length) since this object was made."""
        return self.counters.bad

    async def connect(self, attempts: int = 3) -> KitInfo:
        """Open the port, say HELLO, and read what the kit is.

        Raises:
            TransportError: the port could not be opened or the kit did not answer, with
                what to do.
        """
        last: TransportError | None = None
        for attempt in range(attempts):
            try:
                return await self._connect_once()
            except TransportError as exc:
                last = exc
                await self._drop(notify=False)
                logger.info("connecting to %s failed (%s)", self.address, exc)
                if attempt + 1 < attempts:
                    await asyncio.sleep(0.5 * 2**attempt)
        assert last is not None
        raise last

    async def _connect_once(self) -> KitInfo:
        await self._drop(notify=False)
        self._loop = asyncio.get_running_loop()
        try:
            port = await asyncio.to_thread(_open_port, self.url, self.baudrate, self.timeout)
        except (serial.SerialException, ValueError, OSError) as exc:
            raise TransportError(
                f"could not open the serial port {self.address} ({exc}): check that the "
                "kit's USB cable is plugged in, and that no other program (a serial monitor, "
                "mpremote) has the port open",
                self.address,
            ) from exc
        self._port = port
        self._gen += 1
        self._session = _pick_session(self._rng)
        self._stop = threading.Event()
        self._hello = self._loop.create_future()
        self._thread = threading.Thread(
            target=self._reader,
            args=(port, self._gen, self._session, self._stop),
            name=f"finemotor-serial {self.address}",
            daemon=True,
        )
        self._thread.start()
        try:
            identity = await asyncio.wait_for(asyncio.shield(self._hello), self.timeout)
        except TimeoutError as exc:
            raise TransportError(
                f"the kit on {self.address} did not answer within {self.timeout} s: check "
                "that it is switched on and runs the finemotor firmware with its serial link "
                "(a kit at its REPL prompt does not answer: press its reset button)",
                self.address,
            ) from exc
        finally:
            self._hello = None
        if identity.link_version != LINK_VERSION:
            raise TransportError(
                f"the kit on {self.address} speaks serial link version "
                f"{identity.link_version}, this host library {LINK_VERSION}: update the "
                "older of the two",
                self.address,
            )
        self.identity = identity
        self._attached = True
        return await self.read_info(identity.model, identity.serial, identity.firmware)

    async def disconnect(self) -> None:
        """Say BYE and close the port (the kit goes on sampling until told to stop)."""
        if self._port is not None and self._attached:
            with contextlib.suppress(TransportError):
                self._write(encode_packet(TAG_BYE))
        await self._drop(notify=True)

    async def release_console(self) -> None:
        """Stop the kit's firmware and hand its console back to MicroPython's REPL.

        For developers: the kit stops streaming until it is reset. The port is closed.
        """
        if self._port is not None:
            with contextlib.suppress(TransportError):
                self._write(b"\x00" + encode_packet(TAG_REPL))
            # Closing the port at once can discard bytes the kit has not read yet (a pseudo-
            # terminal's hang-up does): give it time to read the packet (it polls every 5 ms).
            await asyncio.sleep(_REPL_GRACE_S)
        await self._drop(notify=True)

    async def _drop(self, notify: bool) -> None:
        was = self._attached
        self._attached = False
        self._gen += 1  # whatever the old reader still hands over is ignored
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            await asyncio.to_thread(thread.join, _JOIN_S)
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(Exception):
                port.close()
        self._fail_waiting("the link to the kit dropped")
        if notify and was and self.on_disconnect is not None:
            self.on_disconnect()

    def _fail_waiting(self, why: str) -> None:
        super()._fail_waiting(why)
        if self._hello is not None and not self._hello.done():
            self._hello.set_exception(TransportError(why, self.address))

    def _write(self, data: bytes) -> None:
        port = self._port
        if port is None:
            raise TransportError("the kit is not connected: connect first", self.address)
        try:
            with self._write_lock:
                port.write(data)
        except (serial.SerialException, OSError) as exc:
            raise TransportError(
                f"writing to {self.address} failed ({exc}): check the kit's USB cable",
                self.address,
            ) from exc

    # --- the reader thread ------------------------------------------------------------
    def _reader(self, port: _Port, gen: int, session: int, stop: threading.Event) -> None:
        decoder = PacketDecoder(self.counters)
        hello = hello_packet(session)
        last_rx = time.monotonic()
        last_hello = 0.0
        first = True
        reason = ""
        try:
            while not stop.is_set():
                now = time.monotonic()
                if now - last_hello >= (self.heartbeat_s if not first else _HELLO_EVERY_S):
                    with self._write_lock:
                        port.write((b"\x00" if first else b"") + hello)
                    last_hello = now
                data = port.read(max(1, port.in_waiting))
                if data:
                    items = decoder.feed(data)
                    if items:
                        last_rx = time.monotonic()
                        if first and any(tag == TAG_INFO for tag, _ in items):
                            first = False
                        self._post(self._dispatch, gen, items)
                if not first and time.monotonic() - last_rx > self.silence_s:
                    raise _SilentError
        except _SilentError:
            reason = f"the kit on {self.address} fell silent for {self.silence_s} s"
        except (serial.SerialException, OSError) as exc:
            reason = f"the serial port {self.address} failed ({exc}): the kit was unplugged?"
        except Exception as exc:  # the thread must report, whatever happened
            reason = f"the serial link to {self.address} failed: {exc!r}"
        if not stop.is_set():
            logger.info("%s", reason)
            self._post(self._lost, gen, reason)

    def _post(self, fn: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(fn, *args)

    # --- in the loop ------------------------------------------------------------------
    def _lost(self, gen: int, reason: str) -> None:
        if gen != self._gen:
            return
        self.counters.last_error = reason
        self._gen += 1  # one report per loss
        task = asyncio.ensure_future(self._drop(notify=True))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _dispatch(self, gen: int, items: list[tuple[int, bytes]]) -> None:
        if gen != self._gen:
            return
        for tag, payload in items:
            if tag == TAG_DATA:
                self.on_frame(payload)
            elif tag == TAG_CONTROL:
                self._control(payload)
            elif tag == TAG_STATUS:
                self._status(payload)
            elif tag == TAG_INFO:
                self._identity(gen, payload)
            else:
                self.counters.unknown += 1
            if gen != self._gen:
                return  # a callback dropped the link

    def _control(self, payload: bytes) -> None:
        self._answered(payload)

    def _status(self, payload: bytes) -> None:
        try:
            self.status = decode_status(payload)
        except Exception as exc:
            logger.warning("kit %s: %s", self.address, exc)
            return
        self.battery_percent = self.status.battery_percent
        if self._on_status is not None:
            self._on_status(self.status)

    def _identity(self, gen: int, payload: bytes) -> None:
        try:
            identity = KitIdentity.decode(payload)
        except ProtocolError as exc:
            logger.warning("kit %s: %s", self.address, exc)
            return
        if self._hello is not None and not self._hello.done():
            self._hello.set_result(identity)
        elif identity.new_connection and self._attached:
            # The kit had detached us (we were silent too long) and took this HELLO as a new
            # connection: its stream waits for a START, so report the drop and reconnect.
            self._lost(gen, f"the kit on {self.address} had dropped the link")

    # --- commands ---------------------------------------------------------------------
    async def command(self, request: bytes) -> cp.Response:
        """Send one control point request and wait for its response.

        Raises:
            KitCommandError: the kit refused it (with the reason and what to do).
            TransportError: no link, or no answer within the timeout.
        """
        if self._port is None or self._loop is None:
            raise TransportError("the kit is not connected: connect first", self.address)

        async def send(req: bytes) -> None:
            self._write(encode_packet(TAG_REQUEST, req))

        return await self._exchange(request, send, "check its USB cable")

    def __repr__(self) -> str:
        state = "connected" if self.connected else "not connected"
        return f"SerialKit({self.address!r}, {state})"


def release_console(port: str, baudrate: int = 115200) -> None:
    """Hand a kit's console back to MicroPython's REPL (for developers).

    Sends the REPL packet: the firmware stops and the REPL prompt appears on the port, to use
    with any serial terminal or mpremote. Needed only while a host has the console (after a
    HELLO, until a BYE); otherwise Ctrl-C works as usual.

    Raises:
        TransportError: the port could not be opened or written.
    """
    try:
        p = _open_port(serial_url(port), baudrate, 2.0)
        try:
            p.write(b"\x00" + encode_packet(TAG_REPL))
            time.sleep(_REPL_GRACE_S)  # let the kit read it before the port closes
        finally:
            p.close()
    except (serial.SerialException, ValueError, OSError) as exc:
        raise TransportError(
            f"could not send the REPL packet to {port} ({exc}): check the kit's USB cable and "
            "that no other program has the port open",
            port,
        ) from exc
