"""Control point commands (host → kit) and their responses (kit → host, notified)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from finemotor.errors import ProtocolError


class Op(IntEnum):
    """Control point opcodes."""

    START = 0x01
    STOP = 0x02
    SET_RATE = 0x03
    TARE = 0x04
    IDENTIFY = 0x05
    TIME_SYNC = 0x06
    BACKFILL = 0x07
    CAL_READ = 0x08
    CAL_STAGE = 0x09
    CAL_COMMIT = 0x0A
    INFO = 0x0B


class Result(IntEnum):
    """Result codes in a control point response."""

    OK = 0
    UNKNOWN_OPCODE = 1
    BAD_LENGTH = 2
    BAD_VALUE = 3
    BAD_STATE = 4
    SENSOR_FAULT = 5
    STORAGE = 6
    NOT_AUTHORISED = 7


RESPONSE_CODE = 0x80

RESULT_ADVICE: dict[Result, str] = {
    Result.UNKNOWN_OPCODE: "the kit's firmware is older than this host library: update the kit",
    Result.BAD_LENGTH: "the command was cut short: retry, and update the kit if it persists",
    Result.BAD_VALUE: "the kit refused the value given",
    Result.BAD_STATE: "the kit is not in a state to do this (stop streaming first, or start it)",
    Result.SENSOR_FAULT: "the kit's force sensor does not answer: restart the kit",
    Result.STORAGE: "the kit could not write its flash: restart it and try again",
    Result.NOT_AUTHORISED: (
        "this computer is not paired with the kit: run `finemotor pair --kit ID` and press "
        "the kit's button when asked"
    ),
}


def encode(op: Op, token: int, params: bytes = b"") -> bytes:
    """Return the bytes to write to the control point."""
    return bytes((int(op), token & 0xFF)) + params


def set_rate(token: int, hz: int) -> bytes:
    """SET_RATE command."""
    return encode(Op.SET_RATE, token, struct.pack("<H", hz))


def tare(token: int, samples: int) -> bytes:
    """TARE command: mean raw counts of the last ``samples`` samples per channel."""
    return encode(Op.TARE, token, struct.pack("<H", samples))


def identify(token: int, seconds: int) -> bytes:
    """IDENTIFY command: blink the kit's LED for ``seconds`` (1-60)."""
    return encode(Op.IDENTIFY, token, bytes((seconds,)))


def backfill(token: int, seq: int, count: int) -> bytes:
    """BACKFILL command: resend ``count`` samples from wire sequence ``seq``."""
    return encode(Op.BACKFILL, token, struct.pack("<HH", seq & 0xFFFF, count))


def cal_read(token: int, offset: int) -> bytes:
    """CAL_READ command: a chunk of the calibration record from ``offset``."""
    return encode(Op.CAL_READ, token, struct.pack("<H", offset))


def cal_stage(token: int, offset: int, chunk: bytes) -> bytes:
    """CAL_STAGE command: put a chunk of a new calibration record at ``offset``."""
    return encode(Op.CAL_STAGE, token, struct.pack("<H", offset) + chunk)


def cal_commit(token: int, length: int, crc32: int) -> bytes:
    """CAL_COMMIT command: check the staged record and store it atomically."""
    return encode(Op.CAL_COMMIT, token, struct.pack("<HI", length, crc32))


@dataclass(frozen=True)
class Response:
    """A control point response."""

    token: int
    op: Op
    result: Result
    payload: bytes

    @property
    def ok(self) -> bool:
        """True if the kit did what was asked."""
        return self.result == Result.OK

    def advice(self) -> str:
        """What to do about a failed command, in words for the person at the desk."""
        return RESULT_ADVICE.get(self.result, "")

    def fields(self, fmt: str) -> tuple[int, ...]:
        """The payload's leading fields as ``struct`` format ``fmt`` (little-endian) describes.

        Raises:
            ProtocolError: the payload is shorter than ``fmt`` needs (a faulty kit), naming
                the command.
        """
        need = struct.calcsize(fmt)
        if len(self.payload) < need:
            raise ProtocolError(
                "short_response",
                f"the kit's answer to {self.op.name} holds {len(self.payload)} bytes where "
                f"{need} are needed: restart the kit, and update its firmware if it persists",
                self.payload,
            )
        return tuple(int(v) for v in struct.unpack_from(fmt, self.payload))


def decode_response(data: bytes | bytearray) -> Response:
    """Decode a control point notification; raise ProtocolError if it is not a response."""
    if len(data) < 4 or data[0] != RESPONSE_CODE:
        raise ProtocolError("bad_response", "control point sent something that is not a response")
    try:
        op = Op(data[2])
        result = Result(data[3])
    except ValueError as exc:
        raise ProtocolError("bad_response", f"control point response: {exc}", bytes(data)) from exc
    return Response(token=data[1], op=op, result=result, payload=bytes(data[4:]))
