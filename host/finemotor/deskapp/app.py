"""The facilitator's desk app: a page on this computer that pairs, checks and runs a session.

:class:`DeskApp` holds what the page shows (this desk's kits, a pairing under way, the
session) and does what its buttons ask, one radio job at a time. The session is the same
:class:`~finemotor.session.SessionRunner` as ``finemotor session``: nothing is recorded
differently. The page is served on 127.0.0.1 under a secret path made for each run, so other
users of this computer cannot drive it; closing the page stops nothing (reopening it shows the
session), and :meth:`DeskApp.close` ends a running session cleanly (Ctrl-C on the command).

Every message is for a facilitator (reading age about 10): what is wrong and what to do, no
jargon, never a traceback (unexpected errors go to ``finemotor.log``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from finemotor.connect import KitNotFoundError, reach_kits
from finemotor.crashlog import log_crash
from finemotor.desk import Desk
from finemotor.errors import (
    BluetoothUnavailableError,
    FinemotorError,
    PairingRefusedError,
    RecordingError,
    TransportError,
)
from finemotor.kitlink import KitLink
from finemotor.marks import PLAN_TASKS, TASK_CHARS, clean_mark_text
from finemotor.metrics.results import to_jsonable
from finemotor.pairing import pair_at_desk
from finemotor.preflight import Flag, check_kit
from finemotor.radio import Radio
from finemotor.samples import DEVICE_KINDS
from finemotor.session import DESK_MARK_PREFIX, SessionOptions, SessionRunner, SessionSummary
from finemotor.student import student_id_problem
from finemotor.sync.credential import REQUEST_TIMEOUT_S, DeskCredential

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_FILES = {
    "app.js": "text/javascript",
    "app.css": "text/css",
    "pen.svg": "image/svg+xml",
    "grip.svg": "image/svg+xml",
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
NOUN = {"stylus": "pen", "grip": "grip"}
"""What the page calls each kit."""
DEFAULT_TASKS = (
    "Right hand: squeeze the grip as hard as you can, 3 times",
    "Left hand: squeeze the grip as hard as you can, 3 times",
    "Copy the text with the pen",
    "Right hand: squeeze the grip again, 3 times",
)
"""The tasks offered when the therapist gave no plan (``--tasks``)."""
STUDENTS_EVERY_S = 30.0
"""How often the page asks the server again for the caseload and the therapists' plans."""
ANSWER_WAIT_S = 120.0
"""How long the pairing question waits for the facilitator before nothing is kept."""
FLOWING_S = 2.5
"""Samples are flowing if some arrived within this many seconds."""
UNEXPECTED = (
    "Something unexpected went wrong. Try again. If it happens again, send the file {log} to "
    "whoever looks after your kit."
)


@dataclass
class DeskAppOptions:
    """How the desk app runs.

    Attributes:
        db: the recording database (None: the default).
        relay_url: the relay the therapist's link uses (None: this desk's server, or a relay
            on this computer).
        view: publish the therapist view.
        credential: this desk's enrolment (None: not enrolled, the student's code is typed).
        timeout: seconds to find each kit.
        button_timeout: seconds to wait for a kit's button when pairing.
        tasks: the tasks offered.
        desk: this desk's kit list (None: the default ``kits.json``).
    """

    db: Path | None = None
    relay_url: str | None = None
    view: bool = True
    credential: DeskCredential | None = None
    timeout: float = 10.0
    button_timeout: float = 60.0
    tasks: Sequence[str] = DEFAULT_TASKS
    desk: Path | None = None


@dataclass
class KitCard:
    """One kit as the page shows it."""

    kind: str
    kit_id: str | None = None
    state: str = "unpaired"
    """``unpaired``, ``paired`` (not checked yet), ``checking``, ``ready`` or ``problem``."""
    battery: int | None = None
    calibrated_on: str | None = None
    message: str | None = None
    problems: list[str] = field(default_factory=list)


