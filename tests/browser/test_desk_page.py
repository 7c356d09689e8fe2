"""The facilitator's desk app in real headless Chromium, against ``finemotor desk --sim``.

The command runs as the facilitator runs it (its own process, the simulated kits' real firmware
under MicroPython on the virtual radio); the page is driven through its buttons at the size of
a school netbook (1024 x 600): pair both kits, choose the student, start, watch the status
panel, mark the next task, stop. ``finemotor sessions --json`` then lists the session with
samples from both kits and the task marks. The same flow again with the keyboard only, and the
plain messages for a wrong student code, a kit out of range and a flat battery.

The screenshots of docs/facilitator.md are made here: set ``FINEMOTOR_SCREENSHOTS`` to a
folder (``docs/img/desk``) to keep them.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bench.chromium import CHROMIUM

pytest.importorskip("playwright.sync_api", reason="install the dev extras")
from playwright.sync_api import expect

pytestmark = [
    pytest.mark.slow,  # simulated kits in real time, watched in Chromium
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="needs Debian's chromium (.ci/run installs it)"
    ),
]

NETBOOK = {"width": 1024, "height": 600}
KIT_S = 45_000  # ms: finding, pairing or connecting a simulated kit on two busy cores
START_BUDGET_S = 8.0
"""Start to both kits streaming, with room for a loaded test machine (bench: within 5 s)."""


class Desk:
    """``finemotor desk --sim --no-browser`` in its own process group (as at a terminal)."""

    def __init__(self, *extra: str) -> None:
        cmd = [sys.executable, "-m", "finemotor", "desk", "--sim", "--no-browser", *extra]
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+/\S+/", line)
        if found is None:
            self.proc.kill()
            raise AssertionError(f"no link: {line!r} {self.proc.communicate()[1]}")
        self.url = found.group(0)

    def ctrl_c(self) -> tuple[int, str, str]:
        """Ctrl-C as a terminal sends it; the exit code and the rest of the output."""
        os.killpg(self.proc.pid, signal.SIGINT)
        out, err = self.proc.communicate(timeout=90)
        return self.proc.returncode, out, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.communicate(timeout=30)


@pytest.fixture
def desk_factory() -> Iterator[Any]:
    started: list[Desk] = []

    def make(*extra: str) -> Desk:
        desk = Desk(*extra)
        started.append(desk)
        return desk

    yield make
    for desk in started:
        desk.kill()


def open_page(browser: Any, url: str) -> Any:
    page = browser.new_page()
    page.set_viewport_size(NETBOOK)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.errors = errors
    page.goto(url)
    return page


def shot(page: Any, name: str, tmp_path: Path) -> None:
    """A screenshot of the step (kept in ``$FINEMOTOR_SCREENSHOTS`` when set)."""
    keep = os.environ.get("FINEMOTOR_SCREENSHOTS")
    folder = Path(keep) if keep else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"))


def fits(page: Any) -> None:
    """Nothing to scroll sideways or down at 1024 x 600."""
    size = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
    )
    assert size[0] <= NETBOOK["width"] and size[1] <= NETBOOK["height"], size


def title(page: Any) -> Any:
    return page.locator("section:not([hidden]) h2")


def pair(page: Any, kind: str, noun: str, tmp_path: Path | None = None) -> None:
    """Pair one simulated kit through the page's buttons."""
    page.get_by_role("button", name=f"Pair the {noun}", exact=True).click()
    expect(title(page)).to_have_text(f"Press the button on the {noun}")
    if tmp_path is not None:
        fits(page)
        shot(page, "desk-2-press-the-button", tmp_path)
    page.get_by_role("button", name=f"Press the button on the pretend {noun}").click()
    expect(title(page)).to_have_text("Is the light blinking?", timeout=KIT_S)
    expect(page.locator("#pair-detail")).to_contain_text("Its label says 5A")
    if tmp_path is not None:
        shot(page, "desk-3-is-the-light-blinking", tmp_path)
    page.get_by_role("button", name="Yes, it is blinking").click()
    expect(title(page)).to_have_text(f"The {noun} is paired", timeout=KIT_S)
    if tmp_path is not None:
        shot(page, "desk-4-paired", tmp_path)


