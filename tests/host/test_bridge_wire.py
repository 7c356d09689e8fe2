"""The kit bridge's wire has one opcode table: the host's ``Opcode`` and the firmware
stand-in's ``_OP_<NAME> = const(...)`` (firmware/sim/bluetooth.py) name the same opcodes with
the same values, and docs/virtual-radio.md shows them.

The firmware is MicroPython: it is read with ``ast``, never imported under CPython.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from finemotor.transport.virtual.wire import CALL_ANSWERS, Opcode

ROOT = Path(__file__).resolve().parents[2]
SIM = ROOT / "firmware" / "sim"
VIRTUAL = ROOT / "host" / "finemotor" / "transport" / "virtual"
FIRMWARE_PREFIX = "_OP_"  # firmware _OP_HELLO is the host's Opcode.HELLO
SIM_PREFIX = "SIM_"  # the on_sim hook's op SIM_BUTTON comes from Opcode.BUTTON


def consts(path: Path) -> dict[str, int]:
    """Name -> value of each top-level ``NAME = const(<int>)`` in a MicroPython file."""
    found: dict[str, int] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
            continue
        target, value = node.targets[0], node.value
        if (
            isinstance(target, ast.Name)
            and isinstance(value, ast.Call)
            and isinstance(value.func, ast.Name)
            and value.func.id == "const"
            and len(value.args) == 1
            and isinstance(value.args[0], ast.Constant)
            and isinstance(value.args[0].value, int)
        ):
            found[target.id] = value.args[0].value
    return found


def firmware_opcodes() -> dict[str, int]:
    """The firmware's opcodes under the host's names."""
    return {
        name.removeprefix(FIRMWARE_PREFIX): value
        for name, value in consts(SIM / "bluetooth.py").items()
        if name.startswith(FIRMWARE_PREFIX)
    }


def host_opcodes() -> dict[str, int]:
    return {name: int(member) for name, member in Opcode.__members__.items()}


def test_both_sides_name_the_same_opcodes_with_the_same_values() -> None:
    firmware, host = firmware_opcodes(), host_opcodes()
    assert len(firmware) >= 30, "the firmware's _OP_ constants were not found"
    assert sorted(firmware.keys() - host.keys()) == [], "in the firmware only"
    assert sorted(host.keys() - firmware.keys()) == [], "on the host only"
    differ = {n: (firmware[n], host[n]) for n in firmware if firmware[n] != host[n]}
    assert differ == {}, "(firmware, host) values differ"


def test_opcodes_are_distinct_bytes_upper_case_from_the_firmware() -> None:
    values = list(firmware_opcodes().values())
    assert len(set(values)) == len(values)
    assert all(chr(v).isascii() and chr(v).isalpha() for v in values)
    for call, answer in CALL_ANSWERS.items():  # an answer goes the other way
        assert chr(call).isupper() and chr(answer).islower(), (call, answer)


def test_no_opcode_is_written_as_a_number() -> None:
    """The firmware sends, requests and compares a frame's type by name; the host has no
    ``ord("X")`` outside the wire module."""
    tree = ast.parse((SIM / "bluetooth.py").read_text(encoding="utf-8"))
    opcode_args = {"send": 1, "request": 2}  # send(typ, fmt, ...), request(typ, want, ...)
    literal = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            literal += node.args[: opcode_args.get(node.func.attr, 0)]
        elif isinstance(node, ast.Compare) and ast.unparse(node.left) == "typ":
            literal += node.comparators
    assert [ast.unparse(n) for n in literal if not isinstance(n, ast.Name)] == []
    for path in VIRTUAL.glob("*.py"):
        if path.name != "wire.py":
            assert 'ord("' not in path.read_text(encoding="utf-8"), path.name


def test_the_sim_hook_ops_are_named_once_and_used_by_name() -> None:
    ops = {
        name.removeprefix(SIM_PREFIX): value
        for name, value in consts(SIM / "bluetooth.py").items()
        if name.startswith(SIM_PREFIX)
    }
    assert sorted(ops.values()) == list(range(len(ops)))
    assert ops.keys() <= host_opcodes().keys()  # each from the control of the same name
    run_kit = ast.parse((SIM / "run_kit.py").read_text(encoding="utf-8"))
    (sim,) = (n for n in run_kit.body if isinstance(n, ast.FunctionDef) and n.name == "_sim")
    used = set()
    for node in ast.walk(sim):
        if isinstance(node, ast.Compare) and ast.unparse(node.left) == "op":
            (right,) = node.comparators
            assert isinstance(right, ast.Attribute), ast.unparse(node)
            assert ast.unparse(right.value) == "bluetooth", ast.unparse(node)
            used.add(right.attr.removeprefix(SIM_PREFIX))
    assert used == ops.keys()


def test_the_docs_show_the_opcode_table() -> None:
    text = (ROOT / "docs" / "virtual-radio.md").read_text(encoding="utf-8")
    section = text[text.index("### The wire") :]
    section = section[: section.index("\n### ", 1)]
    rows = re.findall(r"^\| `([A-Z_]+)` \| `(.)` 0x([0-9A-F]{2}) \|", section, re.MULTILINE)
    assert all(ord(letter) == int(hex_, 16) for _, letter, hex_ in rows), rows
    assert {name: ord(letter) for name, letter, _ in rows} == host_opcodes()
    assert len(rows) == len(Opcode)


def test_the_virtual_central_names_the_opcodes_it_plays_as_the_others_do() -> None:
    central = {
        name.removeprefix(FIRMWARE_PREFIX): value
        for name, value in consts(SIM / "vcentral.py").items()
        if name.startswith(FIRMWARE_PREFIX)
    }
    assert len(central) >= 10, "vcentral.py's _OP_ constants were not found"
    host = host_opcodes()
    assert {k: v for k, v in central.items() if host.get(k) != v} == {}
    # and it speaks them by name only: no opcode as a number where it sends or compares one
    tree = ast.parse((SIM / "vcentral.py").read_text(encoding="utf-8"))
    numbers = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("_later", "deliver", "dispatch")
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ) or (
            isinstance(node, ast.Compare)
            and isinstance(node.left, ast.Name)
            and node.left.id == "typ"
            and any(isinstance(c, ast.Constant) for c in node.comparators)
        ):
            numbers.append(node.lineno)
    assert numbers == [], f"opcodes as numbers at lines {numbers}"
