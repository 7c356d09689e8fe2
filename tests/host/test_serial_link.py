"""The serial link on the host: packets (COBS, CRC-16) and SerialKit's behaviour.

The shared vectors (tests/vectors/serial_link_v1.json) are checked here against the reference
COBS encoder (the PyPI ``cobs`` package) and CRC (``binascii.crc_hqx``); the firmware encodes
and decodes the same vectors in tests/firmware/test_cobs_fw.py. SerialKit's connect, silence
and error paths are exercised against a scripted kit on a pseudo-terminal and on pyserial's
``loop://``; the real firmware is in test_serial_sim.py.
"""

from __future__ import annotations

import asyncio
import binascii
import functools
import json
import os
import random
import select
import struct
import threading
import time
import tty
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from cobs import cobs

from finemotor.errors import ProtocolError, TransportError
from finemotor.protocol import control as cp
from finemotor.transport.serial import (
    TAG_CONTROL,
    TAG_HELLO,
    TAG_INFO,
    TAG_REQUEST,
    TAG_STATUS,
    KitIdentity,
    PacketDecoder,
    SerialKit,
    _pick_session,
    crc16,
    decode_packet,
    encode_packet,
    hello_packet,
    is_serial_target,
    serial_url,
)

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "serial_link_v1.json").read_text()
)


# --- packets ----------------------------------------------------------------------------
def test_cobs_vectors_are_the_reference_encoding() -> None:
    for case in VECTORS["cobs"]:
        raw = bytes.fromhex(case["raw"])
        assert cobs.encode(raw).hex() == case["encoded"]
        assert cobs.decode(bytes.fromhex(case["encoded"])) == raw


def test_invalid_cobs_vectors_are_rejected_by_the_reference() -> None:
    for h in VECTORS["cobs_invalid"]:
        with pytest.raises(cobs.DecodeError):
            cobs.decode(bytes.fromhex(h))


def test_crc16_is_ccitt_false() -> None:
    assert crc16(b"123456789") == 0x29B1
    for case in VECTORS["crc16"]:
        assert crc16(bytes.fromhex(case["data"])) == case["crc"]
        assert binascii.crc_hqx(bytes.fromhex(case["data"]), 0xFFFF) == case["crc"]


def test_packet_vectors_round_trip() -> None:
    for p in VECTORS["packets"]:
        payload = bytes.fromhex(p["payload"])
        wire = encode_packet(p["tag"], payload)
        assert wire.hex() == p["wire"], p["name"]
        assert wire.count(0) == 1 and wire.endswith(b"\x00")
        assert decode_packet(wire[:-1]) == (p["tag"], payload)


def test_every_corrupted_byte_is_caught() -> None:
    # Any single byte changed on the wire: the packet is dropped (COBS, CRC or split by a new
    # 0x00), never decoded into something else.
    for p in VECTORS["packets"]:
        wire = encode_packet(p["tag"], bytes.fromhex(p["payload"]))
        for i in range(len(wire) - 1):
            for flip in (0x01, 0x80, 0xFF):
                bad = bytearray(wire)
                bad[i] ^= flip
                dec = PacketDecoder()
                out = dec.feed(bytes(bad))
                assert out == [], (p["name"], i, flip)
                assert dec.counters.bad >= 1 or bad[i] == 0


def test_payload_too_long_is_refused() -> None:
    encode_packet(1, bytes(244))
    with pytest.raises(ValueError):
        encode_packet(1, bytes(245))


def test_decode_packet_reasons() -> None:
    with pytest.raises(ProtocolError) as e:
        decode_packet(b"\x05\x01")
    assert e.value.reason == "cobs"
    with pytest.raises(ProtocolError) as e:
        decode_packet(cobs.encode(b"\x01\x02"))
    assert e.value.reason == "short"
    good = bytearray(encode_packet(1, b"abc")[:-1])
    good[2] ^= 0x04
    with pytest.raises(ProtocolError) as e:
        decode_packet(bytes(good))
    assert e.value.reason == "crc"


def test_decoder_splits_a_stream_fed_byte_by_byte() -> None:
    stream = b"garbage before the first delimiter\x00"
    packets = [(1, bytes(range(1, 60))), (2, b"\x80\x01\x0b\x00"), (3, bytes(20))]
    for tag, payload in packets:
        stream += encode_packet(tag, payload)
    dec = PacketDecoder()
    out = []
    for b in stream:
        out += dec.feed(bytes((b,)))
    assert out == packets
    assert dec.counters.packets == 3
    assert dec.counters.bad == 1  # the garbage (not COBS or bad CRC)
    assert dec.counters.bytes_in == len(stream)


