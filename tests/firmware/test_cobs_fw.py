"""The firmware's COBS, CRC-16 and serial link (fm.cobs, fm.seriallink) under MicroPython.

The shared vectors (tests/vectors/serial_link_v1.json, checked against the PyPI ``cobs``
package by tests/host/test_serial_link.py) are encoded, decoded and packed by the firmware's
own code; the link is driven with scripted streams: attach by HELLO, requests, corrupted and
over-long packets, a stream that takes nothing for a while, a silent host, BYE, the long press
and the REPL packet, and the send path under ``micropython.heap_lock()``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from mpy_runner import run_mpy

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "serial_link_v1.json"
SCRIPT = Path(__file__).resolve().parent / "mpy" / "cobs_fw.py"

CHECKS = [
    "cobs_encode_vectors",
    "cobs_decode_vectors",
    "cobs_rejects_invalid",
    "crc16_vectors",
    "silent_until_hello",
    "hello_attaches",
    "keepalive_same_session",
    "kit_packets_match_vectors",
    "request_answered",
    "bad_packets_counted",
    "no_allocation",
    "backpressure",
    "silent_host_detached",
    "nothing_sent_detached",
    "reattach",
    "bye_releases",
    "long_press_releases",
    "repl_packet_stops",
    "foreign_hello_dropped",
]


@pytest.fixture(scope="module")
def run() -> subprocess.CompletedProcess[str]:
    return run_mpy(SCRIPT, str(VECTORS), heap="256k", timeout=60)


def test_script_ran_to_the_end(run: subprocess.CompletedProcess[str]) -> None:
    assert run.returncode == 0, run.stdout + run.stderr
    assert "DONE 0" in run.stdout.splitlines(), run.stdout


@pytest.mark.parametrize("name", CHECKS)
def test_check(run: subprocess.CompletedProcess[str], name: str) -> None:
    lines = run.stdout.splitlines()
    failed = [ln for ln in lines if ln.startswith(f"FAIL {name}:")]
    assert not failed, failed[0]
    assert f"OK {name}" in lines, run.stdout + run.stderr
