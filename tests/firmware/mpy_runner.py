"""Run a script under the MicroPython unix port with the firmware and its simulation importable.

`run_mpy(script_or_code, *args)` starts `micropython -X heapsize=<heap>` with MICROPYPATH set to
`firmware/sim` (first: its `machine.py` and `time.py` replace the built-in modules), then
`firmware/lib`, `firmware` (for `boards`) and the interpreter's frozen modules.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
MICROPYPATH = ":".join([str(FIRMWARE / "sim"), str(FIRMWARE / "lib"), str(FIRMWARE), ".frozen"])


def micropython() -> str:
    """Path of the MicroPython unix interpreter (`make setup` installs it into the venv)."""
    found = shutil.which("micropython") or str(Path(sys.executable).with_name("micropython"))
    if not Path(found).exists():
        raise FileNotFoundError("micropython not installed: run `make setup`")
    return found


def run_mpy(
    script_path_or_code: str | os.PathLike[str],
    *args: str,
    heap: str = "128k",
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run a MicroPython script file (a path) or source code (a string with a newline or that
    names no existing file); extra args land in `sys.argv[1:]`. Output is text; the return
    code is not checked."""
    target = str(script_path_or_code)
    is_file = isinstance(script_path_or_code, os.PathLike) or (
        "\n" not in target and target.endswith(".py") and Path(target).is_file()
    )
    cmd = [micropython(), "-X", f"heapsize={heap}"]
    cmd += [target] if is_file else ["-c", target]
    env = dict(os.environ, MICROPYPATH=MICROPYPATH)
    return subprocess.run(
        [*cmd, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )
