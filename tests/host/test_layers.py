"""The host's layers as docs/architecture.md draws them, checked on the imports: the library
never reaches up into the application (the command line, the desk app, the demo) or the
server; the wire format and the transports stay below what uses them; the library never
prints or asks (the application turns its errors and progress into words for people)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "host" / "finemotor"
APPLICATION = ("finemotor.cli", "finemotor.deskapp", "finemotor.demo", "finemotor.__main__")
"""What people run: it may use everything."""
TOOLS = ("finemotor.doctor", "finemotor.flash")
"""Commands' engines that speak to people as they check or install (they report by printing
through the command, but live apart from it)."""
SERVER = ("finemotor.server",)
BELOW_TRANSPORT = (
    "finemotor.metrics",
    "finemotor.recording",
    "finemotor.relay",
    "finemotor.report",
    "finemotor.session",
    "finemotor.server",
    "finemotor.sync",
)
"""What a transport to a kit must not know of."""
WIRE_MAY_USE = (
    "finemotor.protocol",
    "finemotor.errors",
    "finemotor.samples",
    "finemotor.calibration.model",
)


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if "migrations" in parts or "on_kit" in parts:  # Alembic's scripts; MicroPython
            continue
        yield ".".join(("finemotor", *parts)).removesuffix(".__init__"), path


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {name for name in out if name == "finemotor" or name.startswith("finemotor.")}


MODULES = dict(_modules())


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_the_modules_are_found() -> None:
    assert "finemotor.kitlink" in MODULES and "finemotor.cli" in MODULES
    assert len(MODULES) > 100


@pytest.mark.parametrize("name", sorted(n for n in MODULES if not _under(n, APPLICATION)))
def test_nothing_below_the_application_imports_it(name: str) -> None:
    up = sorted(m for m in _imports(MODULES[name]) if _under(m, APPLICATION))
    assert up == [], f"{name} imports the application: {up}"


def test_the_library_does_not_import_the_server() -> None:
    found = {
        name: sorted(m for m in _imports(path) if _under(m, SERVER))
        for name, path in MODULES.items()
        if not _under(name, APPLICATION + SERVER)
    }
    assert {k: v for k, v in found.items() if v} == {}


def test_the_transports_and_the_wire_stay_below() -> None:
    wrong: dict[str, list[str]] = {}
    for name, path in MODULES.items():
        imported = _imports(path)
        if _under(name, ("finemotor.transport",)):
            bad = [m for m in imported if _under(m, BELOW_TRANSPORT)]
        elif _under(name, ("finemotor.protocol",)):
            bad = [m for m in imported if not _under(m, WIRE_MAY_USE)]
        else:
            continue
        if bad:
            wrong[name] = sorted(bad)
    assert wrong == {}


def test_the_library_never_prints_or_asks() -> None:
    found = []
    for name, path in MODULES.items():
        if _under(name, APPLICATION + TOOLS):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("print", "input")
            ):
                found.append(f"{name}:{node.lineno} {node.func.id}()")
    assert found == []