def test_decoder_drops_an_overlong_run_and_recovers() -> None:
    dec = PacketDecoder()
    out = dec.feed(b"\x01" * 1000 + b"\x00" + encode_packet(1, b"ok"))
    assert out == [(1, b"ok")]
    assert dec.counters.overflow == 1


def test_hello_never_holds_a_console_control_byte() -> None:
    rng = random.Random(5)
    for _ in range(500):
        pkt = hello_packet(_pick_session(rng))
        assert not {1, 2, 3, 4, 5, 0x0D} & set(pkt)
    assert decode_packet(hello_packet(0x11223344)[:-1]) == (
        TAG_HELLO,
        b"FM1" + bytes.fromhex("44332211"),
    )


def test_targets() -> None:
    assert serial_url("serial:///dev/ttyACM0") == "/dev/ttyACM0"
    assert serial_url("serial://socket://localhost:7") == "socket://localhost:7"
    assert serial_url("socket://localhost:7") == "socket://localhost:7"
    assert serial_url("COM3") == "COM3"


@pytest.mark.parametrize(
    "target",
    [
        "serial:///dev/ttyACM0",
        "serial://COM3",
        "serial://socket://localhost:7777",  # pyserial's own URLs, inside serial://
        "serial://loop://",
        "/dev/ttyACM0",
        "/dev/ttyUSB1",
        "/dev/cu.usbmodem1101",
        "/dev/pts/3",  # a pseudo-terminal (the simulated kit's)
        "COM3",
        "COM12",
        "com4",
    ],
)
def test_a_serial_target_is_a_serial_url_a_device_path_or_a_windows_port(target: str) -> None:
    assert is_serial_target(target)


@pytest.mark.parametrize(
    "target",
    [
        "F0:00:00:00:00:02",  # a Bluetooth address
        "5A1001",  # a kit id
        "ble://5A1001",
        "ble://F0:00:00:00:00:02",
        "sim://grip",
        "replay://12/grip",
        "loop://",  # pyserial's URLs only inside serial://
        "socket://h:1",
        "http://example.org/dev/ttyACM0",
        "serial://",  # no port
        "/dev/",
        "dev/ttyACM0",
        "ttyACM0",
        "COM",
        "COMET",
        "COM3:",
        " COM3",
        "COM³",
        "",
    ],
)
def test_anything_else_is_not_a_serial_target(target: str) -> None:
    assert not is_serial_target(target)


@pytest.mark.parametrize("target", [None, 3, b"/dev/ttyACM0", object()])
def test_only_a_string_is_a_serial_target(target: object) -> None:
    assert not is_serial_target(target)


def test_identity_decodes() -> None:
    payload = bytes([1, 0, 2, 0x5A, 0x20, 0x02]) + b"FM-GRIP-1\0abc\x001.0.0\0A"
    ident = KitIdentity.decode(payload)
    assert ident == KitIdentity(1, False, "grip", "5A2002", "FM-GRIP-1", "abc", "1.0.0", "A")
    with pytest.raises(ProtocolError):
        KitIdentity.decode(b"\x01\x00")


