"""The relay's frames are named once (relay/frames.py), and the therapist's page handles
exactly the frames a viewer can receive: a kind added on one side and forgotten on the other
fails here."""

from __future__ import annotations

import re

from finemotor.relay import frames
from finemotor.relay.server import STATIC_DIR


def test_the_page_handles_every_frame_a_viewer_receives_and_no_other() -> None:
    page = (STATIC_DIR / "app.js").read_text()
    handled = set(re.findall(r'case "([a-z]+)"', page))
    assert handled == set(frames.VIEWER_KINDS)


def test_the_page_sends_only_marks() -> None:
    page = (STATIC_DIR / "app.js").read_text()
    sent = set(re.findall(r'\bk: "([a-z]+)"', page))
    assert sent == {frames.MARK}
