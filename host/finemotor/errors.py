"""One exception family for the whole library.

Every error names what went wrong with the facts attached, and its message says what the
person in front of the kit should do next.
"""

from __future__ import annotations


class FinemotorError(Exception):
    """Root of every error the finemotor library raises."""


class ProtocolError(FinemotorError):
    """A frame or command from a kit does not follow the wire protocol.

    Attributes:
        reason: a short machine-readable tag (``"truncated"``, ``"bad_version"``...).
        data: the offending bytes (possibly cut to the first 64).
    """

    def __init__(self, reason: str, detail: str, data: bytes = b"") -> None:
        super().__init__(f"{detail} (malformed frame: {reason})")
        self.reason = reason
        self.detail = detail
        self.data = bytes(data[:64])


class CalibrationError(FinemotorError):
    """A calibration cannot be applied, fitted or trusted."""


class InputFileError(FinemotorError):
    """A file given by the user cannot be read as what was asked.

    Attributes:
        path: the file.
        line: the 1-based line number where the problem is, when known.
    """

    def __init__(self, path: str, message: str, line: int | None = None) -> None:
        where = f"{path}, line {line}" if line is not None else path
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line


class TransportError(FinemotorError):
    """A link to a kit cannot be opened, used or kept open.

    Attributes:
        address: the kit's address on its transport (Bluetooth address, port...), when known.
    """

    def __init__(self, message: str, address: str | None = None) -> None:
        super().__init__(message)
        self.address = address


class BluetoothUnavailableError(TransportError):
    """This computer's Bluetooth cannot be used: no adapter, switched off, no Bluetooth service,
    no D-Bus, or not permitted. Nothing is wrong with the kit.

    Attributes:
        reason: ``"no_adapter"``, ``"powered_off"``, ``"no_bluez"``, ``"no_dbus"``,
            ``"denied"`` or ``"unknown"``.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class PairingRefusedError(TransportError):
    """A kit refused to pair (or no longer knows this computer): its pairing window is shut.

    The fix is always the same: press the kit's button (its light blinks for a minute while
    the window is open), then connect again.
    """


class KitCommandError(FinemotorError):
    """A kit answered a control point command with an error.

    Attributes:
        op: the command (e.g. ``"SET_RATE"``).
        result: the kit's result code name (e.g. ``"BAD_STATE"``).
        payload: what came with it (for a refused calibration: the reason, in ASCII).
    """

    def __init__(self, op: str, result: str, advice: str, payload: bytes = b"") -> None:
        detail = payload.decode(errors="replace") if payload and payload.isascii() else ""
        extra = f" ({detail})" if detail else ""
        super().__init__(f"the kit refused {op}: {result}{extra}; {advice}")
        self.op = op
        self.result = result
        self.payload = payload


class RecordingError(FinemotorError):
    """The session recording (the SQLite database) cannot be opened, read or written.

    Attributes:
        path: the database file.
        reason: a short machine-readable tag (``"locked"``, ``"corrupt"``, ``"full"``,
            ``"unknown_session"``, ``"missing"``...).
    """

    def __init__(self, path: str, reason: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.reason = reason


class StoreError(FinemotorError):
    """The server's database (SQLite or PostgreSQL) cannot be reached, migrated or written.

    Attributes:
        where: the database, without any password (a folder, or ``postgresql://host/db``).
        reason: ``"unreachable"``, ``"too_new"``, ``"failed"``.
    """

    def __init__(self, where: str, reason: str, message: str) -> None:
        super().__init__(f"the server's database ({where}): {message}")
        self.where = where
        self.reason = reason


class NotFoundError(FinemotorError):
    """Something asked for by name is not on the server (a school, an account, a desk...).

    Attributes:
        what: ``"school"``, ``"user"``, ``"student"``, ``"desk"``, ``"session"``...
        key: the name or id asked for.
    """

    def __init__(
        self, what: str, key: str, advice: str = "", where: str = "on this server"
    ) -> None:
        more = f": {advice}" if advice else ""
        super().__init__(f"no {what} {key!r} {where}{more}")
        self.what = what
        self.key = key


class RefusedError(FinemotorError):
    """The server refused a request: bad input, a rule of the caseload, or a conflict.

    Attributes:
        status: the HTTP status the API answers with (400, 403, 409, 429).
        reason: a short machine-readable tag (``"not_on_caseload"``, ``"bad_chunk"``...).
    """

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class SyncError(FinemotorError):
    """The desk cannot enrol with, or upload to, its server; what is recorded stays on the desk.

    Attributes:
        reason: ``"unreachable"``, ``"not_enrolled"``, ``"revoked"``, ``"refused"``,
            ``"mismatch"``, ``"busy"``.
        status: the server's HTTP status, when it answered.
        retry_after_s: how long the server asked the desk to wait, when it said.
    """

    def __init__(
        self,
        reason: str,
        message: str,
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status
        self.retry_after_s = retry_after_s
