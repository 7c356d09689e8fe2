"""Services the benchmarks start as people run them: a ``finemotor`` command in its own
process, on a free loopback port, stopped when the block ends."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def finemotor_service(
    args: Sequence[str], env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """``finemotor ARGS --port P`` (``relay`` or ``server run …``), once it says it is
    listening: the process and its port. Its output is read on, so a full pipe never stalls
    it; it is stopped (SIGTERM, then SIGKILL after 15 s) when the block ends."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "finemotor", *args, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**(env if env is not None else os.environ), "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if " listening on " in line and "://" in line:
                break
        else:
            raise RuntimeError(f"finemotor {args[0]} did not start ({proc.wait()})")
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        yield proc, port
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(15)
