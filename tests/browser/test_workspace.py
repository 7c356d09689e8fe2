"""The therapist's workspace in real headless Chromium, against a running server holding
simulated sessions a desk uploaded: sign in, caseload, student, goals, session charts, live
view, sign out, another therapist's 404, keyboard reach, and no CSP violation or console
error on any page. `make screenshots` writes the screenshots docs/therapist.md shows."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bench.chromium import CHROMIUM
from bench.workspace_world import ADMIN, OTHER, PASSWORD, THERAPIST, World

from finemotor.relay.server import UPLOT_FILES, VENDOR_DIR

pytest.importorskip("playwright.sync_api", reason="install the dev extras")
from playwright.sync_api import expect

pytestmark = [
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="needs Debian's chromium (.ci/run installs it)"
    ),
    pytest.mark.skipif(
        not all((VENDOR_DIR / f).is_file() for f in UPLOT_FILES),
        reason="needs uPlot in relay/static/vendor (make setup fetches it from npm)",
    ),
]

DOCS = Path(__file__).resolve().parents[2] / "docs" / "img"
READY = "() => document.body.dataset.ready === '1'"
NON_EMPTY = """(sel) => Array.from(document.querySelectorAll(sel)).map((c) => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
  return n; })"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = World(tmp_path_factory.mktemp("workspace"))
    try:
        for days, seed, gain in ((20, 1, 0.8), (10, 2, 0.9), (1, 3, 1.0)):
            w.record_and_upload("S-1", 120.0, days, seed, gain)
        yield w
    finally:
        w.close()


class Problems:
    """Console errors, uncaught exceptions and CSP violations of a page."""

    def __init__(self, page: Any) -> None:
        self.seen: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.seen.append(f"uncaught: {e}"))

    def _console(self, m: Any) -> None:
        if m.type == "error" or "Content Security Policy" in m.text:
            self.seen.append(f"{m.type}: {m.text}")

    def take(self) -> list[str]:
        out, self.seen = self.seen, []
        return out


def _sign_in(page: Any, base: str, email: str, path: str = "/") -> None:
    page.goto(base + path)
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_url(lambda u: "/signin" not in u)


def _shot(page: Any, name: str) -> None:
    """Screenshot the page; into docs/img (what docs/therapist.md shows) only when
    ``FINEMOTOR_DOC_SCREENSHOTS`` is set (``make screenshots``), so a test run leaves the
    checkout as it was."""
    png = page.screenshot(full_page=True)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    if os.environ.get("FINEMOTOR_DOC_SCREENSHOTS"):
        DOCS.mkdir(parents=True, exist_ok=True)
        (DOCS / name).write_bytes(png)


