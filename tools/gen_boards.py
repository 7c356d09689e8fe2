"""Generate the firmware's board pin maps from the hardware reference design.

The pin maps live as data in ``hardware/pinmap/<kind>.json`` (the single source); this
tool writes ``firmware/boards/<kind>.py`` from them, in the style MicroPython expects
(``NAME = const(value)`` for integers, a plain assignment for strings).

Usage::

    python tools/gen_boards.py            # regenerate firmware/boards/*.py
    python tools/gen_boards.py --check    # exit 1 and name the differences if out of date

Before writing anything the pin maps are validated against what the ESP32-S3 and the two
boards allow: every pin is a GPIO the board breaks out, none is a strapping, flash/PSRAM,
USB or console pin, analogue inputs are on ADC1 (GPIO1-GPIO10), and no pin is used twice
unless both entries say they share it on purpose.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PINMAP_DIR = Path("hardware/pinmap")
BOARDS_DIR = Path("firmware/boards")
KINDS = ("stylus", "grip")
ADC_CHIPS = ("nau7802", "ads1220", "hx711")

# ESP32-S3 facts (ESP32-S3 Series Datasheet, "Strapping Pins" and "Pin Overview";
# ESP-IDF ESP32-S3 ADC guide: ADC1 = GPIO1-GPIO10, ADC2 = GPIO11-GPIO20).
ADC1_GPIOS = frozenset(range(1, 11))
STRAPPING_GPIOS = frozenset({0, 3, 45, 46})
FLASH_GPIOS = frozenset(range(26, 33))  # SPI0/1 to the in-package/module flash and PSRAM
OCTAL_PSRAM_GPIOS = frozenset({33, 34, 35, 36, 37})  # taken by octal flash/PSRAM (R8 parts)
USB_GPIOS = frozenset({19, 20})  # native USB D-/D+ (MicroPython REPL, flashing)
CONSOLE_GPIOS = frozenset({43, 44})  # U0TXD/U0RXD: boot ROM log and UART console

RESERVED_GPIOS: dict[int, str] = {}
for _gpio in STRAPPING_GPIOS:
    RESERVED_GPIOS[_gpio] = "strapping pin"
for _gpio in FLASH_GPIOS:
    RESERVED_GPIOS[_gpio] = "SPI flash/PSRAM pin"
for _gpio in OCTAL_PSRAM_GPIOS:
    RESERVED_GPIOS[_gpio] = "octal flash/PSRAM pin"
for _gpio in USB_GPIOS:
    RESERVED_GPIOS[_gpio] = "USB D-/D+ pin"
for _gpio in CONSOLE_GPIOS:
    RESERVED_GPIOS[_gpio] = "UART0 console pin"


@dataclass(frozen=True)
class Board:
    """A development board: which GPIO reaches which header pin, and what to avoid on it."""

    name: str
    pins: Mapping[int, str]
    avoid: Mapping[int, str] = field(default_factory=dict)


# Seeed Studio XIAO ESP32S3 pinout (Seeed wiki, "Pin List"): D0-D10 and the on-board user LED.
XIAO_ESP32S3 = Board(
    name="Seeed Studio XIAO ESP32S3",
    pins={
        1: "D0",
        2: "D1",
        3: "D2",
        4: "D3",
        5: "D4",
        6: "D5",
        43: "D6",
        44: "D7",
        7: "D8",
        8: "D9",
        9: "D10",
        21: "USER_LED",
    },
)

# Espressif ESP32-S3-DevKitC-1 header blocks J1 and J3 (ESP32-S3-DevKitC-1 user guide).
DEVKITC_1 = Board(
    name="Espressif ESP32-S3-DevKitC-1",
    pins={
        4: "J1-4",
        5: "J1-5",
        6: "J1-6",
        7: "J1-7",
        15: "J1-8",
        16: "J1-9",
        17: "J1-10",
        18: "J1-11",
        8: "J1-12",
        3: "J1-13",
        46: "J1-14",
        9: "J1-15",
        10: "J1-16",
        11: "J1-17",
        12: "J1-18",
        13: "J1-19",
        14: "J1-20",
        43: "J3-2",
        44: "J3-3",
        1: "J3-4",
        2: "J3-5",
        42: "J3-6",
        41: "J3-7",
        40: "J3-8",
        39: "J3-9",
        38: "J3-10",
        37: "J3-11",
        36: "J3-12",
        35: "J3-13",
        0: "J3-14",
        45: "J3-15",
        48: "J3-16",
        47: "J3-17",
        21: "J3-18",
        20: "J3-19",
        19: "J3-20",
    },
    # The on-board addressable RGB LED is on GPIO38 (board v1.1) or GPIO48 (v1.0).
    avoid={38: "on-board RGB LED (v1.1)", 48: "on-board RGB LED (v1.0)"},
)

BOARDS: dict[str, Board] = {b.name: b for b in (XIAO_ESP32S3, DEVKITC_1)}

ROLES = ("gpio", "adc", "int", "str")
_NAME_RE = re.compile(r"^[A-Z][A-Z0-9_]*$")


class PinMapError(Exception):
    """A pin map that cannot be turned into a board file."""


def pinmap_path(kind: str, root: Path = ROOT) -> Path:
    """Path of the JSON pin map of a device kind."""
    return root / PINMAP_DIR / f"{kind}.json"


def board_path(kind: str, root: Path = ROOT) -> Path:
    """Path of the generated MicroPython board file of a device kind."""
    return root / BOARDS_DIR / f"{kind}.py"


def load_pinmap(path: Path) -> dict[str, Any]:
    """Read one pin map JSON file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise PinMapError(f"{path.name}: top level must be an object")
    return data


