"""Every decoder of what a kit sends, fed arbitrary bytes: a ProtocolError or CalibrationError
(the library's own, with a message), never another exception.

Hypothesis draws the inputs (and shrinks a failing one); each drawn input is also fed as
:data:`MUTANTS` cheap mutations of itself (bits flipped, cut, extended, spliced), so each entry
point takes ``EXAMPLES x MUTANTS`` = 500 x 20 = 10,000 inputs here at a small cost, and
``make fuzz`` runs 1,000,000 each (``FINEMOTOR_FUZZ_EXAMPLES=5000``,
``FINEMOTOR_FUZZ_MUTANTS=200``).
"""

from __future__ import annotations

import asyncio
import os
import random
import struct
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from finemotor.errors import FinemotorError, KitCommandError, ProtocolError
from finemotor.protocol import LAYOUTS
from finemotor.protocol import control as cp
from finemotor.protocol.calblob import decode_calibration
from finemotor.protocol.frames import decode_frame, decode_frames
from finemotor.protocol.status import decode_status
from finemotor.transport.commands import KitCommands
from finemotor.transport.serial import KitIdentity, PacketDecoder, decode_packet

EXAMPLES = int(os.environ.get("FINEMOTOR_FUZZ_EXAMPLES", "500"))
MUTANTS = int(os.environ.get("FINEMOTOR_FUZZ_MUTANTS", "20"))
fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow],
)


def mutants(data: bytes, seed: int) -> Iterator[bytes]:
    """``data``, then ``MUTANTS - 1`` mutations, the same for the same ``seed``: each a
    mutation of the one before, back to ``data`` every tenth (so mutations pile up a little)."""
    rng = random.Random(seed)
    yield data
    last = data
    for k in range(1, MUTANTS):
        b = bytearray(data if k % 10 == 0 else last)
        op = rng.randrange(4)
        if op == 0 and b:  # flip a few bits
            for _ in range(rng.randrange(1, 4)):
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif op == 1:  # cut
            del b[rng.randrange(len(b) + 1) :]
        elif op == 2:  # extend
            b += rng.randbytes(rng.randrange(1, 16))
        elif b:  # splice a piece elsewhere
            i, j = sorted(rng.randrange(len(b) + 1) for _ in range(2))
            at = rng.randrange(len(b) + 1)
            b[at:at] = b[i:j]
        last = bytes(b)
        yield last


seeds = st.integers(0, 2**32 - 1)


def frame_like(draw: Any) -> bytes:
    """Bytes near a valid frame (so the fuzz reaches past the header checks), or any bytes."""
    if draw(st.booleans()):
        return bytes(draw(st.binary(max_size=300)))
    layout = draw(st.sampled_from(sorted(LAYOUTS)))
    count = draw(st.integers(0, 40))
    header = struct.pack(
        "<BBHIBB",
        draw(st.sampled_from([0x10, 0x11, 0x12, 0x20])),
        draw(st.sampled_from([layout, 0, 9])),
        draw(st.integers(0, 0xFFFF)),
        draw(st.integers(0, 0xFFFFFFFF)),
        count,
        draw(st.integers(0, 255)),
    )
    body = draw(st.binary(min_size=0, max_size=count * LAYOUTS[layout].record_size + 3))
    return header + body


frames_st = st.composite(frame_like)()


@fuzz
@given(drawn=frames_st, seed=seeds)
def test_frame_decoder(drawn: bytes, seed: int) -> None:
    for data in mutants(drawn, seed):
        try:
            decoded = decode_frame(data)
        except ProtocolError as exc:
            assert exc.reason and str(exc)
            continue
        assert decoded.counts.shape[0] == int(decoded.count.sum()), data


@fuzz
@given(drawn=st.lists(frames_st, min_size=1, max_size=6), seed=seeds)
def test_frame_batch_decoder(drawn: list[bytes], seed: int) -> None:
    rng = random.Random(seed)
    per_frame = [list(mutants(f, rng.randrange(2**32))) for f in drawn]
    for k in range(MUTANTS):
        batch = [m[k] for m in per_frame]
        decoded, errors = decode_frames(batch)
        assert all(isinstance(e, ProtocolError) for e in errors)
        assert (decoded.n_frames if decoded is not None else 0) + len(errors) == len(batch)


@fuzz
@given(drawn=st.binary(max_size=64), seed=seeds)
def test_control_response_decoder(drawn: bytes, seed: int) -> None:
    for data in mutants(drawn, seed):
        try:
            resp = cp.decode_response(data)
        except ProtocolError:
            continue
        assert resp.token == data[1] and resp.payload == data[4:]


