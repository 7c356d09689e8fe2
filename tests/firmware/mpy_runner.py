"""Run a script under the MicroPython unix port with the firmware and its simulation importable.

`run_mpy(script_or_code, *args)` starts `micropython -X heapsize=<heap>` with MICROPYPATH set to
the simulation (first: its `machine.py` and `time.py` replace the built-in modules), then
`firmware/lib`, `firmware` (for `boards`) and the interpreter's frozen modules.

The simulation's and the firmware library's modules run precompiled (mpy-cross, into
build/mpy/sim and build/mpy/lib, refreshed when a source is newer), as a kit carries them:
compiling them in place at import would take heap that belongs to the firmware under test.
The source directories follow on the path.

Run from the repository (the default), the paths are relative to it: MicroPython keeps every
module's file name on its heap, so absolute paths would make the 128 KB-heap tests pass or fail
with the length of the folder the project was cloned into.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from finemotor.firmware import micropypath as kit_micropypath
from finemotor.firmware import tool

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
SIM = FIRMWARE / "sim"


def micropython() -> str:
    """Path of the MicroPython unix interpreter."""
    return tool("micropython")


def micropypath(relative: bool = False) -> str:
    """MICROPYPATH for the simulated device: simulation first, then the firmware (the same
    precompiled layout a simulated kit runs with); ``relative``: to the repository."""
    parts = kit_micropypath(FIRMWARE).split(":")
    if relative:
        parts = [p if p == ".frozen" else os.path.relpath(p, ROOT) for p in parts]
    return ":".join(parts)


def run_mpy(
    script_path_or_code: str | os.PathLike[str],
    *args: str,
    heap: str = "128k",
    timeout: float = 120,
    cwd: str | os.PathLike[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a MicroPython script file (a path) or source code (any string that is not the path
    of an existing .py file); extra args land in `sys.argv[1:]`. Output is text; the return
    code is not checked. `cwd` is the kit's flash (files the firmware writes); the repository
    by default."""
    target = str(script_path_or_code)
    is_file = isinstance(script_path_or_code, os.PathLike) or (
        "\n" not in target and target.endswith(".py") and Path(target).is_file()
    )
    cmd = [micropython(), "-X", f"heapsize={heap}"]
    in_repo = cwd is None
    if is_file:
        target = str(Path(target).resolve())
        if in_repo:
            target = os.path.relpath(target, ROOT)
    cmd += [target] if is_file else ["-c", target]
    env = dict(os.environ, MICROPYPATH=micropypath(relative=in_repo))
    return subprocess.run(
        [*cmd, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT if cwd is None else cwd,
        timeout=timeout,
        check=False,
    )