def test_the_therapist_reads_caseload_student_and_session(world: World, browser: Any) -> None:
    page = browser.new_page()
    page.set_viewport_size({"width": 900, "height": 900})
    problems = Problems(page)
    base = world.base

    # Signed out, a page sends you to sign in; a wrong password gets a sentence.
    page.goto(base + "/caseload")
    assert "/signin" in page.url
    page.fill("#email", THERAPIST)
    page.fill("#password", "not the password")
    page.press("#password", "Enter")
    page.wait_for_function("() => document.getElementById('msg').textContent.includes('not')")
    assert page.inner_text("#msg") == "the e-mail or password is not right"
    assert [p for p in problems.take() if "401" not in p] == []  # the refusal itself only
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")

    # The caseload lists the student whose sessions the desk uploaded.
    page.wait_for_url(base + "/caseload")
    page.wait_for_function(READY)
    row = page.locator("tr[data-student='S-1']")
    assert row.locator("td").nth(2).inner_text() == "3"  # sessions in the last 30 days
    assert row.locator("td").nth(1).inner_text() != "none yet"
    assert "S-2" not in page.inner_text("#students")

    # The student: trends drawn, and a goal set in kgf (stored in newtons) is on the trend.
    row.locator("a").first.click()
    page.wait_for_url(base + "/students/S-1")
    page.wait_for_function(READY)
    assert page.locator("#trends figure canvas").count() >= 3
    assert page.locator("#sessions tbody tr").count() == 3
    page.click("#goal-edit summary")
    page.select_option("#g-metric", "grip_peak_right")
    page.fill("#g-target", "15")
    page.fill("#g-by", "2099-06-30")
    page.fill("#g-note", "carry a school bag")
    page.evaluate("() => { document.body.dataset.ready = ''; }")
    page.press("#g-note", "Enter")
    page.wait_for_function(READY)
    card = page.locator("[data-goal='grip_peak_right']")
    assert "at least 15.0 kgf by 2099-06-30" in card.inner_text()
    assert "Data points\n3" in card.inner_text() or "Data points\t3" in card.inner_text()
    grip = page.locator("figure[data-metrics='grip_peak_right grip_peak_left']")
    assert grip.get_attribute("data-goals") == "1"
    assert "goal line: Grip strength, right hand: at least 15.0 kgf" in grip.inner_text()

    async def stored() -> float:
        store = world.server.store
        assert store is not None
        return float((await store.goals(await store.student("S-1")))[0]["target"])

    assert world.call(stored()) == pytest.approx(15 * 9.80665)
    page.wait_for_timeout(300)  # the sparkline and charts settle for the picture
    _shot(page, "workspace-student.png")

    # The session: one chart per device, drawn; the marks listed; zoom refines from the server.
    page.locator("#sessions tbody tr a").first.click()
    page.wait_for_url(lambda u: "/sessions/" in u)
    page.wait_for_function(READY)
    assert page.get_attribute("body", "data-charts") == "2"
    drawn = page.evaluate(NON_EMPTY, "#charts canvas")
    assert len(drawn) == 2 and all(n > 1000 for n in drawn), drawn
    marks = page.locator("#marks tbody tr").all_inner_texts()
    assert [m.split("\t")[1] for m in marks] == [
        "right hand",
        "start copy",
        "end copy",
        "left hand",
    ]
    assert marks[0].startswith("0:01.0")  # on the session clock, not a device's
    assert "copy" in page.inner_text("#tasks")
    assert "calibrated 2023-11-14" in page.inner_text("#devices")
    # every metric of both devices says what it means (finemotor.metrics.definitions)
    meanings = page.eval_on_selector_all(
        "#metrics tbody tr",
        "(rows) => rows.map((r) => [r.cells[0].textContent, r.cells[2].textContent])",
    )
    assert len(meanings) > 20 and [m for m, text in meanings if not text.strip()] == []
    assert page.locator("#metrics th[scope='col']").all_text_contents()[2:3] == ["What it means"]
    whole = int(
        page.locator("#charts figure[data-device='grip'] .uplot").get_attribute("data-samples") or 0
    )
    with page.expect_response(lambda r: "/traces?" in r.url and "from=" in r.url) as got:
        page.click("#z-in")
    assert got.value.status == 200
    samples = "+document.querySelector(\"figure[data-device='grip'] .uplot\").dataset.samples"
    page.wait_for_function(f"(n) => {samples} < n", arg=whole)
    page.click("#z-all")
    page.wait_for_function(f"(n) => {samples} === n", arg=whole)
    page.fill("#note", "tired after lunch")
    page.click("#note-form button")
    page.wait_for_function("() => document.getElementById('msg').textContent === 'Note saved.'")
    pdf = page.request.get(base + (page.get_attribute("#pdf", "href") or ""))
    assert pdf.status == 200 and pdf.body()[:5] == b"%PDF-"
    _shot(page, "workspace-session.png")

    # The printable progress report.
    page.goto(base + "/students/S-1/report")
    page.wait_for_function(READY)
    assert "Goal: at least 15.0 kgf by 2099-06-30." in page.inner_text("#goals")
    assert page.locator("#sessions tbody tr").count() == 3

    page.goto(base + "/caseload")
    page.wait_for_function(READY)
    assert "15.0 kgf" in page.locator("tr[data-student='S-1'] .goal-cell").inner_text()
    assert page.locator("tr[data-student='S-1'] svg.spark polyline").count() == 1
    _shot(page, "workspace-caseload.png")

    # Sign out: the pages need signing in again.
    page.click("#signout")
    page.wait_for_url(lambda u: "/signin?why=out" in u)
    assert page.inner_text("#msg") == "You are signed out."
    page.goto(base + "/students/S-1")
    assert "/signin" in page.url
    assert problems.take() == []