def constants(pinmap: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The constant entries of a pin map, in file order."""
    entries = pinmap.get("constants")
    if not isinstance(entries, list):
        raise PinMapError("'constants' must be a list")
    return entries


def constant_values(pinmap: Mapping[str, Any]) -> dict[str, int | str]:
    """Name -> value of every constant in a pin map."""
    return {e["name"]: e["value"] for e in constants(pinmap)}


def pin_entries(pinmap: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The entries that name a GPIO (digital pins and ADC inputs)."""
    return [e for e in constants(pinmap) if e.get("role") in ("gpio", "adc")]


def _validate_entry(entry: Any, board: Board | None) -> list[str]:
    if not isinstance(entry, dict):
        return [f"constant entry {entry!r} is not an object"]
    name = entry.get("name")
    where = f"{name}" if isinstance(name, str) else f"entry {entry!r}"
    problems: list[str] = []
    if not isinstance(name, str) or not _NAME_RE.match(name):
        problems.append(f"{where}: name must be an UPPER_CASE identifier")
    role = entry.get("role")
    if role not in ROLES:
        problems.append(f"{where}: role must be one of {', '.join(ROLES)}")
    desc = entry.get("description")
    if not isinstance(desc, str) or not desc.strip():
        problems.append(f"{where}: needs a short description")
    value = entry.get("value")
    if role == "str":
        if not isinstance(value, str) or '"' in value or "\\" in value:
            problems.append(f"{where}: a str constant needs a plain string value")
        return problems
    if not isinstance(value, int) or isinstance(value, bool):
        problems.append(f"{where}: value must be an integer")
        return problems
    fmt = entry.get("format", "dec")
    if fmt not in ("dec", "hex"):
        problems.append(f"{where}: format must be 'dec' or 'hex'")
    if role not in ("gpio", "adc"):
        return problems
    if role == "adc" and value not in ADC1_GPIOS:
        problems.append(f"{where}: GPIO{value} is not an ADC1 input (ADC1 is GPIO1-GPIO10)")
    if value in RESERVED_GPIOS:
        problems.append(f"{where}: GPIO{value} is a {RESERVED_GPIOS[value]}")
    if board is None:
        return problems
    if value in board.avoid:
        problems.append(f"{where}: GPIO{value} is used by the board: {board.avoid[value]}")
    if value not in board.pins:
        problems.append(f"{where}: GPIO{value} is not broken out on the {board.name}")
    elif entry.get("board_pin") != board.pins[value]:
        problems.append(
            f"{where}: board_pin is {entry.get('board_pin')!r}, "
            f"but GPIO{value} is {board.pins[value]!r} on the {board.name}"
        )
    return problems


def _validate_sharing(pinmap: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    by_gpio: dict[int, list[dict[str, Any]]] = {}
    for entry in pin_entries(pinmap):
        if isinstance(entry.get("value"), int):
            by_gpio.setdefault(entry["value"], []).append(entry)
    for gpio, users in sorted(by_gpio.items()):
        if len(users) < 2:
            continue
        names = {u["name"] for u in users}
        for user in users:
            declared = set(user.get("shared_with", []))
            if not (names - {user["name"]}) <= declared:
                problems.append(
                    f"GPIO{gpio} is used by {', '.join(sorted(names))}; "
                    f"{user['name']} does not declare it shared"
                )
    return problems


def validate(pinmap: Mapping[str, Any], expected_kind: str | None = None) -> list[str]:
    """Everything wrong with a pin map, as sentences; an empty list means it is valid."""
    problems: list[str] = []
    kind = pinmap.get("kind")
    if kind not in KINDS:
        problems.append(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if expected_kind is not None and kind != expected_kind:
        problems.append(f"kind is {kind!r} but the file is for {expected_kind!r}")
    board_name = pinmap.get("board")
    board = BOARDS.get(board_name) if isinstance(board_name, str) else None
    if board is None:
        problems.append(f"board must be one of {', '.join(BOARDS)}, not {board_name!r}")
    if not isinstance(pinmap.get("title"), str):
        problems.append("title (the device's name in the header comment) is missing")
    try:
        entries = constants(pinmap)
    except PinMapError as exc:
        return [*problems, str(exc)]
    seen: set[str] = set()
    for entry in entries:
        problems.extend(_validate_entry(entry, board))
        name = entry.get("name") if isinstance(entry, dict) else None
        if isinstance(name, str):
            if name in seen:
                problems.append(f"{name}: defined twice")
            seen.add(name)
    if problems:
        return problems
    values = constant_values(pinmap)
    if values.get("KIND") != kind:
        problems.append(f"KIND constant is {values.get('KIND')!r}, kind is {kind!r}")
    if values.get("BOARD") != board_name:
        problems.append(f"BOARD constant is {values.get('BOARD')!r}, board is {board_name!r}")
    if kind == "grip":
        chip = pinmap.get("adc_chip")
        if chip not in ADC_CHIPS:
            problems.append(f"adc_chip must be one of {', '.join(ADC_CHIPS)}, not {chip!r}")
        if values.get("ADC_CHIP") != chip:
            problems.append(f"ADC_CHIP constant is {values.get('ADC_CHIP')!r}, adc_chip {chip!r}")
    problems.extend(_validate_sharing(pinmap))
    return problems


def _literal(entry: Mapping[str, Any]) -> str:
    value = entry["value"]
    if entry["role"] == "str":
        return json.dumps(value)
    if entry.get("format") == "hex":
        return f"const(0x{value:02X})"
    return f"const({value})"


def render(pinmap: Mapping[str, Any]) -> str:
    """The text of ``firmware/boards/<kind>.py`` for a valid pin map."""
    problems = validate(pinmap)
    if problems:
        raise PinMapError("; ".join(problems))
    kind = pinmap["kind"]
    lines = [
        f"# Pin map of the {pinmap['title']} ({pinmap['board']}).",
        f"# Generated from {PINMAP_DIR.as_posix()}/{kind}.json by tools/gen_boards.py: "
        "edit the JSON, not this file.",
        "from micropython import const",
        "",
    ]
    lines.extend(f"{e['name']} = {_literal(e)}" for e in constants(pinmap))
    return "\n".join(lines) + "\n"


def parse_board_file(text: str) -> dict[str, int | str]:
    """Name -> value of the constants assigned at top level of a board file."""
    found: dict[str, int | str] = {}
    for node in ast.parse(text).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
            continue
        target = node.targets[0]
        if not isinstance(target, ast.Name):
            continue
        value = node.value
        if (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Name)
            and value.func.id == "const"
            and len(value.args) == 1
        ):
            value = value.args[0]
        if isinstance(value, ast.Constant) and isinstance(value.value, (int, str)):
            found[target.id] = value.value
    return found


def differences(kind: str, root: Path = ROOT) -> list[str]:
    """How ``firmware/boards/<kind>.py`` differs from what its JSON generates (empty if same)."""
    json_path = pinmap_path(kind, root)
    py_path = board_path(kind, root)
    rel_json = json_path.relative_to(root).as_posix()
    rel_py = py_path.relative_to(root).as_posix()
    try:
        pinmap = load_pinmap(json_path)
    except (OSError, ValueError, PinMapError) as exc:
        return [f"{rel_json}: cannot be read: {exc}"]
    problems = validate(pinmap, expected_kind=kind)
    if problems:
        return [f"{rel_json}: {p}" for p in problems]
    wanted = render(pinmap)
    if not py_path.exists():
        return [f"{rel_py}: missing (run python tools/gen_boards.py)"]
    actual = py_path.read_text(encoding="utf-8")
    if actual == wanted:
        return []
    out: list[str] = []
    want_values = constant_values(pinmap)
    try:
        have_values = parse_board_file(actual)
    except SyntaxError as exc:
        return [f"{rel_py}: not valid Python ({exc}); regenerate it"]
    for name, value in want_values.items():
        if name not in have_values:
            out.append(f"{rel_py}: {name} is missing ({rel_json} has {value!r})")
        elif have_values[name] != value:
            out.append(f"{rel_py}: {name} is {have_values[name]!r}, {rel_json} says {value!r}")
    for name in have_values.keys() - want_values.keys():
        out.append(f"{rel_py}: {name} is not in {rel_json}")
    if not out:
        diff = difflib.unified_diff(
            actual.splitlines(), wanted.splitlines(), rel_py, f"generated from {rel_json}", n=0
        )
        out.append(f"{rel_py}: text differs from the generated file:")
        out.extend("    " + line for line in diff)
    return out


def generate(root: Path = ROOT, kinds: Sequence[str] = KINDS) -> list[Path]:
    """Write ``firmware/boards/<kind>.py`` for each kind; returns the files that changed."""
    changed: list[Path] = []
    for kind in kinds:
        pinmap = load_pinmap(pinmap_path(kind, root))
        problems = validate(pinmap, expected_kind=kind)
        if problems:
            raise PinMapError(f"{kind}.json: " + "; ".join(problems))
        text = render(pinmap)
        out = board_path(kind, root)
        if not out.exists() or out.read_text(encoding="utf-8") != text:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text, encoding="utf-8")
            changed.append(out)
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the process exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 and list the differences if the board files are stale",
    )
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="repository root (default: this checkout)"
    )
    args = parser.parse_args(argv)
    root: Path = args.root.resolve()
    if args.check:
        diffs = [d for kind in KINDS for d in differences(kind, root)]
        for line in diffs:
            print(line)
        if diffs:
            print("board files are out of date: run python tools/gen_boards.py", file=sys.stderr)
            return 1
        print("board files match hardware/pinmap/*.json")
        return 0
    try:
        changed = generate(root)
    except (OSError, ValueError, PinMapError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in changed:
        print(f"wrote {path.relative_to(root).as_posix()}")
    if not changed:
        print("board files already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