def sessions() -> list[dict[str, Any]]:
    out = subprocess.run(
        [sys.executable, "-m", "finemotor", "sessions", "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    found: list[dict[str, Any]] = json.loads(out.stdout)
    return found


def samples_of(page: Any, kind: str) -> int:
    text = page.locator(f"#dev-{kind} .muted").inner_text()
    return int(text.split(" ")[0].replace(",", ""))


def test_pair_start_watch_mark_and_stop_from_the_page(
    browser: Any, desk_factory: Any, tmp_path: Path
) -> None:
    desk = desk_factory()
    page = open_page(browser, desk.url)
    expect(page.get_by_text("1. Your kits")).to_be_visible()
    expect(page.locator("#kit-stylus")).to_contain_text("Not paired with this computer yet")
    fits(page)
    shot(page, "desk-1-kits", tmp_path)

    pair(page, "stylus", "pen", tmp_path)
    expect(page.locator("#pair-detail")).to_contain_text("Calibrated on")
    expect(page.locator("#pair-detail")).to_contain_text("Battery")
    page.get_by_role("button", name="Done").click()
    pair(page, "grip", "grip")
    page.get_by_role("button", name="Done").click()
    expect(page.locator("#kit-stylus")).to_contain_text("Ready.")
    expect(page.locator("#kit-grip")).to_contain_text("Ready.")
    expect(page.locator("#kit-grip")).to_contain_text("Battery")

    # A name instead of a code: said as it is typed, and refused by Start.
    page.get_by_label("Student's code").fill("Emma Smith")
    expect(page.locator("#student-msg")).to_contain_text("That is not a student code")
    expect(page.get_by_label("Student's code")).to_have_attribute("aria-invalid", "true")
    fits(page)
    shot(page, "desk-5-student-and-tasks", tmp_path)
    page.get_by_label("Student's code").fill("S-014")
    expect(page.locator("#student-msg")).not_to_contain_text("not a student code")
    page.get_by_label("Copy the text with the pen").uncheck()
    page.get_by_role("button", name="Start", exact=True).click()

    expect(title(page)).to_have_text(re.compile("Session running"), timeout=KIT_S)
    for kind in ("stylus", "grip"):
        dev = page.locator(f"#dev-{kind}")
        expect(dev).to_contain_text("Connected", timeout=10_000)
        expect(dev).to_contain_text("Data is coming in", timeout=10_000)
        expect(dev).to_contain_text("Battery")
    first = samples_of(page, "grip")
    expect(page.locator("#task-now")).to_have_text(
        "Task 1 of 3: Right hand: squeeze the grip as hard as you can, 3 times"
    )
    expect(page.locator("#view")).to_contain_text("The therapist is not watching yet")
    expect(page.locator("#view")).to_contain_text("works on this computer only")
    expect(page.locator("#view-url")).to_have_value(re.compile(r"^http://127\.0\.0\.1:\d+/view/"))
    # The therapist opens her link: the desk says she is watching, and when she leaves.
    therapist = open_page(browser, page.locator("#view-url").input_value())
    expect(page.locator("#view")).to_have_text("The therapist is watching.", timeout=10_000)
    therapist.close()
    expect(page.locator("#view")).to_contain_text("not watching yet", timeout=10_000)
    time.sleep(2.5)
    assert samples_of(page, "grip") > first  # the panel updates
    assert page.locator("#clock").inner_text() != "00:00"
    fits(page)
    shot(page, "desk-6-session-running", tmp_path)
    page.get_by_role("button", name="Next task").click()
    expect(page.locator("#task-now")).to_have_text(re.compile("^Task 2 of 3: Left hand"))

    # Closing the page stops nothing: opened again, it shows the session.
    page.close()
    page = open_page(browser, desk.url)
    expect(title(page)).to_have_text(re.compile("Session running"))
    expect(page.locator("#task-now")).to_have_text(re.compile("^Task 2 of 3"))
    state = page.request.get(desk.url + "api/state").json()
    assert state["session"]["start_s"] is not None
    assert state["session"]["start_s"] < START_BUDGET_S, state["session"]["start_s"]

    page.get_by_role("button", name="Stop the session").click()
    expect(title(page)).to_have_text("The session is saved", timeout=KIT_S)
    expect(page.locator("#summary")).to_contain_text("Pen:")
    expect(page.locator("#summary")).to_contain_text("Grip:")
    expect(page.locator("#summary")).to_contain_text("2 tasks marked")
    expect(page.locator("#upload")).to_have_text("It is saved on this computer.")
    fits(page)
    shot(page, "desk-7-saved", tmp_path)
    assert page.errors == []

    code, out, err = desk.ctrl_c()
    assert code == 0, err
    assert "Traceback" not in out + err
    (session,) = sessions()
    assert session["student"] == "S-014" and session["ended_at"] is not None
    assert session["samples"]["stylus"] > 0 and session["samples"]["grip"] > 0
    assert session["marks"] == [
        "Task 1: Right hand: squeeze the grip as hard as you can, 3 times",
        "Task 2: Left hand: squeeze the grip as hard as you can, 3 times",
    ]


def tab_to(page: Any, name: str, presses: int = 60) -> None:
    """Press Tab until the focused control is called ``name`` (its text or label)."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "(() => { const e = document.activeElement; if (!e) return '';"
            " if (e.labels && e.labels.length) return e.labels[0].textContent.trim();"
            " return (e.getAttribute('aria-label') || e.textContent || '').trim(); })()"
        )
        if focused == name:
            return
    raise AssertionError(f"Tab never reached {name!r}")


def test_the_same_flow_with_the_keyboard_only(browser: Any, desk_factory: Any) -> None:
    desk = desk_factory()
    page = open_page(browser, desk.url)
    expect(page.get_by_text("1. Your kits")).to_be_visible()
    for noun in ("pen", "grip"):
        tab_to(page, f"Pair the {noun}")
        page.keyboard.press("Enter")
        expect(title(page)).to_have_text(f"Press the button on the {noun}")
        # Each step puts the keyboard on its one action.
        press = page.get_by_role("button", name=f"Press the button on the pretend {noun}")
        expect(press).to_be_focused()
        page.keyboard.press("Enter")
        expect(title(page)).to_have_text("Is the light blinking?", timeout=KIT_S)
        expect(page.get_by_role("button", name="Yes, it is blinking")).to_be_focused()
        page.keyboard.press("Space")
        expect(title(page)).to_have_text(f"The {noun} is paired", timeout=KIT_S)
        expect(page.get_by_role("button", name="Done")).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.get_by_text("1. Your kits")).to_be_visible()
    tab_to(page, "Student's code")
    page.keyboard.type("S-015")
    tab_to(page, "Start")
    page.keyboard.press("Enter")
    expect(title(page)).to_have_text(re.compile("Session running"), timeout=KIT_S)
    expect(title(page)).to_be_focused()
    expect(page.locator("#dev-grip")).to_contain_text("Data is coming in", timeout=10_000)
    tab_to(page, "Next task")
    page.keyboard.press("Enter")
    expect(page.locator("#task-now")).to_have_text(re.compile("^Task 2 of 4"))
    tab_to(page, "Stop the session")
    page.keyboard.press("Enter")
    expect(title(page)).to_have_text("The session is saved", timeout=KIT_S)
    expect(title(page)).to_be_focused()
    assert page.errors == []
    code, _out, err = desk.ctrl_c()
    assert code == 0, err
    (session,) = sessions()
    assert session["student"] == "S-015"
    assert session["samples"]["stylus"] > 0 and session["samples"]["grip"] > 0
    assert [m.split(":")[0] for m in session["marks"]] == ["Task 1", "Task 2"]


def test_a_flat_battery_says_to_charge_and_nothing_is_recorded(
    browser: Any, desk_factory: Any, tmp_path: Path
) -> None:
    desk = desk_factory("--sim-flat", "grip")
    page = open_page(browser, desk.url)
    pair(page, "stylus", "pen")
    page.get_by_role("button", name="Done").click()
    pair(page, "grip", "grip")
    flat = "The grip's battery is almost empty. Plug it into its charger for 20 minutes"
    expect(page.locator("#pair-problems")).to_contain_text(flat)
    page.get_by_role("button", name="Done").click()
    expect(page.locator("#kit-grip")).to_contain_text(flat)
    expect(page.locator("#kit-grip")).to_contain_text("Needs attention")
    page.get_by_label("Student's code").fill("S-016")
    page.get_by_role("button", name="Start", exact=True).click()
    expect(title(page)).to_have_text("The session did not start", timeout=KIT_S)
    expect(page.locator("#blocked-list")).to_contain_text(flat)
    fits(page)
    shot(page, "desk-8-flat-battery", tmp_path)
    page.get_by_role("button", name="Back").click()
    expect(page.get_by_text("1. Your kits")).to_be_visible()
    assert desk.ctrl_c()[0] == 0
    assert sessions() == []


def test_a_kit_out_of_range_says_where_to_look(
    browser: Any, desk_factory: Any, tmp_path: Path
) -> None:
    # This desk's grip was paired before, but today it is switched off (not on the air).
    data = Path(os.environ["FINEMOTOR_DATA"])
    data.mkdir(parents=True, exist_ok=True)
    kit = {"kit_id": "5A2002", "kind": "grip", "address": "F0:00:00:00:20:02", "paired_at": 1.0}
    (data / "kits.json").write_text(json.dumps({"kits": [kit]}))
    desk = desk_factory("--sim-away", "grip", "--timeout", "3", "--button-timeout", "3")
    page = open_page(browser, desk.url)
    away = (
        "We cannot find the grip (5A2002). Switch it on (its light glows) and bring it next "
        "to this computer."
    )
    expect(page.locator("#kit-grip")).to_contain_text(away, timeout=KIT_S)
    fits(page)
    shot(page, "desk-9-out-of-range", tmp_path)
    # Pairing it again: no button is seen, and the page says what to check.
    page.get_by_role("button", name="Pair the grip again").click()
    expect(title(page)).to_have_text("The grip is not paired", timeout=KIT_S)
    expect(page.locator("#pair-text")).to_contain_text(
        "We did not see the button pressed on a grip. Check that the grip is switched on"
    )
    page.get_by_role("button", name="Back").click()
    # A wrong student code is refused by Start too, with the same words.
    page.get_by_label("Student's code").fill("Emma Smith")
    page.get_by_role("button", name="Start", exact=True).click()
    expect(page.locator("#home-problems")).to_contain_text("That is not a student code")
    assert desk.ctrl_c()[0] == 0
    assert sessions() == []