def test_another_therapist_gets_404_for_the_first_ones_student(world: World, browser: Any) -> None:
    page = browser.new_page()
    problems = Problems(page)
    _sign_in(page, world.base, OTHER)
    page.wait_for_function(READY)
    assert "S-1" not in page.inner_text("#students")
    assert problems.take() == []
    sid = world.server_sessions("S-1")[-1]
    for path in ("/students/S-1", "/students/S-1/report", f"/sessions/{sid}"):
        resp = page.goto(world.base + path)
        assert resp is not None and resp.status == 404, path
        assert "Not found" in page.inner_text("h1")
    for path in ("/api/students/S-1/sessions", f"/api/sessions/{sid}/traces?device=grip"):
        assert page.request.get(world.base + path).status == 404
    page.goto(world.base + "/admin")  # another role's page: sent home
    assert page.url.endswith("/caseload")


def test_the_live_view_opens_from_the_caseload_and_moves(world: World, browser: Any) -> None:
    page = browser.new_page()
    problems = Problems(page)
    sid = world.publish("S-1", seconds=30.0)
    _sign_in(page, world.base, THERAPIST, "/caseload")
    page.wait_for_function(READY)
    link = page.locator("tr[data-student='S-1'] a.live")
    assert link.get_attribute("href") == f"/view/{sid}"  # no token in it
    link.click()
    page.wait_for_url(world.base + f"/view/{sid}")
    page.wait_for_function("() => window.__fm && window.__fm.drawn > 5", timeout=20_000)
    first = page.evaluate("() => window.__fm.drawn")
    page.wait_for_function(f"() => window.__fm.drawn > {first} + 5", timeout=10_000)
    assert page.locator("canvas").count() >= 1
    assert problems.take() == []


CONTROLS = "a[href], button, input, select, textarea, summary"


def _tab_through(page: Any, limit: int = 400) -> list[str]:
    """Tab through the page, opening each closed <details> with Enter as it is reached; the
    controls (visible, enabled) that focus never reached."""
    page.evaluate(
        f"""() => document.querySelectorAll("{CONTROLS}").forEach((e, i) => {{
            e.dataset.k = String(i); }})"""
    )
    page.locator("body").focus()
    reached: set[str] = set()
    first = ""
    for _ in range(limit):
        page.keyboard.press("Tab")
        got = page.evaluate(
            """() => { const e = document.activeElement;
              return e ? [e.dataset.k || "", e.tagName, e.parentElement.open === false] : null; }"""
        )
        if got is None or got[0] == "":
            continue
        if got[0] == first:
            break  # round the page once (a date field takes a Tab per part)
        first = first or got[0]
        reached.add(got[0])
        if got[1] == "SUMMARY" and got[2]:
            page.keyboard.press("Enter")
    return list(
        page.evaluate(
            f"""(reached) => Array.from(document.querySelectorAll("{CONTROLS}"))
              .filter((e) => e.checkVisibility() && !e.disabled && !reached.includes(e.dataset.k))
              .map((e) => e.outerHTML.slice(0, 80))""",
            sorted(reached),
        )
    )