# --- SerialKit against a scripted kit -----------------------------------------------------
def run_async(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test in its own loop, 20 s at most."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 20))

    return wrapper


class ScriptedKit:
    """A kit on the master side of a pseudo-terminal, scripted in Python."""

    def __init__(self) -> None:
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.path = os.ttyname(slave)
        os.close(slave)
        self.answer_hello = True
        self.silent = False
        self.new_connection = True
        self.requests: list[bytes] = []
        self.hellos = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def send(self, tag: int, payload: bytes) -> None:
        os.write(self.master, encode_packet(tag, payload))

    def _run(self) -> None:
        dec = PacketDecoder()
        while not self._stop.is_set():
            r, _, _ = select.select([self.master], [], [], 0.05)
            if not r:
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError:  # no host has the slave open
                time.sleep(0.05)
                continue
            for tag, payload in dec.feed(data):
                if self.silent:
                    continue
                if tag == TAG_HELLO and self.answer_hello:
                    self.hellos += 1
                    info = bytes([1, int(self.new_connection), 1, 0x1A, 0x2B, 0x3C])
                    self.send(TAG_INFO, info + b"FM-STYLUS-1\0c0ffee\x001.0.0\0A")
                    self.new_connection = False
                elif tag == TAG_REQUEST:
                    self.requests.append(payload)
                    resp = bytes((0x80, payload[1], payload[0], 0))
                    if payload[0] == cp.Op.INFO:
                        resp += struct.pack("<BHHB", 1, 200, 6400, 3)
                    self.send(TAG_CONTROL, resp)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        os.close(self.master)


@pytest.fixture
def scripted() -> Iterator[ScriptedKit]:
    kit = ScriptedKit()
    yield kit
    kit.close()


@run_async
async def test_connect_reads_what_the_kit_is(scripted: ScriptedKit) -> None:
    statuses = []
    kit = SerialKit(f"serial://{scripted.path}", lambda f: None, statuses.append, timeout=2)
    info = await kit.connect()
    assert info.model == "FM-STYLUS-1" and info.serial == "c0ffee" and info.rate_hz == 200
    assert info.layout.name == "stylus.v1" and info.address == f"serial://{scripted.path}"
    assert kit.identity is not None and kit.identity.kit_id == "1A2B3C"
    assert kit.connected and kit.mtu == 247
    scripted.send(TAG_STATUS, bytes([1, 77]) + bytes(18))
    await asyncio.sleep(0.2)
    assert statuses and statuses[-1].state == "streaming" and kit.battery_percent == 77
    await kit.disconnect()
    assert not kit.connected


@run_async
async def test_a_kit_that_falls_silent_is_reported_gone(scripted: ScriptedKit) -> None:
    dropped = asyncio.Event()
    kit = SerialKit(scripted.path, lambda f: None, on_disconnect=dropped.set, silence_s=0.6)
    await kit.connect()
    scripted.silent = True
    t0 = time.monotonic()
    await asyncio.wait_for(dropped.wait(), 3)
    assert 0.5 < time.monotonic() - t0 < 2.0
    assert not kit.connected
    assert "fell silent" in kit.counters.last_error
    with pytest.raises(TransportError, match="not connected"):
        await kit.time_sync()


@run_async
async def test_keepalive_and_a_kit_that_dropped_us(scripted: ScriptedKit) -> None:
    dropped = asyncio.Event()
    kit = SerialKit(scripted.path, lambda f: None, on_disconnect=dropped.set, heartbeat_s=0.2)
    await kit.connect()
    await asyncio.sleep(1.1)
    assert scripted.hellos >= 5  # the keep-alive, answered each time
    assert kit.connected and not dropped.is_set()
    scripted.new_connection = True  # the kit took the next HELLO as a new connection
    await asyncio.wait_for(dropped.wait(), 2)
    assert "dropped the link" in kit.counters.last_error
    await kit.connect()  # and coming back is a plain connect
    assert kit.connected
    await kit.disconnect()


@run_async
async def test_a_kit_that_does_not_answer(scripted: ScriptedKit) -> None:
    scripted.answer_hello = False
    kit = SerialKit(scripted.path, lambda f: None, timeout=0.5)
    with pytest.raises(TransportError, match=r"did not answer.*REPL prompt"):
        await kit.connect(attempts=1)
    assert not kit.connected


@run_async
async def test_a_command_without_answer_times_out(scripted: ScriptedKit) -> None:
    kit = SerialKit(scripted.path, lambda f: None, timeout=0.5)
    await kit.connect()
    scripted.silent = True
    with pytest.raises(TransportError, match="did not answer TIME_SYNC"):
        await kit.time_sync()
    await kit.disconnect()


@run_async
async def test_loopback_echo_is_not_a_kit() -> None:
    # loop:// echoes our HELLO back: a valid packet, but not a kit's.
    kit = SerialKit("loop://", lambda f: None, timeout=0.6)
    with pytest.raises(TransportError, match="did not answer"):
        await kit.connect(attempts=1)
    assert kit.counters.unknown >= 1 and kit.counters.bad == 0


@run_async
async def test_a_missing_port_says_what_to_do() -> None:
    kit = SerialKit("/dev/finemotor-no-such-port", lambda f: None, timeout=0.5)
    with pytest.raises(TransportError, match="USB cable is plugged in"):
        await kit.connect(attempts=2)
