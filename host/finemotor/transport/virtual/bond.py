"""A bond as the simulated kit's firmware stores it: the record the bridge hands its store.

The firmware keeps what its ``_IRQ_SET_SECRET`` handler is given (bonds.bin on the kit's
flash); the bridge encodes bumble's :class:`~bumble.keys.PairingKeys` into that record and
reads them back (docs/virtual-radio.md has the format).
"""

from __future__ import annotations

import struct

from bumble import hci
from bumble.keys import PairingKeys

__all__ = ["decode_bond", "encode_bond", "store_key"]

_KEY_FIELDS = ("ltk", "ltk_central", "ltk_peripheral", "irk", "csrk", "link_key")


def store_key(name: str) -> bytes:
    """The store key of a peer: NimBLE's ``ble_addr_t`` (type byte, address little-endian)."""
    address = hci.Address(name)
    return bytes((1 if address.is_random else 0,)) + bytes(address)


def encode_bond(name: str, keys: PairingKeys) -> bytes:
    """A bond as the firmware stores it: its store key, then the keys (at most 144 bytes).

    ``key(7) | present bits(1) | per present key: flags(1: authenticated, has ediv/rand),
    value(16)[, ediv(2), rand(8)]``.
    """
    out = bytearray(store_key(name))
    present = 0
    body = bytearray()
    for i, attr in enumerate(_KEY_FIELDS):
        key: PairingKeys.Key | None = getattr(keys, attr)
        if key is None:
            continue
        present |= 1 << i
        extra = key.ediv is not None and key.rand is not None
        body.append((1 if key.authenticated else 0) | (2 if extra else 0))
        body += key.value[:16].ljust(16, b"\0")
        if extra:
            body += struct.pack("<H", key.ediv) + bytes(key.rand or b"")[:8].ljust(8, b"\0")
    out.append(present)
    return bytes(out + body)


def decode_bond(blob: bytes) -> tuple[str, PairingKeys]:
    """The peer's name (as bumble's keystore names it) and its keys, from :func:`encode_bond`.

    Raises:
        ValueError: the blob is not a bond in that format.
    """
    if len(blob) < 8:
        raise ValueError("bond record too short")
    kind = hci.Address.RANDOM_DEVICE_ADDRESS if blob[0] else hci.Address.PUBLIC_DEVICE_ADDRESS
    address = hci.Address(bytes(blob[1:7]), kind)
    keys = PairingKeys(address_type=hci.AddressType(kind))
    present, i = blob[7], 8
    for bit, attr in enumerate(_KEY_FIELDS):
        if not present & (1 << bit):
            continue
        if i + 17 > len(blob):
            raise ValueError("bond record cut short")
        flags, value = blob[i], bytes(blob[i + 1 : i + 17])
        i += 17
        ediv: int | None = None
        rand: bytes | None = None
        if flags & 2:
            if i + 10 > len(blob):
                raise ValueError("bond record cut short")
            ediv = struct.unpack_from("<H", blob, i)[0]
            rand = bytes(blob[i + 2 : i + 10])
            i += 10
        setattr(keys, attr, PairingKeys.Key(value, bool(flags & 1), ediv, rand))
    return str(address), keys