def test_keyboard_alone_reaches_every_control_on_every_page(world: World, browser: Any) -> None:
    page = browser.new_page()
    page.set_viewport_size({"width": 800, "height": 700})
    problems = Problems(page)
    _sign_in(page, world.base, THERAPIST, "/caseload")
    sid = world.server_sessions("S-1")[-1]
    for path in (
        "/caseload",
        "/students/S-1",
        f"/sessions/{sid}",
        "/students/S-1/report",
        "/password",
    ):
        page.goto(world.base + path)
        if path != "/password":
            page.wait_for_function(READY)
        assert _tab_through(page) == [], path
    page.click("#signout")
    page.wait_for_url(lambda u: "/signin" in u)
    assert _tab_through(page) == []
    _sign_in(page, world.base, ADMIN)
    page.wait_for_url(world.base + "/admin")
    page.wait_for_function(READY)
    assert "desk 1" in page.inner_text("#desks")
    assert _tab_through(page) == []
    page.click("#code-form button")
    page.wait_for_function("() => document.getElementById('code').textContent.includes('code')")
    assert problems.take() == []


def test_a_late_answer_does_not_undo_a_newer_zoom(world: World, browser: Any) -> None:
    """The therapist zooms again while the server still works on her first zoom: the first
    answer, arriving after the second zoom, is dropped and the charts keep the second view
    and refine it."""
    page = browser.new_page()
    problems = Problems(page)
    _sign_in(page, world.base, THERAPIST, "/caseload")
    sid = world.server_sessions("S-1")[-1]
    page.goto(world.base + f"/sessions/{sid}")
    page.wait_for_function(READY)
    held: list[Any] = []

    def hold_first(route: Any) -> None:
        if held or "from=" not in route.request.url:
            route.continue_()
        else:
            held.append(route)

    page.route("**/traces?*", hold_first)
    samples = "+document.querySelector(\"figure[data-device='grip'] .uplot\").dataset.samples"
    whole = page.evaluate(f"() => {samples}")
    page.click("#z-in")
    page.wait_for_timeout(500)  # the first zoom's requests are out; one is held
    assert len(held) == 1
    page.click("#z-in")
    shown = page.inner_text("#z-range")
    held[0].continue_()  # the first zoom's answer lands now, before the second asks
    page.wait_for_function(f"(n) => {samples} < n / 3", arg=whole)  # a quarter, in detail
    page.wait_for_timeout(500)
    assert page.inner_text("#z-range") == shown
    assert page.evaluate(f"() => {samples}") < whole / 3
    assert problems.take() == []


def test_an_idle_or_expired_sign_in_sends_her_to_sign_in_with_a_sentence(
    world: World, browser: Any
) -> None:
    page = browser.new_page()
    problems = Problems(page)
    page.clock.install()
    _sign_in(page, world.base, THERAPIST, "/caseload")
    page.wait_for_function(READY)
    # 30 minutes without a key or a click: signed out, and told why.
    page.clock.fast_forward("30:01")
    page.wait_for_url(lambda u: "/signin" in u)
    expect(page.locator("#msg")).to_have_text(
        "You were signed out after 30 minutes without activity: sign in again."
    )
    assert page.request.get(world.base + "/api/students").status == 401  # really signed out
    # Signed in again; the sign-in then ends on the server (expiry, a password change
    # elsewhere): the next request sends her to sign in, and back to where she was.
    _sign_in(page, world.base, THERAPIST, "/caseload")
    page.wait_for_function(READY)
    page.context.clear_cookies()
    page.clock.fast_forward("00:11")  # the caseload's live column asks the server again
    page.wait_for_url(lambda u: "/signin?why=expired" in u and "next=%2Fcaseload" in u)
    expect(page.locator("#msg")).to_have_text("Your sign-in has expired: sign in again.")
    page.fill("#email", THERAPIST)
    page.fill("#password", "not the password")
    page.press("#password", "Enter")
    expect(page.locator("#msg")).to_contain_text("the e-mail or password is not right")
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_url(lambda u: u.endswith("/caseload"))
    page.wait_for_function(READY)
    # the browser logs each refused request (401); nothing else went wrong
    assert [p for p in problems.take() if "status of 401" not in p] == []