@dataclass
class Pairing:
    """A pairing under way: which step, and what the page says."""

    kind: str
    step: str = "press"
    """``press``, ``connecting``, ``confirm``, ``done`` or ``problem``."""
    kit_id: str | None = None
    message: str | None = None
    answer: asyncio.Future[bool] | None = None


@dataclass
class SessionView:
    """The session as the page shows it."""

    state: str = "idle"
    """``idle``, ``starting``, ``blocked``, ``running``, ``stopping`` or ``ended``."""
    student: str = ""
    tasks: list[str] = field(default_factory=list)
    current: int = 0
    message: str | None = None
    problems: list[str] = field(default_factory=list)
    summary: SessionSummary | None = None
    start_s: float | None = None
    """Seconds from Start to samples from every kit."""
    flowing_at: dict[str, float] = field(default_factory=dict)
    last_samples: dict[str, int] = field(default_factory=dict)


class BusyError(FinemotorError):
    """The app is already doing something with the kits."""


def kit_noun(kind: str) -> str:
    """``pen`` or ``grip``."""
    return NOUN.get(kind, kind)


def flag_message(flag: Flag, noun: str) -> str:
    """A preflight flag in the page's words."""
    the = f"The {noun}"
    if flag.code == "battery_low":
        return (
            f"{the}'s battery is almost empty. Plug it into its charger for 20 minutes, then "
            "press “Check the kits” again. It can record while it charges."
        )
    if flag.code == "battery_unknown":
        return f"{the} did not say how full its battery is."
    if flag.code == "uncalibrated":
        return (
            f"{the} has not been set up to measure properly yet (it is not calibrated). Tell "
            "the therapist: it needs its check before it is used."
        )
    if flag.code == "calibration_expired":
        return (
            f"{the}'s yearly check is overdue, so its numbers may be wrong. Tell the "
            "therapist: it needs to be checked again."
        )
    return flag.message


def problem_message(exc: BaseException, kind: str, kit_id: str | None) -> str:
    """What went wrong with a kit, in the page's words, with what to do."""
    noun = kit_noun(kind) if kind else "kits"
    label = f" ({kit_id})" if kit_id else ""
    if isinstance(exc, KitNotFoundError):
        return (
            f"We cannot find the {noun}{label}. Switch it on (its light glows) and bring it next "
            "to this computer. If its light stays off, it is flat: plug it into its charger. "
            "Then press “Check the kits” again."
        )
    if isinstance(exc, PairingRefusedError):
        return (
            f"The {noun}{label} does not know this computer any more: it may have been paired "
            f"with another computer. Press “Pair the {noun}” to make it this desk's {noun} "
            "again."
        )
    if isinstance(exc, BluetoothUnavailableError):
        return (
            f"This computer cannot use Bluetooth right now ({exc}). Ask whoever looks after "
            "this computer to run “finemotor doctor”."
        )
    if isinstance(exc, FinemotorError):
        return f"Something went wrong with the {noun}{label}: {exc}. Please try again."
    where = log_crash("desk", exc)
    return UNEXPECTED.format(log=where or "finemotor.log")


