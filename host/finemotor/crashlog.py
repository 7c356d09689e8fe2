"""Where an unexpected error's details go: a log file for whoever supports the kit, never a
traceback on the facilitator's screen. Its text is redacted (no token or URL)."""

from __future__ import annotations

import os
import time
import traceback
from pathlib import Path

import platformdirs

from finemotor import __version__
from finemotor.redact import redact


def crash_log_path() -> Path:
    """``$FINEMOTOR_DATA/logs/finemotor.log``, else the same file in the user's log folder."""
    data = os.environ.get("FINEMOTOR_DATA")
    base = Path(data) / "logs" if data else platformdirs.user_log_path("finemotor")
    return base / "finemotor.log"


def log_crash(command: str, exc: BaseException) -> Path | None:
    """Append ``exc``'s traceback (redacted) to :func:`crash_log_path`; the file, or None if
    it could not be written."""
    path = crash_log_path()
    text = "".join(traceback.format_exception(exc))
    entry = (
        f"--- {time.strftime('%Y-%m-%d %H:%M:%S %z')} finemotor {__version__} "
        f"`{command}`\n{redact(text)}\n"
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as f:
            f.write(entry)
    except OSError:
        return None
    return path
