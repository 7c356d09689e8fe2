"""``finemotor server``: run the server, and every admin action as a command (docs/server.md).

Each command works on ``--data DIR`` (SQLite in that folder) or ``--database URL``
(PostgreSQL; or the ``FINEMOTOR_DATABASE`` environment variable, which keeps a password out of
the process list). Passwords are read from standard input, never from an argument.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from finemotor.cli import command_help
from finemotor.cli.relay import tier_args
from finemotor.errors import FinemotorError

DATABASE_ENV = "FINEMOTOR_DATABASE"


def _db_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, default=None, help="folder of the SQLite database")
    p.add_argument(
        "--database",
        default=None,
        metavar="URL",
        help=f"postgresql://USER@HOST/DB (or set {DATABASE_ENV})",
    )


def register(sub: Any) -> None:
    """Add the ``server`` sub-command and its own sub-commands."""
    p: argparse.ArgumentParser = sub.add_parser(
        "server",
        help=command_help("server"),
        description=(
            "The finemotor server: the relay of live sessions and the store of recorded ones, "
            "with therapists' accounts and enrolled desks. Every admin action is a command."
        ),
    )
    ss = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    run = ss.add_parser("run", help="run the server")
    _db_args(run)
    run.add_argument("--host", default="127.0.0.1", help="address to listen on")
    run.add_argument("--port", type=int, default=8765, help="TCP port (default 8765)")
    run.add_argument("--tls-cert", default=None, help="PEM certificate chain (serve HTTPS)")
    run.add_argument("--tls-key", default=None, help="PEM private key for --tls-cert")
    run.add_argument(
        "--secure-cookies",
        action="store_true",
        help="mark sign-in cookies Secure (when a TLS proxy is in front)",
    )
    tier_args(run)
    run.add_argument(
        "--retention-days",
        type=float,
        default=None,
        help="delete sessions older than this many days (default: keep them)",
    )
    run.set_defaults(func=_run)

    user = ss.add_parser("user", help="accounts").add_subparsers(dest="what", required=True)
    ua = user.add_parser("add", help="add an account (password from standard input)")
    ua.add_argument("email")
    ua.add_argument("--role", choices=("therapist", "admin"), required=True)
    _db_args(ua)
    ua.set_defaults(func=_user_add)
    ul = user.add_parser("list", help="list the accounts, with each therapist's caseload")
    _db_args(ul)
    ul.set_defaults(func=_user_list)
    up = user.add_parser("password", help="set an account's password (from standard input)")
    up.add_argument("email")
    _db_args(up)
    up.set_defaults(func=_user_password)

    school = ss.add_parser("school", help="schools").add_subparsers(dest="what", required=True)
    sa = school.add_parser("add", help="add a school")
    sa.add_argument("name")
    _db_args(sa)
    sa.set_defaults(func=_school_add)
    sl = school.add_parser("list", help="list the schools")
    _db_args(sl)
    sl.set_defaults(func=_school_list)

    case = ss.add_parser("caseload", help="therapists' caseloads").add_subparsers(
        dest="what", required=True
    )
    ca = case.add_parser("add", help="put a student (at a school) on a therapist's caseload")
    ca.add_argument("email")
    ca.add_argument("student", metavar="STUDENT_ID")
    ca.add_argument("--school", required=True)
    _db_args(ca)
    ca.set_defaults(func=_caseload_add)
    cr = case.add_parser("remove", help="take a student off a therapist's caseload")
    cr.add_argument("email")
    cr.add_argument("student", metavar="STUDENT_ID")
    _db_args(cr)
    cr.set_defaults(func=_caseload_remove)

    code = ss.add_parser("enrol-code", help="a single-use code to enrol a desk (24 h)")
    code.add_argument("--school", required=True)
    _db_args(code)
    code.set_defaults(func=_enrol_code)

    desk = ss.add_parser("desk", help="enrolled desks").add_subparsers(dest="what", required=True)
    dl = desk.add_parser("list", help="list the desks")
    _db_args(dl)
    dl.set_defaults(func=_desk_list)
    dr = desk.add_parser("revoke", help="cut a desk off at once")
    dr.add_argument("desk_id", type=int, metavar="DESK_ID")
    _db_args(dr)
    dr.set_defaults(func=_desk_revoke)

    student = ss.add_parser("student", help="a student's record").add_subparsers(
        dest="what", required=True
    )
    se = student.add_parser("export", help="everything about a student, as one zip archive")
    se.add_argument("student", metavar="STUDENT_ID")
    se.add_argument("--out", type=Path, required=True, help="the zip file to write")
    se.add_argument("--reason", required=True, help="why (written to the access log)")
    _db_args(se)
    se.set_defaults(func=_student_export)
    sd = student.add_parser("delete", help="delete everything about a student")
    sd.add_argument("student", metavar="STUDENT_ID")
    sd.add_argument("--reason", required=True, help="why (written to the access log)")
    sd.add_argument("--yes", action="store_true", help="do not ask first")
    _db_args(sd)
    sd.set_defaults(func=_student_delete)

    rt = ss.add_parser(
        "retention",
        help="how long sessions are kept (no option: show it)",
        description="Show or set how long the server keeps sessions: older ones are deleted "
        "every hour, by every server process (the setting is in the database and wins over "
        "finemotor server run --retention-days).",
    )
    keep = rt.add_mutually_exclusive_group()
    keep.add_argument(
        "--days", type=int, default=None, help="keep sessions this many days (30 to 36500)"
    )
    keep.add_argument("--keep-all", action="store_true", help="keep every session")
    _db_args(rt)
    rt.set_defaults(func=_retention)

    au = ss.add_parser("audit", help="the access log, newest first")
    au.add_argument("--student", default=None, metavar="STUDENT_ID")
    au.add_argument("--json", action="store_true", help="print JSON")
    _db_args(au)
    au.set_defaults(func=_audit)


def _url(args: argparse.Namespace) -> Any:
    from finemotor.server.database import database_url

    database = args.database or (os.environ.get(DATABASE_ENV) if args.data is None else None)
    return database_url(args.data, database)


def _with_store(args: argparse.Namespace, work: Callable[[Any], Awaitable[int]]) -> int:
    from finemotor.server.store import Store

    async def go() -> int:
        store = await Store.open(_url(args))
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(go())


def _read_password(confirm: bool) -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if confirm and getpass.getpass("Again: ") != first:
            raise FinemotorError("the two passwords differ: nothing was changed")
        return first
    line = sys.stdin.readline()
    if not line:
        raise FinemotorError("give the password on standard input (one line)")
    return line.rstrip("\r\n")


def _run(args: argparse.Namespace) -> int:
    from finemotor.cli.relay import _ssl, serve_forever, tier_options
    from finemotor.server.app import Server

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    redis_url, limits = tier_options(args)
    url = _url(args)
    if redis_url and url.get_backend_name() == "sqlite":
        print(
            "warning: several server processes should share PostgreSQL (--database), not one "
            "SQLite folder",
            file=sys.stderr,
        )
    server = Server(
        url,
        args.host,
        args.port,
        _ssl(args.tls_cert, args.tls_key),
        retention_days=args.retention_days,
        limits=limits,
        secure_cookies=args.secure_cookies,
        redis_url=redis_url,
        trusted_proxies=frozenset(args.trusted_proxy),
    )

    async def serve() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stopping.set)  # a service manager's stop
        url = await server.start()
        print(f"server listening on {url}", flush=True)
        try:
            await stopping.wait()
        finally:
            await server.stop()

    serve_forever(serve())
    return 0


def _user_add(args: argparse.Namespace) -> int:
    password = _read_password(confirm=True)

    async def work(store: Any) -> int:
        user = await store.add_user(args.email, args.role, password)
        await store.log("command line", "add_user", None, f"{user.email} ({user.role})")
        print(f"added {user.role} {user.email}")
        return 0

    return _with_store(args, work)


def _user_list(args: argparse.Namespace) -> int:
    async def work(store: Any) -> int:
        for a in await store.accounts():
            first = "  (one-time password, not yet changed)" if a.must_change else ""
            where = f"{a.students} student(s): {', '.join(a.schools) or '-'}"
            print(f"{a.email:<40} {a.role:<10} {where if a.role == 'therapist' else ''}{first}")
        return 0

    return _with_store(args, work)


def _user_password(args: argparse.Namespace) -> int:
    password = _read_password(confirm=True)

    async def work(store: Any) -> int:
        await store.set_password(args.email, password)
        await store.log("command line", "set_password", None, args.email)
        print(f"password set for {args.email}; its sign-ins have ended")
        return 0

    return _with_store(args, work)


def _school_add(args: argparse.Namespace) -> int:
    async def work(store: Any) -> int:
        await store.add_school(args.name)
        await store.log("command line", "add_school", None, args.name)
        print(f"added school {' '.join(args.name.split())}")
        return 0

    return _with_store(args, work)


def _school_list(args: argparse.Namespace) -> int:
    async def work(store: Any) -> int:
        for name in await store.schools():
            print(name)
        return 0

    return _with_store(args, work)


def _caseload_add(args: argparse.Namespace) -> int:
    async def work(store: Any) -> int:
        st = await store.add_to_caseload(args.email, args.student, args.school)
        await store.log("command line", "add_caseload", st.code, args.email)
        print(f"{st.code} (at {st.school}) is on {args.email.strip().lower()}'s caseload")
        return 0

    return _with_store(args, work)


def _caseload_remove(args: argparse.Namespace) -> int:
    async def work(store: Any) -> int:
        await store.remove_from_caseload(args.email, args.student)
        await store.log("command line", "remove_caseload", args.student, args.email)
        print(f"{args.student} is no longer on {args.email}'s caseload (the data stays)")
        return 0

    return _with_store(args, work)


def _enrol_code(args: argparse.Namespace) -> int:
    async def work(store: Any) -> int:
        code, expires = await store.new_enrol_code(args.school)
        await store.log("command line", "enrol_code", None, args.school)
        until = time.strftime("%Y-%m-%d %H:%M", time.localtime(expires))
        print(code)
        print(
            f"On the desk, run: finemotor enrol --server URL --code {code}  "
            f"(works once, until {until})",
            file=sys.stderr,
        )
        return 0

    return _with_store(args, work)


def _desk_list(args: argparse.Namespace) -> int:
    async def work(store: Any) -> int:
        for d in await store.desks():
            when = time.strftime("%Y-%m-%d", time.localtime(d.enrolled_at))
            state = "revoked" if d.revoked_at is not None else "active"
            print(f"{d.id:>4}  {d.name:<24} {d.school:<30} enrolled {when}  {state}")
        return 0

    return _with_store(args, work)


def _desk_revoke(args: argparse.Namespace) -> int:
    async def work(store: Any) -> int:
        d = await store.revoke_desk(args.desk_id)
        await store.log("command line", "revoke_desk", None, f"desk {d.id} ({d.name})")
        print(f"desk {d.id} ({d.name}, {d.school}) is revoked: it can no longer publish or upload")
        return 0

    return _with_store(args, work)


def _student_export(args: argparse.Namespace) -> int:
    from finemotor.server.export import student_archive
    from finemotor.server.records import Records

    async def work(store: Any) -> int:
        student = await store.student(args.student)
        data = await student_archive(store, Records(store), student)
        args.out.write_bytes(data)
        await store.log("command line", "export", student.code, str(args.out.name), args.reason)
        print(f"wrote {args.out} ({len(data)} bytes)")
        return 0

    return _with_store(args, work)


def _student_delete(args: argparse.Namespace) -> int:
    from finemotor.server.api import delete_student
    from finemotor.server.records import Records

    if not args.yes:
        if not sys.stdin.isatty():
            raise FinemotorError("deleting cannot be undone: add --yes to confirm")
        answer = input(
            f"Delete everything about student {args.student}? This cannot be undone. [y/n] "
        )
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return 1

    async def work(store: Any) -> int:
        student = await store.student(args.student)
        out = await delete_student(store, Records(store), student, "command line", args.reason)
        print(out["confirmation"])
        return 0

    return _with_store(args, work)


def _retention(args: argparse.Namespace) -> int:
    async def work(store: Any) -> int:
        if args.days is not None or args.keep_all:
            got = await store.set_retention(None if args.keep_all else args.days, "command line")
        else:
            got = await store.retention()
        if got is None:
            print(
                "no retention set here: sessions are kept unless the server runs with "
                "--retention-days"
            )
        elif got.days is None:
            print("every session is kept")
        else:
            print(f"sessions older than {got.days} days are deleted every hour")
        return 0

    return _with_store(args, work)


def _audit(args: argparse.Namespace) -> int:
    async def work(store: Any) -> int:
        entries = await store.audit(args.student)
        if args.json:
            print(json.dumps([e.__dict__ for e in entries]))
            return 0
        for e in entries:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.at))
            why = f"  ({e.reason})" if e.reason else ""
            print(f"{when}  {e.actor:<28} {e.action:<14} {e.student or '-':<14} {e.detail}{why}")
        return 0

    return _with_store(args, work)
