"""``open_source(name)``: one name for every way to reach a kit.

Names are URLs, the way pyserial's ``serial_for_url`` and bumble's transports name theirs:

- ``ble://5A1001`` (the kit id on the label) or ``ble://F0:00:00:00:00:02`` (an address): a
  kit on this computer's Bluetooth radio.
- ``serial:///dev/ttyACM0`` (or ``serial://COM3``): a kit on its USB cable (COBS packets,
  docs/protocol.md "Serial link").
- ``sim://stylus`` or ``sim://grip?seed=3&kit=5A2002&chip=ads1220&drift=40&battery_mv=3500``: a
  simulated kit
  (its real firmware under MicroPython) on a virtual radio, started and stopped with the
  source; the simulated facilitator presses its button to pair.

Everything after the source (stream, metrics, recording) does not know which it was.
:func:`open_link` also takes ``replay://SESSION/DEVICE`` (a recorded session played back,
:mod:`finemotor.replay`), for whatever consumes blocks without commanding the kit.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

from finemotor.errors import FinemotorError, TransportError
from finemotor.kitlink import KitLink
from finemotor.replay import ReplayLink, parse_replay_url
from finemotor.samples import SIM_KIT_IDS, SampleBlock
from finemotor.transport.scan import scan_kits, wait_for_pairing_window
from finemotor.transport.serial import is_serial_target

if TYPE_CHECKING:
    from finemotor.transport.virtual.simkit import SimKit

_ADDRESS = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
_KIT_ID = re.compile(r"^[0-9A-Fa-f]{6}$")

BlocksCallback = Callable[[list[SampleBlock]], None]


@contextlib.asynccontextmanager
async def open_source(
    name: str, on_blocks: BlocksCallback | None = None, timeout: float = 10.0
) -> AsyncIterator[KitLink]:
    """Open a kit by name; yield its :class:`KitLink`, streaming; close it on exit.

    Raises:
        FinemotorError: the name is not one of the forms above.
        TransportError: the kit cannot be found or reached (the message says what to do).
    """
    url = urlparse(name)
    if url.scheme == "ble":
        async with _ble(url.netloc or url.path.strip("/"), on_blocks, timeout) as link:
            yield link
    elif url.scheme == "serial":
        if not is_serial_target(name):
            raise FinemotorError(
                f"{name!r} names no port: write serial:///dev/ttyACM0 (or serial://COM3)"
            )
        link = KitLink(name, on_blocks=on_blocks, timeout=timeout)
        await link.open()
        try:
            yield link
        finally:
            await link.close()
    elif url.scheme == "sim":
        async with open_simulated(name, on_blocks, timeout) as (link, _sim):
            yield link
    else:
        raise FinemotorError(
            f"unknown kit source {name!r}: use ble://KIT_ID (the id on the kit's label), "
            "ble://ADDRESS, serial:///dev/ttyACM0 (the kit on its USB cable), or "
            "sim://stylus | sim://grip (and, where a recording can stand in for a kit, "
            "replay://SESSION/DEVICE)"
        )


@contextlib.asynccontextmanager
async def open_link(
    name: str, on_blocks: BlocksCallback | None = None, timeout: float = 10.0
) -> AsyncIterator[KitLink | ReplayLink]:
    """Like :func:`open_source`, and also ``replay://SESSION/DEVICE?db=FILE&speed=S``.

    Raises:
        FinemotorError: the name is not one of the forms above.
        TransportError: the kit cannot be found or reached.
        RecordingError: the recording, session or device to replay does not exist.
    """
    if urlparse(name).scheme == "replay":
        session, device, db, speed = parse_replay_url(name)
        link = ReplayLink(db, session, device, on_blocks, speed)
        await link.open()
        try:
            yield link
        finally:
            await link.close()
        return
    async with open_source(name, on_blocks, timeout) as kit_link:
        yield kit_link


@contextlib.asynccontextmanager
async def _ble(
    target: str,
    on_blocks: BlocksCallback | None,
    timeout: float,
    backend: Any = None,
    scanner_backend: Any = None,
) -> AsyncIterator[KitLink]:
    if _ADDRESS.match(target):
        address = target.upper()
    elif _KIT_ID.match(target):
        # Outside its pairing window a kit does not say its id: this desk's bonded kits are
        # known by the identity their bonds gave (``finemotor pair`` remembers it).
        found = await scan_kits(
            timeout, kit_id=target, backend=scanner_backend, known=_desk_known()
        )
        if not found:
            raise TransportError(
                f"kit {target.upper()} is not in range: switch it on, bring it within a few "
                "metres, and check the id on its label"
            )
        address = found[0].address
    else:
        raise FinemotorError(
            f"{target!r} is neither a kit id (6 hex digits, as on the label) nor an address"
        )
    link = KitLink(address, on_blocks=on_blocks, backend=backend, timeout=timeout)
    await link.open()
    try:
        yield link
    finally:
        await link.close()


def _desk_known() -> dict[str, str]:
    """This computer's desk kits, kit id by identity address (none if there is no list)."""
    from finemotor.desk import Desk  # noqa: PLC0415  (the recording database's folder)

    try:
        return Desk().known()
    except FinemotorError:
        return {}


@contextlib.asynccontextmanager
async def open_simulated(
    name: str,
    on_blocks: BlocksCallback | None = None,
    timeout: float = 10.0,
    prepare: Callable[[SimKit], None] | None = None,
) -> AsyncIterator[tuple[KitLink, SimKit]]:
    """Open ``sim://stylus|grip?...``; yield its link, streaming, and the simulated kit itself
    (to press its button, load its rig, read its truth).

    Args:
        prepare: called with the simulated kit once it is on, before it is paired.
    """
    from finemotor.transport.virtual.radio import VirtualRadio  # noqa: PLC0415  (bumble: only here)
    from finemotor.transport.virtual.simkit import SimKit  # noqa: PLC0415

    url = urlparse(name)
    kind = url.netloc or url.path.strip("/")
    params = {k: v[-1] for k, v in parse_qs(url.query).items()}
    if url.scheme != "sim" or kind not in SIM_KIT_IDS:
        raise FinemotorError(f"{name}: the simulated kits are sim://stylus and sim://grip")
    kit_id = params.get("kit", SIM_KIT_IDS[kind]).upper()
    try:
        seed = int(params.get("seed", "1"))
        drift = float(params.get("drift", "0"))
        battery_mv = int(params["battery_mv"]) if "battery_mv" in params else None
    except ValueError as exc:
        raise FinemotorError(
            f"{name}: seed and battery_mv must be integers, drift a number"
        ) from exc
    async with (
        VirtualRadio() as radio,
        SimKit(
            radio,
            kind,
            seed=seed,
            kit_id=kit_id,
            adc_chip=params.get("chip"),
            drift_ppm=drift,
            battery_mv=battery_mv,  # from power-on
        ) as sim,
    ):
        if prepare is not None:
            prepare(sim)
        sim.press_button(300)  # the simulated facilitator opens the pairing window
        advert = await wait_for_pairing_window(kit_id, timeout, radio.scanner_backend)
        if advert is None:
            raise TransportError(f"the simulated {kind} kit did not open its pairing window")
        async with _ble(  # the address it advertises from: not bonded yet, so not its identity
            advert.address, on_blocks, timeout, radio.client_backend, radio.scanner_backend
        ) as link:
            yield link, sim
