"""``finemotor relay``: a standalone relay for the therapist view."""

from __future__ import annotations

import argparse
import asyncio
import logging
import ssl
from typing import TYPE_CHECKING, Any

from finemotor.cli import command_help
from finemotor.errors import FinemotorError

if TYPE_CHECKING:
    from finemotor.relay import Relay


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
    p.set_defaults(func=run)


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
    relay = Relay(args.host, args.port, _ssl(args.tls_cert, args.tls_key))
    asyncio.run(_serve(relay))
    return 0