@fuzz
@given(drawn=st.one_of(st.binary(max_size=40), st.binary(min_size=20, max_size=20)), seed=seeds)
def test_status_decoder(drawn: bytes, seed: int) -> None:
    for data in mutants(drawn, seed):
        try:
            st_ = decode_status(data)
        except ProtocolError:
            assert len(data) != 20
            continue
        assert 0 <= st_.battery_percent <= 255


@fuzz
@given(drawn=st.binary(max_size=300), channels=st.sampled_from([None, 1, 3]), seed=seeds)
def test_calibration_record_decoder(drawn: bytes, channels: int | None, seed: int) -> None:
    for data in mutants(drawn, seed):
        with pytest.raises(FinemotorError) if len(data) < 6 else _Either():
            decode_calibration(data, channels)


class _Either:
    """Accept a clean return or a FinemotorError (ProtocolError, CalibrationError)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, typ: type[BaseException] | None, *_: object) -> bool:
        return typ is None or issubclass(typ, FinemotorError)


@fuzz
@given(drawn=st.lists(st.binary(max_size=80), min_size=1, max_size=8), seed=seeds)
def test_serial_packet_stream_decoder(drawn: list[bytes], seed: int) -> None:
    dec = PacketDecoder()
    fed = 0
    for data in mutants(b"".join(drawn), seed):
        for tag, payload in dec.feed(data):
            assert 0 <= tag <= 255 and isinstance(payload, bytes)
        fed += len(data)
    assert dec.counters.bytes_in == fed


@fuzz
@given(drawn=st.binary(max_size=300), seed=seeds)
def test_serial_packet_and_identity_decoders(drawn: bytes, seed: int) -> None:
    for data in mutants(drawn, seed):
        with _Either():
            decode_packet(data)
        with _Either():
            KitIdentity.decode(data)


class ScriptedKit(KitCommands):
    """A kit that answers every command with the response the test gives it (its header
    right, its result and payload whatever the fuzz draws), through the library's own
    request/response matching."""

    def __init__(self) -> None:
        self.address, self.info, self.timeout = "fuzz", None, 1.0
        self._token, self._waiting = 0, {}
        self.result, self.payload = 0, b""

    @property
    def mtu(self) -> int:
        return 247

    async def command(self, request: bytes) -> cp.Response:
        async def send(req: bytes) -> None:
            head = bytes((cp.RESPONSE_CODE, req[1], req[0], self.result))
            self._answered(head + self.payload)

        return await self._exchange(request, send, "fuzz")


COMMANDS: dict[str, Callable[[ScriptedKit], Awaitable[object]]] = {
    "INFO": lambda k: k.read_info("m", "s", "f"),
    "START": lambda k: k.start(),
    "TIME_SYNC": lambda k: k.time_sync(),
    "BACKFILL": lambda k: k.backfill(1, 2),
    "SET_RATE": lambda k: k.set_rate(200),
    "TARE": lambda k: k.tare(),
    "CAL_READ": lambda k: k.read_calibration(),
}


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    lp = asyncio.new_event_loop()
    yield lp
    lp.close()


@pytest.mark.parametrize("name", list(COMMANDS))
def test_command_responses(name: str, loop: asyncio.AbstractEventLoop) -> None:
    """A faulty kit's answer (any result, any payload) to each command: the command's value
    or a library error naming what happened, never struct.error or IndexError."""
    call = COMMANDS[name]

    @fuzz
    @given(result=st.integers(0, 9), drawn=st.binary(max_size=24), seed=seeds)
    def check(result: int, drawn: bytes, seed: int) -> None:
        kit = ScriptedKit()
        for payload in mutants(drawn, seed):
            kit.result, kit.payload = result, payload
            try:
                loop.run_until_complete(call(kit))
            except KitCommandError:
                assert result != 0
            except ProtocolError as exc:
                assert name in str(exc) or exc.reason in {"bad_calibration", "bad_response"}, exc
            except FinemotorError as exc:  # e.g. a layout this library does not know
                assert "update" in str(exc), exc

    check()


def test_a_short_answer_names_the_command() -> None:
    kit = ScriptedKit()
    kit.payload = b"\x01\x02"
    lp = asyncio.new_event_loop()
    try:
        for name in ("INFO", "START", "BACKFILL"):
            with pytest.raises(ProtocolError, match=f"answer to {name} holds 2 bytes"):
                lp.run_until_complete(COMMANDS[name](kit))
    finally:
        lp.close()
