"""``finemotor flash`` against a stand-in board: the MicroPython unix port on a serial line.

The board is the real MicroPython interpreter (the unix port), its REPL on a pseudo-terminal,
its working directory a temporary folder (the board's filesystem). A relay copies bytes
between that terminal and a second one whose path the host opens as its serial port, as it
would ``/dev/ttyACM0``; mpremote (through ``finemotor.flash``) enters the raw REPL, lists,
hashes, copies and imports files exactly as on the kit. What the unix port lacks is a soft
reset: Ctrl-D ends the process. The relay then does what a board does on a soft reset:
prints ``soft reboot``, starts the interpreter again, and if it was in the raw REPL, goes
back there.

Then the flashed folder boots: the kit's firmware runs from the copied ``main.py`` and the
``.mpy`` files compiled for the ESP32-S3 (bytecode only, which the x86-64 interpreter loads
too) on the simulated board with its serial link, and answers with the flashed kit id.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial
from sim_board import SimBoard

from finemotor.cli import flash as flash_cli
from finemotor.errors import FinemotorError, TransportError
from finemotor.firmware import compile_tree, firmware_dir, tool
from finemotor.flash import MARCH, FlashPlan, build_plan, flash, normalize_kit_id
from finemotor.transport.serial import SerialKit

FIRMWARE = firmware_dir()


@pytest.fixture
def board() -> Iterator[SimBoard]:
    b = SimBoard()
    yield b
    b.close()


@pytest.fixture(scope="module")
def stylus_plan() -> FlashPlan:
    return build_plan("stylus")


@pytest.fixture(scope="module")
def grip_plan() -> FlashPlan:
    return build_plan("grip")


def cli(*argv: str) -> tuple[int, str, str]:
    """Run ``finemotor flash ARGV``; (exit code, stdout, stderr) as ``finemotor.cli.main``."""
    parser = argparse.ArgumentParser(prog="finemotor")
    flash_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["flash", *argv])
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = args.func(args)
        except FinemotorError as exc:
            print(f"finemotor flash: {exc}", file=err)
            code = 1
    return code, out.getvalue(), err.getvalue()


def board_files(fs: Path) -> set[str]:
    return {p.relative_to(fs).as_posix() for p in fs.rglob("*") if p.is_file()}


# The build --------------------------------------------------------------------------------


def test_plan_is_the_whole_firmware_compiled_for_the_esp32s3(stylus_plan: FlashPlan) -> None:
    dests = [f.dest for f in stylus_plan.files]
    lib = sorted(
        "lib/" + p.relative_to(FIRMWARE / "lib").with_suffix(".mpy").as_posix()
        for p in (FIRMWARE / "lib" / "fm").rglob("*.py")
    )
    assert sorted(d for d in dests if d.startswith("lib/fm/")) == lib
    assert "lib/fm/drivers/nau7802.mpy" in dests
    assert [d for d in dests if d.startswith("lib/boards/")] == [
        "lib/boards/__init__.mpy",
        "lib/boards/stylus.mpy",
    ]
    assert dests[-1] == "main.py"  # last: a kit cut off half-way keeps its old entry point
    assert stylus_plan.files[-1].data == (FIRMWARE / "stylus" / "main.py").read_bytes()
    for f in stylus_plan.files[:-1]:
        assert f.data[:2] == b"M\x06", f.dest  # .mpy version 6
    assert stylus_plan.mpy_version == 6
    assert stylus_plan.dirs == ["lib", "lib/boards", "lib/fm", "lib/fm/drivers"]
    assert MARCH == "xtensawin"


def test_grip_plan_carries_the_grip_board(grip_plan: FlashPlan) -> None:
    dests = [f.dest for f in grip_plan.files]
    assert "lib/boards/grip.mpy" in dests and "lib/boards/stylus.mpy" not in dests
    assert grip_plan.files[-1].data == (FIRMWARE / "grip" / "main.py").read_bytes()


def test_mpy_cross_failure_names_the_file(tmp_path: Path) -> None:
    fw = tmp_path / "firmware"
    for part in ("lib", "boards", "stylus"):
        shutil.copytree(FIRMWARE / part, fw / part)
    (fw / "lib" / "fm" / "ring.py").write_text("def broken(:\n    pass\n")
    with pytest.raises(TransportError, match=r"could not compile .*ring\.py") as err:
        build_plan("stylus", fw)
    assert "SyntaxError" in str(err.value) or "invalid syntax" in str(err.value)


def test_not_a_firmware_folder(tmp_path: Path) -> None:
    with pytest.raises(TransportError, match="does not hold the stylus firmware"):
        build_plan("stylus", tmp_path)


@pytest.mark.parametrize("text", ["12345", "1234567", "12345G", "", "1A 2B3C"])
def test_bad_kit_ids_are_refused(text: str) -> None:
    with pytest.raises(FinemotorError, match="6 hex digits"):
        normalize_kit_id(text)


def test_kit_id_is_normalised() -> None:
    assert normalize_kit_id(" 1a2b3c\n") == "1A2B3C"


def test_cli_refuses_a_bad_kit_id_before_touching_the_port() -> None:
    code, _, err = cli("--port", "/dev/finemotor-no-such-port", "stylus", "--kit-id", "XYZ")
    assert code == 1
    assert "6 hex digits" in err and "label" in err


# The port ---------------------------------------------------------------------------------


def test_missing_port_says_to_plug_the_kit_in() -> None:
    code, _, err = cli("--port", "/dev/finemotor-no-such-port", "stylus", "--kit-id", "1A2B3C")
    assert code == 1
    assert "no serial port /dev/finemotor-no-such-port" in err
    assert "USB data cable" in err


def test_busy_port_says_what_holds_it(board: SimBoard, stylus_plan: FlashPlan) -> None:
    other = serial.Serial(board.path, exclusive=True)  # a serial monitor left open
    try:
        with pytest.raises(TransportError, match="in use by another program"):
            flash(board.path, "stylus", "1A2B3C", plan=stylus_plan)
    finally:
        other.close()
    assert board_files(board.fs) == set()


def test_a_device_that_is_not_micropython(stylus_plan: FlashPlan) -> None:
    master, slave = os.openpty()  # a serial device that never answers
    tty.setraw(slave)
    try:
        t0 = time.monotonic()
        with pytest.raises(TransportError, match="did not answer as MicroPython"):
            flash(os.ttyname(slave), "stylus", "1A2B3C", plan=stylus_plan, timeout=1.0)
        assert time.monotonic() - t0 < 10
    finally:
        os.close(master)
        os.close(slave)


# Flashing the stand-in board ---------------------------------------------------------------


def test_flash_copies_checks_and_sets_the_kit_id(board: SimBoard) -> None:
    (board.fs / "cal.bin").write_bytes(b"calibration")  # the kit's own: kept
    (board.fs / "lib" / "fm").mkdir(parents=True)
    (board.fs / "lib" / "fm" / "kit.py").write_text("stale = 1\n")  # would shadow kit.mpy
    t0 = time.monotonic()
    code, out, err = cli("--port", board.path, "stylus", "--kit-id", "1a2b3c")
    seconds = time.monotonic() - t0
    assert code == 0, err
    plan = build_plan("stylus")
    for f in plan.files:
        assert (board.fs / f.dest).read_bytes() == f.data, f.dest
    assert (board.fs / "kit_id.txt").read_text() == "1A2B3C"
    assert (board.fs / "cal.bin").read_bytes() == b"calibration"
    assert not (board.fs / "lib" / "fm" / "kit.py").exists()
    assert board_files(board.fs) == {f.dest for f in plan.files} | {"kit_id.txt", "cal.bin"}
    assert "kit id 1A2B3C (set)" in out and "all checked" in out
    assert "flashing stylus" in err  # the progress bar
    assert board.reboots == 2  # before copying, and the restart at the end
    print(f"flashed the stand-in board in {seconds:.1f} s")


def test_reflash_copies_only_what_changed(board: SimBoard, stylus_plan: FlashPlan) -> None:
    first = flash(board.path, "stylus", "1A2B3C", plan=stylus_plan)
    assert len(first.written) == len(stylus_plan.files) + 1
    (board.fs / "lib" / "fm" / "ring.mpy").write_bytes(b"M\x06 spoilt")
    (board.fs / "lib" / "boards" / "old.mpy").write_bytes(b"M\x06")
    again = flash(board.path, "stylus", plan=stylus_plan)
    assert again.written == ["lib/fm/ring.mpy"]
    assert again.removed == ["lib/boards/old.mpy"]
    assert (again.kit_id, again.kit_id_source) == ("1A2B3C", "kept")
    assert (board.fs / "lib" / "fm" / "ring.mpy").read_bytes() == next(
        f.data for f in stylus_plan.files if f.dest == "lib/fm/ring.mpy"
    )


def test_kit_id_on_the_board_is_kept(board: SimBoard, grip_plan: FlashPlan) -> None:
    (board.fs / "kit_id.txt").write_text("abcdef\n")
    result = flash(board.path, "grip", plan=grip_plan)
    assert (result.kit_id, result.kit_id_source) == ("ABCDEF", "kept")
    assert (board.fs / "kit_id.txt").read_text() == "ABCDEF"


def test_changed_kit_id_is_reported(board: SimBoard, grip_plan: FlashPlan) -> None:
    (board.fs / "kit_id.txt").write_text("ABCDEF")
    result = flash(board.path, "grip", "123456", plan=grip_plan)
    assert (board.fs / "kit_id.txt").read_text() == "123456"
    assert any("from ABCDEF to 123456" in w for w in result.warnings)


def test_no_kit_id_and_no_chip_id(board: SimBoard, grip_plan: FlashPlan) -> None:
    # The unix port has no machine.unique_id(): the firmware could not derive one either.
    with pytest.raises(TransportError, match="--kit-id"):
        flash(board.path, "grip", plan=grip_plan)
    assert not (board.fs / "main.py").exists()


def test_wrong_kind_is_refused(board: SimBoard, stylus_plan: FlashPlan) -> None:
    flash(board.path, "stylus", "1A2B3C", plan=stylus_plan)
    code, _, err = cli("--port", board.path, "grip")
    assert code == 1
    assert "has the stylus firmware" in err and "--change-kind" in err
    assert (board.fs / "lib" / "boards" / "stylus.mpy").exists()
    code, out, err = cli("--port", board.path, "grip", "--change-kind")
    assert code == 0, err
    assert (board.fs / "lib" / "boards" / "grip.mpy").exists()
    assert not (board.fs / "lib" / "boards" / "stylus.mpy").exists()
    assert "kit id 1A2B3C (kept)" in out


def test_json_output(board: SimBoard) -> None:
    code, out, err = cli("--port", board.path, "grip", "--kit-id", "5A2002", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["kit_id"] == "5A2002" and result["kind"] == "grip"
    assert "lib/boards/grip.mpy" in result["written"]
    assert "flashing" not in err  # no progress bar with --json


def test_the_flashed_board_boots_with_its_kit_id(board: SimBoard, grip_plan: FlashPlan) -> None:
    flash(board.path, "grip", "5A2002", plan=grip_plan)
    sim = FIRMWARE / "sim"
    path = ":".join(
        [
            str(compile_tree(sim, FIRMWARE.parent / "build" / "mpy" / "sim")),
            str(sim),
            "lib",
            ".frozen",
        ]
    )
    kit_master, kit_slave = os.openpty()
    tty.setraw(kit_slave)
    os.set_blocking(kit_master, False)
    proc = subprocess.Popen(
        [
            tool("micropython"),
            "-X",
            "heapsize=512k",
            str(sim / "run_serial_kit.py"),
            str(kit_master),
            "grip",
            "1",
            "-",  # no kit id from the simulation: the firmware reads the flashed kit_id.txt
            "-",
            "0.0",
            "main.py",  # the flashed entry point, importing the flashed .mpy files
        ],
        pass_fds=[kit_master],
        cwd=board.fs,
        env=dict(os.environ, MICROPYPATH=path),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    os.close(kit_master)
    port = os.ttyname(kit_slave)

    async def ask() -> tuple[str | None, str]:
        kit = SerialKit(port, lambda _: None, timeout=10)
        info = await kit.connect()
        kit_id = kit.identity.kit_id if kit.identity is not None else None
        await kit.disconnect()
        return kit_id, info.model

    kit_id: str | None = None
    model = ""
    try:
        with contextlib.suppress(TransportError):
            kit_id, model = asyncio.run(asyncio.wait_for(ask(), 25))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        os.close(kit_slave)
    assert (kit_id, model) == ("5A2002", "FM-GRIP-1"), out.decode(errors="replace")
    loaded = {p.name for p in (board.fs / "lib").rglob("*.py")}
    assert not loaded  # nothing but .mpy under lib: the firmware ran from what was flashed
