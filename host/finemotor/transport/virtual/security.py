"""The simulated kit's security on bumble: its bonds in the firmware's store, its pairing
questions to the firmware.

bumble's :class:`~bumble.keys.KeyStore` and :class:`~bumble.pairing.PairingDelegate` for the
kit's peripheral, both asking the firmware through :class:`FirmwareRequests` (what
:class:`~finemotor.transport.virtual.bridge.KitBridge` does over the wire), as NimBLE asks
MicroPython's ``_IRQ_GET_SECRET``/``_IRQ_SET_SECRET`` and ``_IRQ_PASSKEY_ACTION``.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Protocol

from bumble.device import Connection
from bumble.keys import KeyStore, PairingKeys
from bumble.pairing import PairingDelegate

from finemotor.transport.virtual.bond import decode_bond, encode_bond, store_key

__all__ = ["FirmwareKeyStore", "FirmwarePairingDelegate", "FirmwareRequests"]

logger = logging.getLogger(__name__)

_SEC_OURS = 1  # NimBLE's BLE_STORE_OBJ_TYPE_OUR_SEC: the keys the kit gave the peer
_SEC_PEER = 2  # NimBLE's BLE_STORE_OBJ_TYPE_PEER_SEC: the keys the peer gave the kit
_MAX_BONDS_LISTED = 64

# _IRQ_PASSKEY_ACTION actions.
_PASSKEY_INPUT = 2
_PASSKEY_DISPLAY = 3
_PASSKEY_NUMERIC_COMPARISON = 4


class FirmwareRequests(Protocol):
    """What the key store and the pairing delegate ask the kit's firmware."""

    async def get_secret(self, sec_type: int, index: int, key: bytes | None) -> bytes | None:
        """``_IRQ_GET_SECRET``: the firmware's stored value, or None."""

    async def set_secret(self, sec_type: int, key: bytes, value: bytes | None) -> bool:
        """``_IRQ_SET_SECRET`` (value None deletes): True if the firmware stored it."""

    def bond_offered(self, name: str, accepted: bool) -> None:
        """Notes whether the firmware kept a new bond."""

    async def passkey_action(self, connection: Connection, action: int, passkey: int) -> int | None:
        """``_IRQ_PASSKEY_ACTION``: the firmware's ``gap_passkey`` answer, or None."""


class FirmwareKeyStore(KeyStore):
    """bumble's key store on the firmware's bond store (``_IRQ_GET_SECRET``/``_SET_SECRET``)."""

    def __init__(self, firmware: FirmwareRequests) -> None:
        self._firmware = firmware

    async def get(self, name: str) -> PairingKeys | None:
        blob = await self._firmware.get_secret(_SEC_PEER, 0, store_key(name))
        if blob is None:
            return None
        try:
            return decode_bond(blob)[1]
        except ValueError as error:
            logger.warning("kit's bond for %s is unreadable (%s): ignored", name, error)
            return None

    async def update(self, name: str, keys: PairingKeys) -> None:
        # Two entries per bond, in NimBLE's order (nimble/host/src/ble_sm.c
        # ble_sm_persist_keys: OUR_SEC, then PEER_SEC); both hold this bridge's encoding.
        key, blob = store_key(name), encode_bond(name, keys)
        ours = await self._firmware.set_secret(_SEC_OURS, key, blob)
        theirs = await self._firmware.set_secret(_SEC_PEER, key, blob)
        self._firmware.bond_offered(name, ours and theirs)

    async def delete(self, name: str) -> None:
        # nimble/host/src/ble_store_util.c ble_store_util_delete_peer: both entry types (the
        # firmware's stand-in repeats each delete until the store answers False).
        await self._firmware.set_secret(_SEC_OURS, store_key(name), None)
        await self._firmware.set_secret(_SEC_PEER, store_key(name), None)

    async def get_all(self) -> list[tuple[str, PairingKeys]]:
        out: list[tuple[str, PairingKeys]] = []
        for index in range(_MAX_BONDS_LISTED):
            blob = await self._firmware.get_secret(_SEC_PEER, index, None)
            if blob is None:
                break
            with contextlib.suppress(ValueError):
                out.append(decode_bond(blob))
        return out


class FirmwarePairingDelegate(PairingDelegate):
    """Pairing questions go to the firmware as ``_IRQ_PASSKEY_ACTION``; it answers with
    ``gap_passkey``. Just Works needs no question."""

    def __init__(self, firmware: FirmwareRequests, connection: Connection, io: int) -> None:
        super().__init__(io_capability=PairingDelegate.IoCapability(io))
        self._firmware = firmware
        self._connection = connection

    async def compare_numbers(self, number: int, digits: int) -> bool:
        answer = await self._firmware.passkey_action(
            self._connection, _PASSKEY_NUMERIC_COMPARISON, number
        )
        return bool(answer)

    async def get_number(self) -> int | None:
        return await self._firmware.passkey_action(self._connection, _PASSKEY_INPUT, 0)

    async def generate_passkey(self) -> int:
        answer = await self._firmware.passkey_action(self._connection, _PASSKEY_DISPLAY, 0)
        return await super().generate_passkey() if answer is None else answer % 1_000_000
