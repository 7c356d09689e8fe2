"""The desk's enrolment: the server it belongs to and its credential, kept in its data folder.

``finemotor enrol --server URL --code CODE`` exchanges a single-use code for a credential (256
random bits; the server keeps only a digest) and writes ``server.json`` beside the recordings
(``$FINEMOTOR_DATA`` or the user's data directory), readable by its owner only. Sessions then
publish to that server and upload to it (:mod:`finemotor.sync.uploader`).
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from finemotor.errors import InputFileError, SyncError
from finemotor.recording import default_db_path

CREDENTIAL_FILE = "server.json"
REQUEST_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class DeskCredential:
    """This desk's enrolment.

    Attributes:
        server: the server's origin (``https://host[:port]``).
        desk_id: the desk's number on the server.
        school: the school it is enrolled at.
        credential: the secret it proves itself with (never printed or logged).
        enrolled_at: unix seconds.
    """

    server: str
    desk_id: int
    school: str
    credential: str
    enrolled_at: float

    def headers(self) -> dict[str, str]:
        """``Authorization`` for the desks' API."""
        return {"Authorization": f"Bearer {self.credential}"}


def credential_path(data_dir: Path | None = None) -> Path:
    """``server.json`` in ``data_dir``, or beside the default recording database."""
    return (data_dir or default_db_path().parent) / CREDENTIAL_FILE


def load_credential(path: Path | None = None) -> DeskCredential | None:
    """This desk's enrolment, or None if it is not enrolled.

    Raises:
        InputFileError: the file exists but cannot be read as an enrolment.
    """
    path = path or credential_path()
    try:
        raw = json.loads(path.read_text())
        return DeskCredential(
            str(raw["server"]),
            int(raw["desk_id"]),
            str(raw["school"]),
            str(raw["credential"]),
            float(raw["enrolled_at"]),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputFileError(
            str(path), f"this desk's enrolment cannot be read ({exc}): enrol the desk again"
        ) from exc


def save_credential(cred: DeskCredential, path: Path | None = None) -> Path:
    """Write the enrolment (owner-only permissions); its path."""
    path = path or credential_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(cred), f)
    os.replace(tmp, path)
    return path


def server_origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``.

    Raises:
        SyncError: not an http(s) URL.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SyncError("refused", "the server's address starts with https:// (or http://)")
    return f"{parts.scheme}://{parts.netloc}"


def unreachable(exc: BaseException) -> SyncError:
    """The error for a server that cannot be reached (what to check, no URL)."""
    return SyncError(
        "unreachable",
        f"the server cannot be reached ({type(exc).__name__}): check this computer's network; "
        "what is recorded stays here and is uploaded later",
    )


async def enrol(server: str, code: str, name: str | None = None) -> DeskCredential:
    """Exchange an enrolment code for this desk's credential (not yet saved).

    Raises:
        SyncError: the server cannot be reached, or refused the code (it says why).
    """
    origin = server_origin(server)
    body = {"code": code, "name": name or socket.gethostname()[:120] or "desk"}
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.post(f"{origin}/api/enrol", json=body) as resp,
        ):
            answer = await _json(resp)
            if resp.status != 201:
                raise SyncError(
                    "refused", str(answer.get("error", "the server refused")), resp.status
                )
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise unreachable(exc) from exc
    try:
        return DeskCredential(
            origin,
            int(str(answer["desk_id"])),
            str(answer["school"]),
            str(answer["credential"]),
            time.time(),
        )
    except (KeyError, ValueError) as exc:
        raise SyncError("refused", "the server's answer to the enrolment is incomplete") from exc


async def _json(resp: aiohttp.ClientResponse) -> dict[str, object]:
    try:
        data = await resp.json(content_type=None)
    except (ValueError, aiohttp.ContentTypeError):
        return {"error": f"the server answered {resp.status} with something that is not JSON"}
    return data if isinstance(data, dict) else {"value": data}
