"""The desk app on an enrolled desk: the student is chosen from the caseload the server gives
this desk's school (not typed), the therapist watches in her workspace, and the session is on
the server when it ends. A real server process, ``finemotor desk --sim`` and Chromium."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from bench.chromium import CHROMIUM, chromium_context
from server_helpers import PASSWORD, Db
from test_desk_to_server import FM, ServerProcess, _cli, _free_port, _people

pytest.importorskip("playwright.sync_api", reason="install the dev extras")
from playwright.sync_api import expect

KIT_MS = 45_000


@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")
@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_an_enrolled_desk_chooses_the_student_from_the_caseload(db: Db, tmp_path: Path) -> None:
    server_env = {**os.environ, "FINEMOTOR_DATA": str(tmp_path / "server-side")}
    desk_env = {**os.environ, "FINEMOTOR_DATA": str(tmp_path / "desk")}
    server = ServerProcess(db, _free_port(), server_env)
    server.start()
    desk = None
    try:
        code = _people(db, server_env)
        _cli("enrol", "--server", server.url, "--code", code, env=desk_env)
        desk = subprocess.Popen(
            [*FM, "desk", "--sim", "--no-browser"],
            env=desk_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert desk.stdout is not None
        found = re.search(r"http://127\.0\.0\.1:\d+/\S+/", desk.stdout.readline())
        assert found is not None
        with chromium_context() as browser:
            # The therapist plans S-1's tasks on the student's page of her workspace.
            ot = browser.new_page()
            ot.goto(server.url + "/signin")
            ot.get_by_label("E-mail").fill("ot@district.example")
            ot.get_by_label("Password").fill(PASSWORD)
            ot.get_by_role("button", name="Sign in").click()
            expect(ot.get_by_role("link", name="S-1")).to_be_visible()
            ot.goto(server.url + "/students/S-1")
            expect(ot.locator("#plan-state")).to_contain_text("No tasks planned")
            ot.get_by_text("Plan the tasks").click()
            ot.get_by_label("One task per line").fill(
                "Right hand: squeeze the grip 3 times\nCopy the sentence with the pen\n"
            )
            ot.get_by_role("button", name="Save the tasks").click()
            expect(ot.locator("#plan-list li")).to_have_text(
                ["Right hand: squeeze the grip 3 times", "Copy the sentence with the pen"]
            )

            page = browser.new_page()
            page.set_viewport_size({"width": 1024, "height": 600})
            page.goto(found.group(0))
            student = page.get_by_label("Student", exact=True)
            # Oak Primary's caseload only (S-2 is at another school), and nothing to type.
            expect(student.locator("option")).to_have_text(["Choose the student…", "S-1"])
            expect(page.get_by_label("Student's code")).to_be_hidden()
            for noun in ("pen", "grip"):
                page.get_by_role("button", name=f"Pair the {noun}", exact=True).click()
                page.get_by_role("button", name=f"Press the button on the pretend {noun}").click()
                page.get_by_role("button", name="Yes, it is blinking").click(timeout=KIT_MS)
                page.get_by_role("button", name="Done").click(timeout=KIT_MS)
            page.get_by_role("button", name="Start", exact=True).click()
            expect(page.locator("#home-problems")).to_contain_text("Choose the student first.")
            student.select_option("S-1")
            expect(page.locator("#tasks-from")).to_have_text(
                "The therapist planned these tasks for S-1."
            )
            expect(page.locator("#tasks label")).to_have_text(
                ["Right hand: squeeze the grip 3 times", "Copy the sentence with the pen"]
            )
            page.get_by_role("button", name="Start", exact=True).click()
            expect(page.locator("#view")).to_contain_text(
                "The therapist is not watching yet", timeout=KIT_MS
            )
            expect(page.locator("#view-link")).to_be_hidden()  # no link to pass on
            expect(page.locator("#dev-grip")).to_contain_text("Data is coming in")
            expect(page.locator("#task-now")).to_have_text(
                "Task 1 of 2: Right hand: squeeze the grip 3 times"
            )
            # She opens the live view from her caseload: the desk says she is watching.
            ot.goto(server.url + "/caseload")
            ot.get_by_role("link", name="watch S-1 live").click(timeout=KIT_MS)
            expect(page.locator("#view")).to_have_text("The therapist is watching.", timeout=KIT_MS)
            page.get_by_role("button", name="Next task").click()
            expect(page.locator("#task-now")).to_have_text(
                "Task 2 of 2: Copy the sentence with the pen"
            )
            page.get_by_role("button", name="Stop the session").click()
            expect(page.locator("#upload")).to_have_text(
                "It is saved on this computer and on the school's server.", timeout=KIT_MS
            )
        os.killpg(desk.pid, signal.SIGINT)
        _out, err = desk.communicate(timeout=90)
        assert desk.returncode == 0, err
        listed = subprocess.run(
            [sys.executable, "-m", "finemotor", "sessions", "--json"],
            env=desk_env,
            capture_output=True,
            text=True,
            check=True,
        )
        (session,) = json.loads(listed.stdout)
        assert session["student"] == "S-1" and session["upload"] == "complete"
        assert session["samples"]["stylus"] > 0 and session["samples"]["grip"] > 0
        assert session["marks"] == [
            "Task 1: Right hand: squeeze the grip 3 times",
            "Task 2: Copy the sentence with the pen",
        ]
    finally:
        if desk is not None and desk.poll() is None:
            os.killpg(desk.pid, signal.SIGKILL)
            desk.communicate(timeout=30)
        server.stop()