class DeskApp:
    """The page's state and actions; see the module docstring.

    Args:
        radio: the radio the kits are on (:func:`finemotor.radio.open_radio`).
        opts: how it runs.
    """

    def __init__(self, radio: Radio, opts: DeskAppOptions) -> None:
        self.radio = radio
        self.opts = opts
        self.desk = Desk(opts.desk)
        self.secret = secrets.token_urlsafe(24)
        self.kits: dict[str, KitCard] = {kind: KitCard(kind) for kind in DEVICE_KINDS}
        self.pairing: Pairing | None = None
        self.session = SessionView()
        self.students: list[str] | None = None
        self.students_problem: str | None = None
        self.plans: dict[str, list[str]] = {}
        """The tasks each student's therapist planned (from this desk's server)."""
        self._students_at = -math.inf
        self._students_failing = False
        self.runner: SessionRunner | None = None
        self.links: dict[str, KitLink] = {}
        self.url: str | None = None
        self._job: asyncio.Task[None] | None = None
        self._busy: str | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._students_task: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self._web: web.AppRunner | None = None
        self.ended = asyncio.Event()
        """Set when a session has ended (its summary is in ``session.summary``)."""
        self._read_desk()

    # -- serving ----------------------------------------------------------------------------

    async def start(self, port: int = 0) -> str:
        """Serve the page on 127.0.0.1; its URL (with the secret)."""
        app = web.Application(middlewares=[self._guard], client_max_size=64 * 1024)
        p = f"/{self.secret}"
        app.router.add_get(p, self._to_slash)
        app.router.add_get(p + "/", self._index)
        app.router.add_get(p + "/{name}", self._static)
        app.router.add_get(p + "/api/state", self._get_state)
        for action, handler in (
            ("pair", self._post_pair),
            ("pair/press", self._post_press),
            ("pair/answer", self._post_answer),
            ("pair/close", self._post_pair_close),
            ("check", self._post_check),
            ("start", self._post_start),
            ("next", self._post_next),
            ("stop", self._post_stop),
            ("new", self._post_new),
        ):
            app.router.add_post(f"{p}/api/{action}", handler)
        self._web = web.AppRunner(app, access_log=None)
        await self._web.setup()
        site = web.TCPSite(self._web, "127.0.0.1", port)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}/{self.secret}/"
        if self.opts.credential is not None:
            self._students_task = asyncio.create_task(self._load_students())
        if any(card.kit_id for card in self.kits.values()):
            self._run("Checking the kits", self._check())
        return self.url

    async def close(self) -> SessionSummary | None:
        """End a running session cleanly (everything recorded), stop any job, stop serving;
        the ended session's summary, if one was running."""
        summary = None
        if self._job is not None and not self._job.done():
            if self.session.state == "stopping":
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._job
            else:
                self._job.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._job
        if self.session.state == "running":
            summary = await self._finish()
        elif self.session.state == "ended" and self.ended.is_set():
            summary = None
        await self._close_links()
        if self._web is not None:
            await self._web.cleanup()
            self._web = None
        return summary

    @web.middleware
    async def _guard(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Only this computer's browser with the secret path: the Host must be this server
        (no DNS rebinding), a POST must come from this page."""
        host = request.headers.get("Host", "")
        ok_hosts = {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}
        prefix = f"/{self.secret}"
        path = request.path
        if host not in ok_hosts or not hmac.compare_digest(
            path[: len(prefix)].encode(), prefix.encode()
        ):
            return web.Response(status=404, text="Not found", headers=SECURITY_HEADERS)
        if request.method == "POST":
            origin = request.headers.get("Origin")
            if origin is not None and origin != f"http://{host}":
                return web.Response(status=403, text="Forbidden", headers=SECURITY_HEADERS)
            if request.content_type != "application/json":
                return web.Response(status=415, text="JSON only", headers=SECURITY_HEADERS)
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers.update(SECURITY_HEADERS)
            raise
        response.headers.update(SECURITY_HEADERS)
        return response

    async def _to_slash(self, _request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(f"/{self.secret}/")

    async def _index(self, _request: web.Request) -> web.StreamResponse:
        self._refresh_students(force=True)
        return web.Response(
            body=(STATIC_DIR / "index.html").read_bytes(), content_type="text/html", charset="utf-8"
        )

    async def _static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in STATIC_FILES:
            raise web.HTTPNotFound()
        return web.Response(
            body=(STATIC_DIR / name).read_bytes(),
            content_type=STATIC_FILES[name],
            charset="utf-8" if not name.endswith(".svg") else None,
        )

    async def _get_state(self, _request: web.Request) -> web.StreamResponse:
        self._refresh_students()
        return web.json_response(self.state())

    def _refresh_students(self, force: bool = False) -> None:
        """Ask the server again for the caseload and the plans (the page opened, or
        :data:`STUDENTS_EVERY_S` passed) while no session is starting or running."""
        if self.opts.credential is None or self.session.state not in ("idle", "blocked"):
            return
        if self._students_task is not None and not self._students_task.done():
            return
        if force or time.monotonic() - self._students_at > STUDENTS_EVERY_S:
            self._students_task = asyncio.create_task(self._load_students())

    async def _body(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="a JSON object is expected")
        return body

    def _answer(self, problem: str | None = None, status: int = 200) -> web.Response:
        body: dict[str, Any] = {"state": self.state()}
        if problem is not None:
            body["problem"] = problem
        return web.json_response(body, status=status)

    # -- the page's actions -----------------------------------------------------------------

    async def _post_pair(self, request: web.Request) -> web.StreamResponse:
        kind = str((await self._body(request)).get("kind", ""))
        if kind not in DEVICE_KINDS:
            raise web.HTTPBadRequest(text="kind is stylus or grip")
        if self.session.state in ("starting", "running", "stopping"):
            return self._answer("Stop the session before pairing a kit.", 409)
        try:
            self._run(f"Pairing the {kit_noun(kind)}", self._pair(kind))
        except BusyError as exc:
            return self._answer(str(exc), 409)
        return self._answer()

    async def _post_press(self, request: web.Request) -> web.StreamResponse:
        await self._body(request)
        pairing = self.pairing
        if pairing is None or pairing.step != "press":
            return self._answer("There is no button to press now.", 409)
        if not self.radio.press_kind(pairing.kind):
            return self._answer(
                f"There is no simulated {kit_noun(pairing.kind)} to press: it is switched off.",
                409,
            )
        return self._answer()

    async def _post_answer(self, request: web.Request) -> web.StreamResponse:
        yes = bool((await self._body(request)).get("yes"))
        pairing = self.pairing
        if pairing is None or pairing.answer is None or pairing.answer.done():
            return self._answer("There is no question to answer now.", 409)
        pairing.answer.set_result(yes)
        return self._answer()

    async def _post_pair_close(self, request: web.Request) -> web.StreamResponse:
        await self._body(request)
        pairing = self.pairing
        if pairing is not None and pairing.step not in ("done", "problem") and self._job:
            self._job.cancel()
        self.pairing = None
        return self._answer()

    async def _post_check(self, request: web.Request) -> web.StreamResponse:
        await self._body(request)
        if self.session.state in ("starting", "running", "stopping"):
            return self._answer("The kits are in use by the session.", 409)
        try:
            self._run("Checking the kits", self._check())
        except BusyError as exc:
            return self._answer(str(exc), 409)
        return self._answer()

    async def _post_start(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        student = str(body.get("student", "")).strip()
        tasks = [clean_mark_text(str(t), TASK_CHARS) for t in body.get("tasks", [])]
        tasks = [t for t in tasks if t][:PLAN_TASKS]
        anyway = bool(body.get("anyway"))
        problem = self.student_problem(student)
        if problem is None:
            missing = [kit_noun(k) for k, c in self.kits.items() if c.kit_id is None]
            if missing:
                problem = f"Pair the {' and the '.join(missing)} first."
            elif self.session.state in ("starting", "running", "stopping"):
                problem = "A session is already running."
        if problem is not None:
            return self._answer(problem, 400)
        try:
            self._run("Starting the session", self._start(student, tasks, anyway))
        except BusyError as exc:
            return self._answer(str(exc), 409)
        return self._answer()

    async def _post_next(self, request: web.Request) -> web.StreamResponse:
        await self._body(request)
        if self.session.state != "running" or self.runner is None:
            return self._answer("There is no session running.", 409)
        self.next_task()
        return self._answer()

    async def _post_stop(self, request: web.Request) -> web.StreamResponse:
        await self._body(request)
        if self.session.state != "running":
            return self._answer("There is no session running.", 409)
        self.session.state = "stopping"
        self.session.message = "Saving everything…"
        self._busy = None
        self._job = asyncio.create_task(self._stop())
        return self._answer()

    async def _post_new(self, request: web.Request) -> web.StreamResponse:
        await self._body(request)
        if self.session.state in ("ended", "blocked", "idle"):
            self.session = SessionView()
            if self.opts.credential is not None:
                self._students_task = asyncio.create_task(self._load_students())
        return self._answer()

    # -- jobs -------------------------------------------------------------------------------

    def _run(self, what: str, job: Awaitable[None]) -> None:
        """Run one radio job at a time.

        Raises:
            BusyError: another job is under way (its name in the message).
        """
        if self._job is not None and not self._job.done():
            close = getattr(job, "close", None)
            if close is not None:
                close()  # never awaited
            raise BusyError(f"Please wait: {(self._busy or 'the computer is busy').lower()}…")
        self._busy = what

        async def guarded() -> None:
            try:
                await job
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a defect: a sentence on the page, details in the log
                logger.exception("desk app: %s", what)
                self.session.problems = [problem_message(exc, "", None)]
            finally:
                self._busy = None

        self._job = asyncio.create_task(guarded())

    def _read_desk(self) -> None:
        self.desk = Desk(self.opts.desk)
        for kind, card in self.kits.items():
            kit = self.desk.kit_for(kind)
            if kit is None:
                card.kit_id, card.state = None, "unpaired"
            elif card.kit_id != kit.kit_id:
                card.kit_id, card.state = kit.kit_id, "paired"

    async def _check(self, kinds: Sequence[str] = DEVICE_KINDS) -> None:
        """Connect each paired kit for a moment: battery, calibration, and any problem."""
        wanted = [(c.kit_id, c.kind) for c in self.kits.values() if c.kind in kinds and c.kit_id]
        for _kit_id, kind in wanted:
            card = self.kits[kind]
            card.state, card.problems = "checking", []
            card.message = f"Looking for the {kit_noun(kind)}…"

        def say(msg: str) -> None:
            logger.info("check: %s", msg)
            for card in self.kits.values():
                if card.kit_id and card.kit_id in msg:
                    card.message = _in_page_words(msg)

        try:
            results = await reach_kits(
                [(k, kind) for k, kind in wanted],
                self.radio,
                lambda _k: None,
                say,
                self.opts.timeout,
                self.desk.known(),
            )
        except TransportError as exc:  # the computer's Bluetooth
            for kit_id, kind in wanted:
                card = self.kits[kind]
                card.state, card.message = "problem", None
                card.problems = [problem_message(exc, kind, kit_id)]
            return
        for kit_id, kind in wanted:
            card = self.kits[kind]
            result = results[kit_id]
            card.message = None
            if isinstance(result, Exception):
                card.state = "problem"
                card.problems = [problem_message(result, kind, kit_id)]
                continue
            try:
                self._describe(card, result, kit_id)
            finally:
                with contextlib.suppress(FinemotorError):
                    await result.close()

    def _describe(self, card: KitCard, link: KitLink, kit_id: str) -> list[Flag]:
        """Fill in a card from an open link; the link's preflight flags."""
        status, cal = link.status, link.calibration
        card.battery = status.battery_percent if status is not None else None
        card.calibrated_on = (
            time.strftime("%d %B %Y", time.localtime(cal.calibrated_at))
            if cal is not None and cal.calibrated
            else None
        )
        flags = check_kit(card.kind, kit_id, status, cal)
        card.problems = [flag_message(f, kit_noun(card.kind)) for f in flags if f.blocks]
        card.state = "problem" if card.problems else "ready"
        return flags

    async def _pair(self, kind: str) -> None:
        pairing = Pairing(kind)
        self.pairing = pairing
        noun = kit_noun(kind)

        def found(kit_id: str) -> None:
            pairing.kit_id = kit_id
            pairing.step = "connecting"

        async def confirm(_question: str) -> bool:
            pairing.answer = asyncio.get_running_loop().create_future()
            pairing.step = "confirm"
            try:
                return await asyncio.wait_for(pairing.answer, ANSWER_WAIT_S)
            except TimeoutError:
                pairing.message = "Nobody answered, so nothing was kept."
                return False

        try:
            kit = await pair_at_desk(
                kind,
                self.desk,
                lambda msg: logger.info("pairing: %s", msg),
                confirm,
                self.radio.scanner_backend,
                self.radio.client_backend,
                None,
                self.opts.button_timeout,
                found,
            )
        except TransportError as exc:
            pairing.message = self._pairing_problem(exc, pairing)
            pairing.step = "problem"
            return
        self._read_desk()
        card = self.kits[kind]
        card.kit_id, card.state = kit.kit_id, "paired"
        pairing.kit_id = kit.kit_id
        pairing.message = f"Checking the {noun}'s battery…"
        pairing.step = "checking"
        await self._check([kind])
        pairing.step = "done"
        pairing.message = None

    def _pairing_problem(self, exc: TransportError, pairing: Pairing) -> str:
        noun = kit_noun(pairing.kind)
        text = str(exc)
        if pairing.answer is not None and pairing.answer.done() and not pairing.answer.result():
            return (
                f"Nothing was kept: the {noun} that answered was not the one on your desk. "
                "Make sure only your kit's light is blinking, then try again."
            )
        if pairing.step == "press" and "pairing window" in text and "at once" not in text:
            return (
                f"We did not see the button pressed on a {noun}. Check that the {noun} is "
                "switched on (its light glows) and next to this computer. If its light stays "
                "off, it is flat: plug it into its charger. Then try again."
            )
        if "at once" in text:
            return (
                f"More than one {noun} is waiting to pair, so we cannot tell which one is "
                f"yours. Wait one minute until the other lights stop blinking, then press only "
                f"your {noun}'s button and try again."
            )
        return problem_message(exc, pairing.kind, pairing.kit_id)

    async def _start(self, student: str, tasks: list[str], anyway: bool) -> None:
        t0 = time.monotonic()
        self.session = SessionView(
            state="starting",
            student=student,
            tasks=tasks,
            message="Connecting to the kits…",
        )
        runner = SessionRunner(
            SessionOptions(
                student=student,
                db=self.opts.db,
                relay_url=self.opts.relay_url,
                view=self.opts.view,
                desk=self.opts.credential,
            )
        )
        wanted = [(c.kit_id, c.kind) for c in self.kits.values() if c.kit_id]

        def say(msg: str) -> None:
            logger.info("start: %s", msg)
            if not msg.startswith("("):
                self.session.message = _in_page_words(msg)

        try:
            results = await reach_kits(
                [(k, kind) for k, kind in wanted],
                self.radio,
                runner.consumer,
                say,
                self.opts.timeout,
                self.desk.known(),
            )
        except TransportError as exc:
            self.session.state = "idle"
            self.session.problems = [problem_message(exc, "", None)]
            return
        self.links = {k: r for k, r in results.items() if isinstance(r, KitLink)}
        problems: list[str] = []
        flags: list[Flag] = []
        for kit_id, kind in wanted:
            card = self.kits[kind]
            result = results[kit_id]
            if isinstance(result, Exception):
                card.state = "problem"
                card.problems = [problem_message(result, kind, kit_id)]
                problems += card.problems
            else:
                flags += self._describe(card, result, kit_id)
        if problems:
            await self._close_links()
            self.session.state, self.session.problems = "idle", problems
            self.session.message = "The session did not start. Nothing was recorded."
            return
        blocking = [f for f in flags if f.blocks]
        if blocking and not anyway:
            await self._close_links()
            self.session.state = "blocked"
            self.session.problems = [flag_message(f, kit_noun(f.device)) for f in blocking]
            self.session.message = "The session did not start. Nothing was recorded."
            return
        runner.opts.accepted_flags = flags
        try:
            await runner.start(dict(self.links))
        except (RecordingError, FinemotorError) as exc:
            await runner.aclose()
            await self._close_links()
            self.session.state = "idle"
            self.session.problems = [f"The session could not start: {exc}"]
            return
        self.runner = runner
        self.session.state = "running"
        self.session.message = None
        if tasks:
            self._mark_task(0)
        self._ticker = asyncio.create_task(self._tick())
        self._watch = asyncio.create_task(self._watch_start(runner, t0))

    async def _watch_start(self, runner: SessionRunner, t0: float) -> None:
        """How long from Start until samples came from every kit (``session.start_s``)."""
        while self.session.state == "running":
            devices = runner.status().devices
            if devices and all(d.samples > 0 for d in devices):
                self.session.start_s = round(time.monotonic() - t0, 2)
                logger.info("desk app: all streaming %.2f s after Start", self.session.start_s)
                return
            await asyncio.sleep(0.02)

    def _mark_task(self, index: int) -> None:
        assert self.runner is not None
        tasks = self.session.tasks
        text = f"Task {index + 1}: {tasks[index]}" if index < len(tasks) else "All tasks done"
        self.runner.mark({"id": f"{DESK_MARK_PREFIX}{index + 1}", "text": text, "at": _now_ms()})
        self.session.current = index

    def next_task(self) -> None:
        """Mark the next task as begun (or all of them done)."""
        if self.session.current < len(self.session.tasks):
            self._mark_task(self.session.current + 1)

    async def _tick(self) -> None:
        while self.runner is not None and self.session.state == "running":
            self._update_flow()
            await asyncio.sleep(1.0)

    def _update_flow(self) -> None:
        assert self.runner is not None
        st = self.runner.tick()
        now = time.monotonic()
        for d in st.devices:
            if d.samples > self.session.last_samples.get(d.name, 0):
                self.session.flowing_at[d.name] = now
            self.session.last_samples[d.name] = d.samples

    async def _stop(self) -> None:
        try:
            await self._finish()
        except Exception as exc:
            logger.exception("desk app: stopping")
            self.session.problems = [problem_message(exc, "", None)]
            self.session.state = "ended"

    async def _finish(self) -> SessionSummary:
        runner = self.runner
        assert runner is not None
        self.session.state = "stopping"
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        try:
            summary = await runner.finish()
        finally:
            await self._close_links()
            self.runner = None
        self.session.summary = summary
        self.session.state = "ended"
        self.session.message = None
        self.ended.set()
        return summary

    async def _close_links(self) -> None:
        links, self.links = self.links, {}
        for link in links.values():
            with contextlib.suppress(FinemotorError):
                await link.close()

    async def _load_students(self) -> None:
        cred = self.opts.credential
        assert cred is not None
        self._students_at = time.monotonic()
        try:
            async with (
                aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
                ) as http,
                http.get(f"{cred.server}/api/desk", headers=cred.headers()) as resp,
            ):
                body = await resp.json(content_type=None) if resp.status == 200 else None
                if not isinstance(body, dict) or not isinstance(body.get("students"), list):
                    raise ValueError(f"answer {resp.status}")
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            if not self._students_failing:  # once, not at every refresh
                logger.warning("desk app: the caseload list: %s", exc)
            self._students_failing = True
            if self.students is not None:  # the list already shown stays
                return
            self.students = None
            self.students_problem = (
                "The school's server cannot give the list of students right now. Type the "
                "student's code instead."
            )
            return
        self._students_failing = False
        self.students = [str(s) for s in body["students"]]
        plans = body.get("plans")
        self.plans = {
            str(code): [str(t) for t in tasks][:PLAN_TASKS]
            for code, tasks in (plans.items() if isinstance(plans, dict) else ())
            if isinstance(tasks, list)
        }
        self.students_problem = None

    # -- what the page shows ----------------------------------------------------------------

    def student_problem(self, student: str) -> str | None:
        """Why ``student`` cannot be this session's student, in the page's words."""
        if not student:
            return "Choose the student first." if self.students else "Type the student's code."
        if student_id_problem(student) is not None:
            return (
                "That is not a student code. Use the code the therapist gave you, like S-014: "
                "letters and numbers (and - _ .), no spaces, never the student's name."
            )
        if self.students is not None and student not in self.students:
            return "That student is not on this school's list. Choose a student from the list."
        return None

    def state(self) -> dict[str, Any]:
        """Everything the page shows, as JSON."""
        return {
            "sim": self.radio.simulated,
            "busy": self._busy,
            "kits": [self._kit_json(c) for c in self.kits.values()],
            "pairing": self._pairing_json(),
            "students": {
                "list": self.students,
                "plans": self.plans,
                "problem": self.students_problem,
                "school": self.opts.credential.school if self.opts.credential else None,
            },
            "tasks": list(self.opts.tasks),
            "session": self._session_json(),
        }

    def _kit_json(self, c: KitCard) -> dict[str, Any]:
        return {
            "kind": c.kind,
            "noun": kit_noun(c.kind),
            "kit_id": c.kit_id,
            "state": c.state,
            "battery": c.battery,
            "calibrated_on": c.calibrated_on,
            "message": c.message,
            "problems": c.problems,
        }

    def _pairing_json(self) -> dict[str, Any] | None:
        p = self.pairing
        if p is None:
            return None
        card = self.kits[p.kind]
        return {
            "kind": p.kind,
            "noun": kit_noun(p.kind),
            "step": p.step,
            "kit_id": p.kit_id,
            "message": p.message,
            "battery": card.battery,
            "calibrated_on": card.calibrated_on,
            "problems": card.problems if p.step == "done" else [],
        }

    def _session_json(self) -> dict[str, Any]:
        s = self.session
        out: dict[str, Any] = {
            "state": s.state,
            "student": s.student,
            "tasks": s.tasks,
            "current": s.current,
            "message": s.message,
            "problems": s.problems,
            "start_s": s.start_s,
            "devices": [],
            "summary": None,
        }
        runner = self.runner
        if runner is not None and s.state in ("running", "stopping"):
            st = runner.status()
            now = time.monotonic()
            out.update(
                elapsed_s=round(st.elapsed_s, 1),
                saved_ago_s=st.saved_ago_s,
                recording_problem=st.recording_problem,
                marks=st.marks,
                view_on=runner.view_url is not None and st.view_problem is None,
                view_problem=st.view_problem,
                watching=st.watching,
                view_url=runner.view_url if self.opts.credential is None else None,
                server=self.opts.credential is not None,
                view_here_only=self.opts.relay_url is None and self.opts.credential is None,
                session_id=runner.recorder.session_id if runner.recorder else None,
                devices=[
                    {
                        "kind": d.name,
                        "noun": kit_noun(d.name),
                        "connected": d.connected,
                        "flowing": now - s.flowing_at.get(d.name, -1e9) < FLOWING_S,
                        "battery": d.battery_percent,
                        "samples": d.samples,
                        "lost": d.lost,
                    }
                    for d in st.devices
                ],
            )
        if s.summary is not None:
            out["summary"] = to_jsonable(s.summary)
        return out


def _in_page_words(msg: str) -> str:
    """A connecting message as the page says it (the stylus is the pen)."""
    return msg.replace("stylus", "pen").replace("Stylus", "Pen")


def _now_ms() -> int:
    return int(time.time() * 1000)
