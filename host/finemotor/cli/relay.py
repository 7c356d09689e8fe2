"""``finemotor relay``: a standalone relay for the therapist view."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import ssl
from typing import TYPE_CHECKING, Any

from finemotor.cli import command_help
from finemotor.errors import FinemotorError

if TYPE_CHECKING:
    from finemotor.relay import Relay
    from finemotor.relay.limits import RelayLimits


def register(sub: Any) -> None:
    """Add the ``relay`` sub-command."""
    p: argparse.ArgumentParser = sub.add_parser(
        "relay",
        help=command_help("relay"),
        description=(
            "Runs the relay: a student's host publishes its session here (finemotor demo "
            "--relay URL), therapists open the viewer link it prints. Serve it with TLS "
            "(or behind a TLS proxy) anywhere but on localhost."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=8765, help="TCP port (default 8765)")
    p.add_argument("--tls-cert", default=None, help="PEM certificate chain (serve HTTPS)")
    p.add_argument("--tls-key", default=None, help="PEM private key for --tls-cert")
    tier_args(p)
    p.set_defaults(func=run)


REDIS_ENV = "FINEMOTOR_REDIS"


def serve_forever(main: Any) -> None:
    """Run a service's coroutine on uvloop where it is installed (Linux, macOS: a faster event
    loop for many sockets), on asyncio's own loop otherwise."""
    try:
        import uvloop
    except ImportError:  # Windows, or not installed
        asyncio.run(main)
        return
    uvloop.run(main)


def tier_args(p: argparse.ArgumentParser) -> None:
    """The options of a relay among several processes, and of its capacity."""
    p.add_argument(
        "--redis",
        default=None,
        metavar="URL",
        help="redis://HOST:PORT/DB shared by several processes behind a load balancer "
        f"(or set {REDIS_ENV}; default: this process works alone)",
    )
    p.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="a load balancer's address whose X-Forwarded-For names the client (repeatable)",
    )
    p.add_argument(
        "--max-sessions",
        type=int,
        default=None,
        help="live sessions this process holds at once (default 200)",
    )
    p.add_argument(
        "--registrations-per-min",
        type=float,
        default=None,
        help="new live sessions one address may start per minute (default 60; behind a load "
        "balancer that does not pass the desks' addresses, raise it)",
    )
    p.add_argument(
        "--address-rate",
        type=float,
        default=None,
        help="messages per second from one address, all its sessions together (default 8000)",
    )


def tier_options(args: argparse.Namespace) -> tuple[str | None, RelayLimits]:
    """``(redis URL or None, limits)`` from :func:`tier_args`'s options."""
    from finemotor.relay.limits import RelayLimits

    base = RelayLimits()
    changes: dict[str, float | int] = {}
    if args.max_sessions is not None:
        changes["max_sessions"] = max(1, args.max_sessions)
    if args.registrations_per_min is not None:
        changes["registrations_per_min"] = max(0.1, args.registrations_per_min)
        changes["registration_burst"] = max(1.0, args.registrations_per_min)
    if args.address_rate is not None:
        changes["address_rate"] = max(1.0, args.address_rate)
        changes["address_burst"] = max(2.0, 2 * args.address_rate)
    limits = dataclasses.replace(base, **changes)  # type: ignore[arg-type]
    return args.redis or os.environ.get(REDIS_ENV) or None, limits


def _ssl(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise FinemotorError("give both --tls-cert and --tls-key, or neither")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise FinemotorError(
            f"cannot load the TLS certificate or key ({exc}): check both PEM files"
        ) from exc
    return ctx


async def _serve(relay: Relay) -> None:
    url = await relay.start()
    print(f"relay listening on {url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await relay.stop()


def run(args: argparse.Namespace) -> int:
    """Run the relay until interrupted."""
    from finemotor.relay import Relay

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    redis_url, limits = tier_options(args)
    bus = None
    if redis_url:
        from finemotor.relay.bus import RedisBus

        bus = RedisBus(redis_url)
    relay = Relay(
        args.host,
        args.port,
        _ssl(args.tls_cert, args.tls_key),
        limits,
        bus=bus,
        trusted_proxies=frozenset(args.trusted_proxy),
    )
    serve_forever(_serve(relay))
    return 0
