"""Connecting to this desk's kits by their ids: one place for the command line and the desk app.

A kit says its id on the air only while its pairing window is open; this computer knows its
bonded kits by the identity address the bond gave (:meth:`finemotor.desk.Desk.known`), so a
known kit is recognised on its first advertisement. :func:`connect_kits` connects every kit of
a session at once, so starting takes as long as the slowest kit, not the sum of them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from finemotor.errors import PairingRefusedError, TransportError
from finemotor.kitlink import KitLink
from finemotor.transport.advert import KitAdvert
from finemotor.transport.scan import scan_kits, wait_for_pairing_window

if TYPE_CHECKING:
    from finemotor.radio import Radio
    from finemotor.samples import SampleBlock

OnBlocks = Callable[[list["SampleBlock"]], None]
BUTTON_WAIT_S = 60.0
"""How long a kit's pairing window stays open after its button is pressed."""


class KitNotFoundError(TransportError):
    """A kit was not heard within the time allowed: switched off, flat, or out of range.

    Attributes:
        kit_id: the id on its label.
        kind: ``stylus``, ``grip`` or None when not known.
    """

    def __init__(self, message: str, kit_id: str, kind: str | None) -> None:
        super().__init__(message)
        self.kit_id = kit_id
        self.kind = kind


async def connect_kit(
    kit_id: str,
    kind: str | None,
    radio: Radio,
    on_blocks: OnBlocks | None,
    say: Callable[[str], None],
    timeout: float,
    known: Mapping[str, str],
    heard: KitAdvert | None = None,
    scanned: bool = False,
) -> KitLink:
    """Find the kit by its id and open its link (asking for its button if it forgot us).

    Args:
        kit_id: the id on its label.
        kind: what the kit is (for the messages), if known.
        radio: the radio it is on.
        on_blocks: where its samples go.
        say: tells the facilitator what is happening (one sentence each).
        timeout: seconds to find it, and for each command.
        known: this desk's kits, kit id by the identity address its bond gave.
        heard: its advertisement, when a scan already heard it.
        scanned: a scan already listened for it (and did not hear it if ``heard`` is None).

    Raises:
        KitNotFoundError: the kit is not in range.
        PairingRefusedError: the kit no longer knows this computer and its button was not
            pressed within a minute.
        TransportError: the link could not be opened (it says why).
    """
    what = f"the {kind} {kit_id}" if kind else f"kit {kit_id}"
    if heard is not None:
        found = [heard]
    elif scanned:
        found = []
    else:
        found = await scan_kits(timeout, kit_id=kit_id, backend=radio.scanner_backend, known=known)
    if not found and radio.press_button(kit_id):  # a simulated kit that does not know us
        if kit_id in known.values():
            say(
                f"{what.capitalize()} no longer knows this computer: press its button once "
                "(its light blinks slowly)."
            )
        else:
            say(f"{what.capitalize()} is not paired with this computer: press its button.")
        say("(simulated kit: the button is pressed for you)")
        opened = await wait_for_pairing_window(kit_id, BUTTON_WAIT_S, radio.scanner_backend)
        found = [] if opened is None else [opened]
    if not found:
        raise KitNotFoundError(
            f"{what} is not in range: switch it on (its light glows), bring it to the desk, and "
            "check the id on its label. A new kit for this desk, or one that no longer knows "
            "this computer, is paired with `finemotor pair --kit ID`",
            kit_id,
            kind,
        )
    advert = found[0]
    link = KitLink(
        advert.address, on_blocks=on_blocks, backend=radio.client_backend, timeout=timeout
    )
    try:
        await link.open()
    except PairingRefusedError:
        say(
            f"The {advert.kind} {kit_id} no longer knows this computer: press its button "
            "once (its light blinks slowly)."
        )
        if radio.press_button(kit_id):
            say("(simulated kit: the button is pressed for you)")
        opened = await wait_for_pairing_window(kit_id, BUTTON_WAIT_S, radio.scanner_backend)
        if opened is None:
            raise
        # This computer forgot its stale keys: the kit is found by the address it advertises.
        link = KitLink(
            opened.address, on_blocks=on_blocks, backend=radio.client_backend, timeout=timeout
        )
        await link.open()
    status = link.status
    battery = f" (battery {status.battery_percent} %)" if status is not None else ""
    say(f"The {advert.kind} {kit_id} is connected{battery}.")
    return link


async def reach_kits(
    wanted: Sequence[tuple[str, str | None]],
    radio: Radio,
    on_blocks: Callable[[str], OnBlocks | None],
    say: Callable[[str], None],
    timeout: float,
    known: Mapping[str, str],
) -> dict[str, KitLink | Exception]:
    """Connect every kit at once; each kit's link, or why it could not be connected. One scan
    listens for all of them and ends as soon as each was heard once.

    Args:
        wanted: (kit id, kind or None) of each kit.
        on_blocks: the samples' destination for a kit id.
        say, timeout, known: as for :func:`connect_kit`.
    """
    ids = {kit_id.upper() for kit_id, _kind in wanted}
    heard: dict[str, KitAdvert] = {}

    def all_heard(kit: KitAdvert) -> bool:
        if kit.kit_id in ids:
            heard.setdefault(kit.kit_id, kit)
        return set(heard) == ids

    await scan_kits(timeout, backend=radio.scanner_backend, until=all_heard, known=known)
    results = await asyncio.gather(
        *(
            connect_kit(
                kit_id,
                kind,
                radio,
                on_blocks(kit_id),
                say,
                timeout,
                known,
                heard=heard.get(kit_id.upper()),
                scanned=True,
            )
            for kit_id, kind in wanted
        ),
        return_exceptions=True,
    )
    out: dict[str, KitLink | Exception] = {}
    for (kit_id, _kind), result in zip(wanted, results, strict=True):
        if isinstance(result, BaseException) and not isinstance(result, Exception):
            raise result  # cancelled, or Ctrl-C
        out[kit_id] = result
    return out


async def connect_kits(
    wanted: Sequence[tuple[str, str | None]],
    radio: Radio,
    on_blocks: Callable[[str], OnBlocks | None],
    say: Callable[[str], None],
    timeout: float,
    known: Mapping[str, str],
) -> dict[str, KitLink]:
    """Connect every kit at once (:func:`reach_kits`): link by kit id, in the order asked.

    Raises:
        TransportError: a kit could not be connected (the first such error, in the order
            asked); the kits that did connect are closed again.
    """
    results = await reach_kits(wanted, radio, on_blocks, say, timeout, known)
    links = {k: r for k, r in results.items() if isinstance(r, KitLink)}
    failure = next((r for r in results.values() if isinstance(r, Exception)), None)
    if failure is not None:
        for link in links.values():
            with contextlib.suppress(TransportError):
                await link.close()
        raise failure
    return links
