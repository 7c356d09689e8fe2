"""Progress bars for long work (calibration steps, flashing, reports across many sessions).

On a terminal the bar is redrawn in place on one line; anywhere else (a log, a pipe, CI) it
prints a plain line per step, at most about twenty lines in all, so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

_WIDTH = 24


class Progress:
    """A progress bar of ``total`` steps, written to ``stream`` (default: standard error).

    Args:
        total: the number of steps (at least 1).
        label: what is being done, e.g. ``"flashing grip kit"``.
        stream: where to write.
        enabled: False writes nothing (e.g. for ``--json``).
    """

    def __init__(
        self, total: int, label: str, stream: TextIO | None = None, enabled: bool = True
    ) -> None:
        self.total = max(1, int(total))
        self.label = label
        self.done = 0
        self._stream = stream if stream is not None else sys.stderr
        self._enabled = enabled
        self._tty = bool(getattr(self._stream, "isatty", lambda: False)())
        self._every = max(1, self.total // 20)
        self._t0 = time.monotonic()
        self._closed = False

    def advance(self, steps: int = 1, note: str = "") -> None:
        """Count ``steps`` more steps done; ``note`` says what the last one was."""
        self.done = min(self.total, self.done + steps)
        if not self._enabled:
            return
        if self._tty:
            filled = round(_WIDTH * self.done / self.total)
            bar = "#" * filled + "-" * (_WIDTH - filled)
            line = f"\r{self.label} [{bar}] {self.done}/{self.total} {note}"
            self._stream.write(line[:120].ljust(80))
            self._stream.flush()
        elif self.done % self._every == 0 or self.done == self.total:
            extra = f": {note}" if note else ""
            self._stream.write(f"{self.label}: {self.done}/{self.total}{extra}\n")
            self._stream.flush()

    def close(self) -> None:
        """End the bar (on a terminal, move to the next line with the time taken)."""
        if self._closed:
            return
        self._closed = True
        if self._enabled and self._tty:
            self._stream.write(f"  ({time.monotonic() - self._t0:.1f} s)\n")
            self._stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
