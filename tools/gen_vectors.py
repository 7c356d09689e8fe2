"""Write tests/vectors/protocol_v1.json: golden test vectors for wire protocol v1.

The bytes here are encoded straight from docs/protocol.md with ``struct``, independently of
both the firmware (which must pack the same bytes) and the host decoder (which must read the
same fields back). Run ``python tools/gen_vectors.py`` after a deliberate protocol change,
review the diff, and bump the protocol version if old kits would misread it.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "protocol_v1.json"


def i24(v: int) -> bytes:
    return (v & 0xFFFFFF).to_bytes(3, "little")


def u12x2(a: int, b: int) -> bytes:
    return (a | (b << 12)).to_bytes(3, "little")


def frame(ftype: int, layout: int, seq: int, tick: int, flags: int, samples: list[Any]) -> str:
    head = struct.pack("<BBHIBB", 0x10 | ftype, layout, seq, tick, len(samples), flags)
    body = b"".join(i24(s[0]) + u12x2(s[1], s[2]) if layout == 1 else i24(s[0]) for s in samples)
    return (head + body).hex()


def frames() -> list[dict[str, Any]]:
    specs: list[tuple[str, int, int, int, int, int, list[Any]]] = [
        ("grip, first sample", 0, 2, 0, 0, 0, [[0]]),
        (
            "grip, wrap edges, 23-byte MTU",
            0,
            2,
            65535,
            (1 << 30) - 1,
            0,
            [[-1], [8388607], [-8388608]],
        ),
        ("stylus, 23-byte MTU, resumed", 0, 1, 1234, 1000000, 2, [[-5000, 0, 4095]]),
        (
            "stylus backfill",
            1,
            1,
            40000,
            536870912,
            0,
            [[100, 1, 2], [200, 4094, 3], [-300, 2048, 4095], [8388607, 17, 4000]],
        ),
        (
            "stylus, 247-byte MTU (39 samples)",
            0,
            1,
            7,
            42,
            0,
            [[i * 1000 - 19000, (i * 97) % 4096, (i * 211) % 4096] for i in range(39)],
        ),
        ("grip, sensor fault", 0, 2, 300, 5000, 1, [[12345], [-12345]]),
    ]
    out = []
    for name, ft, lay, seq, tick, flags, samples in specs:
        out.append(
            {
                "name": name,
                "type": ft,
                "layout": lay,
                "seq": seq,
                "tick": tick,
                "flags": flags,
                "samples": samples,
                "hex": frame(ft, lay, seq, tick, flags, samples),
            }
        )
    return out


def malformed() -> list[dict[str, str]]:
    ok = bytes.fromhex(frame(0, 2, 1, 2, 0, [[5], [6]]))
    cases = [
        ("truncated", ok[:9]),
        ("bad_version", bytes([0x20]) + ok[1:]),
        ("bad_type", bytes([0x1F]) + ok[1:]),
        ("bad_layout", ok[:1] + bytes([9]) + ok[2:]),
        ("empty", ok[:8] + bytes([0, 0])),
        ("bad_length", ok[:-1]),
        ("bad_length", ok + b"\x00"),
        ("bad_tick", ok[:4] + struct.pack("<I", 1 << 30) + ok[8:]),
    ]
    return [{"reason": r, "hex": b.hex()} for r, b in cases]


def status() -> list[dict[str, Any]]:
    specs = [
        dict(
            state=1,
            battery_percent=87,
            battery_mv=4012,
            health=0,
            flags=8,
            rate_hz=200,
            missed=0,
            overwritten=0,
            next_seq=4321,
            faults=0,
        ),
        dict(
            state=3,
            battery_percent=4,
            battery_mv=3402,
            health=1,
            flags=3,
            rate_hz=320,
            missed=70000,
            overwritten=123456,
            next_seq=65535,
            faults=9,
        ),
    ]
    for s in specs:
        s["hex"] = struct.pack(
            "<BBHBBHIIHH",
            s["state"],
            s["battery_percent"],
            s["battery_mv"],
            s["health"],
            s["flags"],
            s["rate_hz"],
            s["missed"],
            s["overwritten"],
            s["next_seq"],
            s["faults"],
        ).hex()
    return specs


def control() -> list[dict[str, Any]]:
    return [
        {
            "name": "start",
            "request": "0101",
            "response": "80010100" + struct.pack("<HI", 16, 77).hex(),
            "kit": {"next_seq": 16, "now": 77},
        },
        {
            "name": "set rate 200",
            "request": "0302c800",
            "response": "80020300c800",
            "kit": {"rate": 200},
        },
        {
            "name": "set rate out of range",
            "request": "03031027",
            "response": "80030303",
            "kit": {"rate": 0},
        },
        {"name": "identify 5 s", "request": "050405", "response": "80040500", "kit": {}},
        {"name": "identify 0 s refused", "request": "050500", "response": "80050503", "kit": {}},
        {
            "name": "time sync",
            "request": "0606",
            "response": "80060600" + struct.pack("<I", 1073741823).hex(),
            "kit": {"now": 1073741823},
        },
        {
            "name": "backfill",
            "request": "0707" + struct.pack("<HH", 65530, 800).hex(),
            "response": "80070700" + struct.pack("<HHH", 65530, 790, 10).hex(),
            "kit": {"backfill": [65530, 790, 10]},
        },
        {"name": "unknown opcode", "request": "7f08", "response": "80087f01", "kit": {}},
        {
            "name": "not encrypted",
            "request": "0109",
            "response": "80090107",
            "kit": {},
            "encrypted": False,
        },
        {"name": "start with stray byte", "request": "010a00", "response": "800a0102", "kit": {}},
    ]


def _cal_blob(at: int, chans: list[tuple[int, int, list[float]]]) -> bytes:
    b = struct.pack("<BIB", 1, at, len(chans))
    for model, zero, coeffs in chans:
        b += struct.pack("<BBi", model, len(coeffs), zero)
        b += b"".join(struct.pack("<f", c) for c in coeffs)
    return b


def calibration() -> list[dict[str, Any]]:
    blob = _cal_blob
    valid = [
        (
            "stylus: tip linear, barrel_a table, barrel_b none",
            1790000000,
            [
                (1, 8000, [0.000244140625]),
                (3, 120, [0.0, 0.0, 400.0, 0.5, 1200.0, 2.0, 3000.0, 8.0]),
                (0, 0, []),
            ],
        ),
        ("grip: cubic polynomial", 1790003600, [(2, -2000, [0.0078125, 1.5e-10, -2.0e-17])]),
        ("grip: never calibrated", 0, [(0, 0, [])]),
    ]
    out: list[dict[str, Any]] = []
    for name, at, chans in valid:
        b = blob(at, chans)
        out.append(
            {
                "name": name,
                "valid": True,
                "calibrated_at": at,
                "channels": [{"model": m, "zero": z, "coeffs": c} for m, z, c in chans],
                "hex": b.hex(),
                "crc32": zlib.crc32(b),
            }
        )
    invalid = [
        ("table not increasing", blob(1, [(3, 0, [0.0, 0.0, 10.0, 1.0, 5.0, 2.0])]), 1),
        ("linear with two coefficients", blob(1, [(1, 0, [1.0, 2.0])]), 1),
        ("not finite", blob(1, [(1, 0, [float("nan")])]), 1),
        ("wrong channel count", blob(1, [(1, 0, [1.0])]), 3),
        ("unknown model", blob(1, [(9, 0, [1.0])]), 1),
        ("truncated", blob(1, [(1, 0, [1.0])])[:-2], 1),
    ]
    for name, b, nch in invalid:
        out.append(
            {
                "name": name,
                "valid": False,
                "device_channels": nch,
                "hex": b.hex(),
                "crc32": zlib.crc32(b),
            }
        )
    return out


def calibration_writes() -> dict[str, Any]:
    """CAL_STAGE/CAL_COMMIT sequences the kit must refuse, each followed by a CAL_READ that
    shows the stored record unchanged; and damaged stored records the kit must read as
    "not calibrated" (docs/protocol.md, "Calibration record")."""
    max_payload = 20
    chunk = 8
    new = _cal_blob(1790003600, [(2, -2000, [0.0078125, 1.5e-10, -2.0e-17])])
    bad = _cal_blob(1, [(3, 0, [0.0, 0.0, 10.0, 1.0, 5.0, 2.0])])
    empty = _cal_blob(0, [(0, 0, [])])  # what a kit holds before its first calibration

    def resp(token: int, op: int, result: int, payload: bytes = b"") -> str:
        return (bytes((0x80, token, op, result)) + payload).hex()

    def stage(token: int, off: int, data: bytes, result: int = 0) -> dict[str, str]:
        return {
            "request": (bytes((0x09, token)) + struct.pack("<H", off) + data).hex(),
            "response": resp(token, 0x09, result),
        }

    def commit(token: int, length: int, crc: int, reason: str | None) -> dict[str, str]:
        # the kit's reason, cut to what one response carries
        result, payload = (0, b"") if reason is None else (3, reason.encode()[: max_payload - 4])
        return {
            "request": (bytes((0x0A, token)) + struct.pack("<HI", length, crc)).hex(),
            "response": resp(token, 0x0A, result, payload),
        }

    def read_back(token: int, record: bytes) -> dict[str, str]:
        part = record[: max_payload - 6]
        return {
            "request": (bytes((0x08, token)) + struct.pack("<H", 0)).hex(),
            "response": resp(token, 0x08, 0, struct.pack("<H", len(record)) + part),
        }

    def staged(record: bytes) -> list[dict[str, str]]:
        return [
            stage(1 + k, off, record[off : off + chunk])
            for k, off in enumerate(range(0, len(record), chunk))
        ]

    crc = zlib.crc32(new)
    refused = [
        ("commit with a wrong CRC", [*staged(new), commit(9, len(new), crc ^ 1, "crc mismatch")]),
        (
            "commit with a wrong length",
            [*staged(new), commit(9, len(new) - 1, crc, "length mismatch")],
        ),
        (
            "chunks out of order",
            [
                stage(1, 0, new[:chunk]),
                stage(2, 2 * chunk, new[2 * chunk : 3 * chunk], result=3),
                commit(9, len(new), crc, "length mismatch"),
            ],
        ),
        (
            "commit of a record the kit cannot use",
            [*staged(bad), commit(9, len(bad), zlib.crc32(bad), "table not increasing")],
        ),
    ]
    sequences = [{"name": name, "steps": [*steps, read_back(10, empty)]} for name, steps in refused]
    ok = [*staged(new), commit(9, len(new), crc, None), read_back(10, new)]
    sequences.append({"name": "a good record is stored", "steps": ok})
    trailer = struct.pack("<I", zlib.crc32(new))
    damaged = [
        ("stored record with a wrong CRC", new + struct.pack("<I", zlib.crc32(new) ^ 0xFF)),
        ("stored record cut short", (new + trailer)[:3]),
        ("stored record the kit cannot use", bad + struct.pack("<I", zlib.crc32(bad))),
        ("stored record with a flipped bit", new[:7] + bytes((new[7] ^ 4,)) + new[8:] + trailer),
    ]
    return {
        "channels": 1,
        "max_payload": max_payload,
        "sequences": sequences,
        "damaged": [
            {"name": name, "file": raw.hex(), "read": read_back(1, empty)} for name, raw in damaged
        ],
    }


def main() -> None:
    doc = {
        "protocol_version": 1,
        "frames": frames(),
        "malformed": malformed(),
        "status": status(),
        "control": control(),
        "calibration": calibration(),
        "calibration_writes": calibration_writes(),
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT.name}")


if __name__ == "__main__":
    main()
