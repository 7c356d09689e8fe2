"""The kit bridge's wire: frames and opcodes between a firmware process and its bridge.

One TCP connection per kit. Every frame is ``u8 opcode | u16 length | payload``, all integers
little-endian. :class:`Opcode` names every opcode; ``firmware/sim/bluetooth.py`` names the
same ones as ``_OP_<NAME> = const(...)`` (tests/host/test_bridge_wire.py keeps the two
alike). The payloads are in docs/virtual-radio.md, "The wire".
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Mapping
from enum import IntEnum, unique
from typing import Final

from bumble import hci

from finemotor.errors import TransportError

__all__ = ["CALL_ANSWERS", "MAX_PAYLOAD", "Opcode", "address_bytes", "frame", "read_frame"]

MAX_PAYLOAD: Final = 600
"""Largest payload the bridge sends (the firmware's receive buffer is 1 KB)."""

_HEADER: Final = struct.Struct("<BH")


@unique
class Opcode(IntEnum):
    """A frame's type. Calls from the firmware are upper case, events to it lower case."""

    # Firmware → bridge: MicroPython's bluetooth API.
    HELLO = ord("H")
    """Firmware → bridge, empty: connect_bridge(); answered by HELLO_ANSWER."""
    ACTIVE = ord("A")
    """Firmware → bridge, ``u8 on``: active(); answered by ACTIVE_ANSWER."""
    CONFIG = ord("C")
    """Firmware → bridge, ``u16 mtu, u8 bond, le_secure, mitm, io, gap_name``: config()."""
    REGISTER = ord("R")
    """Firmware → bridge, the services: gatts_register_services(); answered by
    REGISTER_ANSWER."""
    LOCAL_WRITE = ord("W")
    """Firmware → bridge, ``u16 handle, u8 send_update, value``: gatts_write()."""
    SET_BUFFER = ord("B")
    """Firmware → bridge, ``u16 handle, u16 size, u8 append``: gatts_set_buffer()."""
    NOTIFY = ord("N")
    """Firmware → bridge, ``u16 conn, u16 handle, u8 kind (1: indicate), data``."""
    ADVERTISE = ord("V")
    """Firmware → bridge, ``u32 interval_us, u8 flags, u8 adv_length, adv, resp``."""
    DISCONNECT = ord("D")
    """Firmware → bridge, ``u16 conn``: gap_disconnect()."""
    PAIR = ord("X")
    """Firmware → bridge, ``u16 conn``: gap_pair()."""
    PASSKEY = ord("P")
    """Firmware → bridge, ``u16 conn, u8 action, u32 passkey``: gap_passkey(), to
    PASSKEY_ACTION."""
    OWN_ADDRESS = ord("O")
    """Firmware → bridge, ``u8 addr_type, 6 bytes``: the address the stack uses from now."""
    IRK = ord("K")
    """Firmware → bridge, 16 bytes: the stack's own identity resolving key."""
    SECRET_ANSWER = ord("S")
    """Firmware → bridge, ``u8 request, u8 result, value``: to GET_SECRET or SET_SECRET."""

    # Bridge → firmware: answers, the stack's events, the simulation's controls.
    HELLO_ANSWER = ord("h")
    """Bridge → firmware, ``u8 addr_type, 6 bytes``: the kit's identity address."""
    ACTIVE_ANSWER = ord("a")
    """Bridge → firmware, ``u8 ok`` (empty: failed)."""
    REGISTER_ANSWER = ord("r")
    """Bridge → firmware, per service the value handles (empty: failed)."""
    CENTRAL_CONNECT = ord("c")
    """Bridge → firmware, ``u16 conn, u8 addr_type, 6 bytes``: _IRQ_CENTRAL_CONNECT."""
    CENTRAL_DISCONNECT = ord("d")
    """Bridge → firmware, ``u16 conn, u8 addr_type, 6 bytes``: _IRQ_CENTRAL_DISCONNECT."""
    CENTRAL_WRITE = ord("w")
    """Bridge → firmware, ``u16 conn, u16 handle, value``: _IRQ_GATTS_WRITE."""
    MTU_EXCHANGED = ord("m")
    """Bridge → firmware, ``u16 conn, u16 mtu``: _IRQ_MTU_EXCHANGED."""
    ENCRYPTION_UPDATE = ord("e")
    """Bridge → firmware, ``u16 conn, u8 encrypted, authenticated, bonded, key_size``."""
    GET_SECRET = ord("g")
    """Bridge → firmware, ``u8 request, sec_type, index, has_key, key``: _IRQ_GET_SECRET."""
    SET_SECRET = ord("s")
    """Bridge → firmware, ``u8 request, sec_type, key_length, key, u8 has_value, value``."""
    PASSKEY_ACTION = ord("k")
    """Bridge → firmware, ``u16 conn, u8 action, u32 passkey``: _IRQ_PASSKEY_ACTION."""
    INDICATE_DONE = ord("i")
    """Bridge → firmware, ``u16 conn, u16 handle, u8 status``: _IRQ_GATTS_INDICATE_DONE."""
    BUTTON = ord("b")
    """Bridge → firmware, ``u32 ms``: press the button (the on_sim hook's SIM_BUTTON)."""
    BATTERY = ord("v")
    """Bridge → firmware, ``u32 mV``: set the cell voltage (SIM_BATTERY)."""
    LOAD = ord("l")
    """Bridge → firmware, ``u32 mN`` (0xFFFFFFFF: none): the load rig's force (SIM_LOAD)."""
    TRUTH = ord("t")
    """Bridge → firmware, ``u32 0``: write the world's truth to truth.json (SIM_TRUTH)."""
    RENEW_ADDRESS = ord("n")
    """Bridge → firmware, empty: the controller's RPA timer fires now."""
    QUIT = ord("q")
    """Bridge → firmware, empty: the process ends (SystemExit(0))."""


CALL_ANSWERS: Final[Mapping[int, Opcode]] = {
    Opcode.HELLO: Opcode.HELLO_ANSWER,
    Opcode.ACTIVE: Opcode.ACTIVE_ANSWER,
    Opcode.REGISTER: Opcode.REGISTER_ANSWER,
}
"""The firmware's calls that wait for an answer, and that answer's opcode."""


def frame(opcode: int, payload: bytes) -> bytes:
    """One frame, header and payload.

    Raises:
        TransportError: the payload is longer than :data:`MAX_PAYLOAD`.
    """
    if len(payload) > MAX_PAYLOAD:
        raise TransportError(f"bridge frame of {len(payload)} bytes is too long for the kit")
    return _HEADER.pack(opcode, len(payload)) + payload


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """The next frame from the firmware: its opcode (maybe one :class:`Opcode` lacks) and
    payload.

    Raises:
        asyncio.IncompleteReadError: the connection ended.
    """
    header = await reader.readexactly(_HEADER.size)
    typ, length = _HEADER.unpack(header)
    return typ, await reader.readexactly(length)


def address_bytes(address: hci.Address) -> bytes:
    """``addr_type`` byte + the address, most significant byte first (as MicroPython shows it)."""
    return bytes((1 if address.is_random else 0,)) + bytes(reversed(bytes(address)))
