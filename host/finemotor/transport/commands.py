"""Control point commands as awaitable calls, shared by every transport to a kit."""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from finemotor.calibration.model import DeviceCalibration
from finemotor.errors import KitCommandError, ProtocolError, TransportError
from finemotor.protocol import LAYOUTS, Layout
from finemotor.protocol import control as cp
from finemotor.protocol.calblob import CAL_RECORD_MAX, decode_calibration, encode_calibration

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class KitInfo:
    """What a connected kit says about itself."""

    address: str
    model: str
    serial: str
    firmware: str
    layout: Layout
    rate_hz: int
    ring_samples: int


@dataclass(frozen=True)
class TimeSyncSample:
    """One TIME_SYNC exchange: host send and receive times (s), the device tick (µs mod 2**30)."""

    sent_s: float
    tick: int
    received_s: float


class KitCommands(ABC):
    """The kit's commands on top of ``command()``: a transport provides ``command`` (usually
    by sending the request and calling :meth:`_exchange`), ``address``, ``info``, ``mtu`` and
    ``timeout``, hands each control point notification to :meth:`_answered`, and gets every
    call below."""

    address: str
    info: KitInfo | None
    timeout: float
    _token: int
    _waiting: dict[int, asyncio.Future[cp.Response]]

    @property
    @abstractmethod
    def mtu(self) -> int:
        """The largest packet the link carries, as an ATT MTU (payload + 3)."""

    @abstractmethod
    async def command(self, request: bytes) -> cp.Response:
        """Send one control point request and wait for its response."""

    async def read_info(self, model: str, serial: str, firmware: str) -> KitInfo:
        """Ask the kit for its layout, rate and buffer (INFO) and keep what it is as ``info``.

        Raises:
            TransportError: the kit sends a channel layout this library does not know.
        """
        resp = await self.command(cp.encode(cp.Op.INFO, self._next_token()))
        layout_id, rate, capacity, _channels = resp.fields("<BHHB")
        if layout_id not in LAYOUTS:
            raise TransportError(
                f"the kit sends channel layout {layout_id}, which this host library does not "
                "know: update finemotor",
                self.address,
            )
        self.info = KitInfo(
            self.address, model, serial, firmware, LAYOUTS[layout_id], rate, capacity
        )
        return self.info

    async def _exchange(
        self, request: bytes, send: Callable[[bytes], Awaitable[None]], no_answer: str
    ) -> cp.Response:
        """Send ``request`` with ``send`` and wait for the response with its token.

        Raises:
            KitCommandError: the kit refused it (with the reason and what to do).
            TransportError: no answer within the timeout (``no_answer`` says what to check),
                or the link dropped meanwhile.
        """
        token = request[1]
        fut: asyncio.Future[cp.Response] = asyncio.get_running_loop().create_future()
        self._waiting[token] = fut
        try:
            await send(request)
            resp = await asyncio.wait_for(fut, self.timeout)
        except TimeoutError as exc:
            raise TransportError(
                f"the kit did not answer {cp.Op(request[0]).name} within {self.timeout} s: "
                + no_answer,
                self.address,
            ) from exc
        finally:
            self._waiting.pop(token, None)
        if resp.op != request[0]:
            raise ProtocolError(
                "bad_response",
                f"the kit answered {cp.Op(request[0]).name} as if it were {resp.op.name}: "
                "restart the kit, and update its firmware if it persists",
            )
        if not resp.ok:
            raise KitCommandError(resp.op.name, resp.result.name, resp.advice(), resp.payload)
        return resp

    def _answered(self, data: bytes) -> None:
        """A control point response arrived: wake the command waiting for its token."""
        try:
            resp = cp.decode_response(data)
        except ProtocolError as exc:  # a garbled response must not kill the link
            logger.warning("kit %s: %s", self.address, exc)
            waiting = self._waiting.get(data[1]) if len(data) > 1 else None
            if waiting is not None and not waiting.done():  # its command fails now, not later
                waiting.set_exception(exc)
            return
        fut = self._waiting.get(resp.token)
        if fut is not None and not fut.done():
            fut.set_result(resp)

    def _fail_waiting(self, why: str) -> None:
        """The link dropped: every command still waiting fails with ``why``."""
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(TransportError(why, self.address))
        self._waiting.clear()

    def _next_token(self) -> int:
        self._token = (self._token + 1) & 0xFF
        return self._token

    async def start(self) -> tuple[int, int]:
        """Start streaming; returns (next wire seq, device tick now)."""
        resp = await self.command(cp.encode(cp.Op.START, self._next_token()))
        seq, tick = resp.fields("<HI")
        return seq, tick

    async def stop(self) -> None:
        """Stop streaming (at the end of the current 16-sample block)."""
        await self.command(cp.encode(cp.Op.STOP, self._next_token()))

    async def time_sync(self) -> TimeSyncSample:
        """One TIME_SYNC exchange."""
        sent = time.monotonic()
        resp = await self.command(cp.encode(cp.Op.TIME_SYNC, self._next_token()))
        received = time.monotonic()
        return TimeSyncSample(sent, resp.fields("<I")[0], received)

    async def backfill(self, seq: int, count: int) -> tuple[int, int, int]:
        """Ask for samples again; returns (first seq, count queued, count gone for good)."""
        resp = await self.command(cp.backfill(self._next_token(), seq, count))
        first, queued, gone = resp.fields("<HHH")
        return first, queued, gone

    async def identify(self, seconds: int = 5) -> None:
        """Blink the kit's light so the facilitator can see which kit this is."""
        await self.command(cp.identify(self._next_token(), seconds))

    async def set_rate(self, hz: int) -> int:
        """Set the sampling rate (while stopped); returns the rate the kit set."""
        resp = await self.command(cp.set_rate(self._next_token(), hz))
        return resp.fields("<H")[0]

    async def tare(self, samples: int = 64) -> list[int]:
        """Mean raw counts of the last ``samples`` samples, per channel."""
        resp = await self.command(cp.tare(self._next_token(), samples))
        n = len(self.info.layout.channel_names) if self.info else max(1, len(resp.payload) // 4)
        return list(resp.fields(f"<{n}i"))

    async def read_calibration(self) -> DeviceCalibration:
        """Read the calibration record stored on the kit."""
        blob = b""
        total = None
        while total is None or len(blob) < total:
            resp = await self.command(cp.cal_read(self._next_token(), len(blob)))
            (total,) = resp.fields("<H")
            if total > CAL_RECORD_MAX:
                raise ProtocolError(
                    "bad_calibration",
                    f"the kit says its calibration record is {total} bytes (at most "
                    f"{CAL_RECORD_MAX}): restart the kit, and recalibrate it if it persists",
                )
            chunk = resp.payload[2:]
            if not chunk and len(blob) < total:
                raise ProtocolError(
                    "short_response",
                    f"the kit's answer to CAL_READ stopped at {len(blob)} of the {total} bytes "
                    "of its calibration record: restart the kit, and recalibrate it if it persists",
                )
            blob += chunk
        channels = len(self.info.layout.channel_names) if self.info else None
        return decode_calibration(blob[:total], channels)

    async def write_calibration(self, cal: DeviceCalibration) -> None:
        """Store a calibration record on the kit: staged in chunks, committed atomically."""
        blob = encode_calibration(cal)
        step = max(8, self.mtu - 3 - 4)
        for off in range(0, len(blob), step):
            await self.command(cp.cal_stage(self._next_token(), off, blob[off : off + step]))
        await self.command(cp.cal_commit(self._next_token(), len(blob), zlib.crc32(blob)))