def test_the_admin_keeps_desks_retention_and_the_log(world: World, browser: Any) -> None:
    page = browser.new_page()
    problems = Problems(page)
    page.on("dialog", lambda d: d.accept())  # the confirmations
    _sign_in(page, world.base, ADMIN, "/admin")
    page.wait_for_function(READY)
    expect(page.locator("#retention-now")).to_have_text("Every session is kept (no retention set).")
    # A retention too short is refused on the page, before anything is deleted.
    page.get_by_label("Keep sessions").select_option("for a number of days")
    page.get_by_role("spinbutton", name="Days").fill("7")
    page.get_by_role("button", name="Save the retention").click()
    expect(page.locator("#msg")).to_have_text("Type the number of days, from 30 to 36500.")
    page.get_by_role("spinbutton", name="Days").fill("3650")
    page.get_by_role("button", name="Save the retention").click()
    expect(page.locator("#retention-now")).to_contain_text(
        f"Sessions older than 3650 days are deleted. Set by {ADMIN}"
    )
    expect(page.locator("#audit")).to_contain_text("keep sessions 3650 days")
    # A new desk: an enrolment code, used by the desk; then revoked from the page.
    page.get_by_role("button", name="Make an enrolment code").click()
    expect(page.locator("#code")).to_contain_text("Enrolment code:")
    code = page.inner_text("#code").split("Enrolment code: ")[1].split(" ")[0]
    enrolled = page.request.post(
        world.base + "/api/enrol", data={"code": code, "name": "library desk"}
    )
    assert enrolled.status == 201
    page.reload()
    page.wait_for_function(READY)
    page.get_by_role("button", name="Revoke library desk").click()
    expect(page.locator("#desks")).to_contain_text("revoked")
    cred = enrolled.json()["credential"]
    headers = {"Authorization": f"Bearer {cred}"}
    assert page.request.get(world.base + "/api/desk", headers=headers).status == 403
    page.get_by_label("Student id (empty: everyone)").fill("S-1")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#audit tbody tr").first).to_contain_text("S-1")
    page.get_by_label("Keep sessions").select_option("for ever")
    page.get_by_role("button", name="Save the retention").click()
    expect(page.locator("#retention-now")).to_contain_text("Every session is kept.")
    assert problems.take() == []


def test_a_therapist_the_admin_adds_chooses_her_own_password_first(
    world: World, browser: Any
) -> None:
    admin = browser.new_page()
    problems = Problems(admin)
    _sign_in(admin, world.base, ADMIN, "/admin")
    admin.wait_for_function(READY)
    admin.get_by_label("E-mail", exact=True).fill("first.day@district.example")
    admin.get_by_role("button", name="Add the account").click()
    expect(admin.locator("#one-time")).to_contain_text("One-time password for first.day@")
    expect(admin.locator("#accounts")).to_contain_text("one-time, not yet changed")
    given = admin.inner_text("#one-time code")
    admin.get_by_role("button", name="Sign out").click()
    admin.wait_for_url(lambda u: "/signin" in u)
    # She signs in with it (this browser's pages share their cookies): the password page
    # comes first, whatever she asked for.
    page = browser.new_page()
    mine = Problems(page)
    page.goto(world.base + "/caseload")
    page.fill("#email", "first.day@district.example")
    page.fill("#password", given)
    page.press("#password", "Enter")
    page.wait_for_url(lambda u: "/password" in u)
    page.wait_for_selector("#msg:not([hidden])")
    expect(page.locator("#msg")).to_contain_text("Choose your own password before you go on")
    page.get_by_label("The password you were given").fill(given)
    page.get_by_label("New password", exact=True).fill("my own password, at last")
    page.get_by_label("New password again").fill("my own password, at last")
    page.get_by_role("button", name="Change password").click()
    page.wait_for_url(lambda u: u.endswith("/caseload"))
    page.wait_for_function(READY)
    expect(page.locator("#summary")).to_have_text("0 students")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(lambda u: "/signin" in u)
    _sign_in(admin, world.base, ADMIN, "/admin")
    admin.wait_for_function(READY)
    row = admin.locator("#accounts tr", has_text="first.day@")
    expect(row).not_to_contain_text("not yet changed")
    assert problems.take() == []
    assert [p for p in mine.take() if "status of 403" not in p] == []
