"""The progress bar: redrawn in place on a terminal, plain lines elsewhere."""

from __future__ import annotations

import io

from finemotor.progress import Progress


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_when_not_a_terminal_at_most_about_twenty() -> None:
    out = io.StringIO()
    with Progress(100, "reports", stream=out) as bar:
        for i in range(100):
            bar.advance(note=f"session {i}")
    lines = out.getvalue().splitlines()
    assert 19 <= len(lines) <= 21
    assert lines[-1] == "reports: 100/100: session 99"


def test_terminal_bar_is_redrawn_in_place_and_ends_with_a_newline() -> None:
    out = _Tty()
    with Progress(4, "flashing", stream=out) as bar:
        for _ in range(4):
            bar.advance(note="file")
    text = out.getvalue()
    assert text.count("\r") == 4
    assert "[" + "#" * 24 + "] 4/4" in text
    assert text.endswith(" s)\n")


def test_disabled_writes_nothing_and_never_passes_total() -> None:
    out = _Tty()
    bar = Progress(2, "x", stream=out, enabled=False)
    bar.advance(5)
    bar.close()
    assert out.getvalue() == ""
    assert bar.done == 2
