"""finemotor installed as people install Python software: the wheel, built with ``python -m
build``, installed into a fresh virtual environment with nothing of the source checkout, runs
the demo (the firmware under MicroPython, from the wheel), flashes the firmware onto the
stand-in board, and serves the therapist view's page and charts."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest
from sim_board import SimBoard

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_the_wheel_runs_the_demo_flashes_and_serves_the_view(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = dist.glob("finemotor-*.whl")
    with zipfile.ZipFile(wheel) as whl:  # the scripts flash runs on the kit are package data
        names = whl.namelist()
    on_kit = {n.rpartition("/")[2] for n in names if n.startswith("finemotor/flash/on_kit/")}
    assert on_kit == {"inspect_kit.py", "load_check.py"}
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    installed = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", f"{wheel}[sim]"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    away = tmp_path / "elsewhere"  # no checkout here, and none on the path
    away.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")} | {
        "FINEMOTOR_DATA": str(tmp_path / "data"),
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
    }
    fm = str(venv / "bin" / "finemotor")

    where = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import finemotor, finemotor.firmware as f; print(finemotor.__file__); "
            "print(f.firmware_dir())",
        ],
        cwd=away,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    assert all(str(venv) in line for line in where), where  # nothing from the checkout

    demo = subprocess.run(
        [fm, "demo", "--no-browser", "--seconds", "4", "--json"],
        cwd=away,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert demo.returncode == 0, demo.stderr[-2000:]
    devices = {d["kind"]: d for d in json.loads(demo.stdout)["devices"]}
    assert devices["stylus"]["samples_received"] > 500 and devices["grip"]["samples_received"] > 500
    assert devices["stylus"]["lost"] == 0 and devices["grip"]["lost"] == 0

    board = SimBoard()
    try:
        flashed = subprocess.run(
            [fm, "flash", "--port", board.path, "grip", "--kit-id", "4B2C1D"],
            cwd=away,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert flashed.returncode == 0, flashed.stderr[-2000:]
        assert (board.fs / "kit_id.txt").read_text() == "4B2C1D"
        assert (board.fs / "main.py").is_file() and any(board.fs.rglob("*.mpy"))
    finally:
        board.close()

    port = _free_port()
    relay = subprocess.Popen(
        [fm, "relay", "--port", str(port)],
        cwd=away,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/static/vendor/uPlot.iife.min.js", timeout=5
                ) as r:
                    chart = r.read()
                break
            except OSError:
                assert time.monotonic() < deadline, "the installed relay did not answer"
                time.sleep(0.2)
        assert b"uPlot" in chart and len(chart) > 20_000
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/static/app.js", timeout=5) as r:
            assert r.status == 200
    finally:
        relay.terminate()
        relay.wait(timeout=10)
