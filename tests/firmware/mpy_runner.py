"""Run a script under the MicroPython unix port with the firmware and its simulation importable.

`run_mpy(script_or_code, *args)` starts `micropython -X heapsize=<heap>` with MICROPYPATH set to
the simulation (first: its `machine.py` and `time.py` replace the built-in modules), then
`firmware/lib`, `firmware` (for `boards`) and the interpreter's frozen modules.

The simulation's modules are run precompiled (mpy-cross, into build/sim-mpy, refreshed when a
source is newer), as the firmware would carry them: compiling them in place would take heap
that belongs to the firmware under test. `firmware/sim` itself follows on the path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
SIM = FIRMWARE / "sim"
SIM_MPY = ROOT / "build" / "sim-mpy"


def tool(name: str) -> str:
    """Path of a MicroPython tool (`make setup` installs them into the venv)."""
    found = shutil.which(name) or str(Path(sys.executable).with_name(name))
    if not Path(found).exists():
        raise FileNotFoundError(f"{name} not installed: run `make setup`")
    return found


def micropython() -> str:
    """Path of the MicroPython unix interpreter."""
    return tool("micropython")


def compiled_sim() -> Path:
    """firmware/sim compiled to .mpy under build/sim-mpy; only stale files are recompiled."""
    mpy_cross = tool("mpy-cross")
    wanted = set()
    for src in SIM.rglob("*.py"):
        out = SIM_MPY / src.relative_to(SIM).with_suffix(".mpy")
        wanted.add(out)
        if out.exists() and out.stat().st_mtime_ns >= src.stat().st_mtime_ns:
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f"{out.stem}.{os.getpid()}.tmp")
        proc = subprocess.run(
            [mpy_cross, "-o", str(tmp), str(src)], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise RuntimeError(f"mpy-cross failed on {src}:\n{proc.stderr}")
        os.replace(tmp, out)
    for old in SIM_MPY.rglob("*.mpy"):
        if old not in wanted:
            old.unlink(missing_ok=True)
    return SIM_MPY


def micropypath() -> str:
    """MICROPYPATH for the simulated device: simulation first, then the firmware."""
    return ":".join(map(str, [compiled_sim(), SIM, FIRMWARE / "lib", FIRMWARE, ".frozen"]))


def run_mpy(
    script_path_or_code: str | os.PathLike[str],
    *args: str,
    heap: str = "128k",
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run a MicroPython script file (a path) or source code (any string that is not the path
    of an existing .py file); extra args land in `sys.argv[1:]`. Output is text; the return
    code is not checked."""
    target = str(script_path_or_code)
    is_file = isinstance(script_path_or_code, os.PathLike) or (
        "\n" not in target and target.endswith(".py") and Path(target).is_file()
    )
    cmd = [micropython(), "-X", f"heapsize={heap}"]
    cmd += [target] if is_file else ["-c", target]
    env = dict(os.environ, MICROPYPATH=micropypath())
    return subprocess.run(
        [*cmd, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )
