"""The command line starts fast: ``finemotor --help`` imports no sub-command's module, running
one command imports only its own, and building any command's parser (``finemotor CMD --help``)
imports no numerical, plotting or radio library."""

from __future__ import annotations

import subprocess
import sys

import pytest

from finemotor.cli import COMMANDS, main

HEAVY = ("numpy", "scipy", "matplotlib", "bleak", "bumble", "aiohttp", "serial", "mpremote")


def imported_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    return set(out.stdout.split())


def test_the_cli_and_its_help_import_nothing_heavy() -> None:
    loaded = imported_after(
        "import contextlib, io\nfrom finemotor.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])"
    )
    assert not [m for m in HEAVY if m in loaded]
    assert not [m for m in loaded if m.startswith("finemotor.cli.")]


def test_building_every_commands_parser_imports_nothing_heavy() -> None:
    loaded = imported_after(
        "from finemotor.cli import COMMANDS, build_parser\n"
        "for name in COMMANDS:\n"
        "    build_parser(name)"
    )
    assert {f"finemotor.cli.{cmd.module}" for cmd in COMMANDS.values()} <= loaded
    assert [m for m in HEAVY if m in loaded] == []


def test_a_command_imports_only_its_own_module() -> None:
    loaded = imported_after("from finemotor.cli import main\nmain(['info', '--json'])")
    assert "finemotor.cli.info" in loaded
    assert not [m for m in loaded if m.startswith("finemotor.cli.") and m != "finemotor.cli.info"]


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_has_its_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([name, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: finemotor {name}")


def test_the_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    text = capsys.readouterr().out
    assert all(name in text for name in COMMANDS)
