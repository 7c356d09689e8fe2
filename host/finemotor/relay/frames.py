"""What the relay accepts from a publisher and from a viewer: every frame checked before use.

The frame vocabulary is docs/therapist-view.md's table. A publisher frame is checked for its
kind, its device (one the publisher declared in its ``hello``; a data frame may carry several
devices' points, each checked the same way), its fields' types and its size; a frame that
fails is a :class:`BadFrameError` and closes the socket that sent it (1008).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from finemotor.marks import clean_mark_text
from finemotor.student import valid_student_id

HELLO, DATA, METRICS, STATUS, ACK = "hello", "d", "m", "s", "ack"
PUBLISHER_KINDS = frozenset({HELLO, DATA, METRICS, STATUS, ACK})
"""Frames a publisher may send (the relay passes them on to viewers as they are)."""
PUB, DROPS, END, MARKSENT, MARKERR = "pub", "drops", "end", "marksent", "markerr"
RELAY_KINDS = frozenset({PUB, DROPS, END, MARKSENT, MARKERR})
"""Frames the relay itself sends to viewers: the publisher up or down, frames a slow viewer
lost, the session's end, and the fate of a viewer's mark."""
MARK = "mark"
"""What a viewer sends (an event to mark), and what the relay then sends the publisher."""
WATCH = "watch"
"""What the relay sends the publisher when the number of viewers watching changes
(``{"k": "watch", "n": 2}``), so the desk can say whether the therapist is watching."""
TO_PUBLISHER_KINDS = frozenset({MARK, WATCH})
"""Frames the relay sends a publisher."""
VIEWER_KINDS = frozenset({PUB, DROPS, END, MARKSENT, MARKERR} | PUBLISHER_KINDS)
"""Every frame a viewer's page receives (a test checks the page handles exactly these)."""
CACHED_KINDS = frozenset({HELLO, METRICS, STATUS})
"""Frames the relay keeps (the latest per kind and device) for viewers who join later."""
MAX_BYTES = {HELLO: 1024, METRICS: 16 * 1024, STATUS: 2048, ACK: 4096}
"""Largest frame of each kind (data frames: the relay's ``max_msg_bytes``)."""
MAX_DEVICES = 4
"""Devices one publisher may declare."""
MAX_TRACES = 4
"""Traces in one data frame."""
MAX_POINTS = 4096
MAX_TILES = 32

_DEVICE = re.compile(r"[a-z][a-z0-9_-]{0,15}")
_TRACE = re.compile(r"[a-z][a-z0-9_]{0,15}")
_INSTANCE = re.compile(r"[A-Za-z0-9_-]{8,64}")


class BadFrameError(ValueError):
    """A frame the relay will not pass on; the message says what is wrong, in one line."""


@dataclass(frozen=True)
class PublisherFrame:
    """A checked publisher frame.

    Attributes:
        kind: one of :data:`PUBLISHER_KINDS`.
        dev: the device it is about (``""`` for ``hello``, ``ack`` and a data frame of several
            devices).
        devices: for ``hello``, the devices the publisher declares; for a data frame of
            several devices (``ds``), those devices in the frame's order.
        tiles: for a data frame carrying its device's tiles (``m``), those tiles as an ``m``
            frame of their own (what the relay keeps for viewers who join).
    """

    kind: str
    dev: str
    devices: tuple[str, ...] = ()
    tiles: str | None = None


def _no_constant(name: str) -> Any:
    raise BadFrameError(f"{name} is not a number JSON allows")


def parse_object(data: str) -> dict[str, Any]:
    """A JSON object (no NaN or Infinity), or :class:`BadFrameError`."""
    try:
        obj = json.loads(data, parse_constant=_no_constant)
    except BadFrameError:
        raise
    except ValueError as exc:
        raise BadFrameError("not JSON") from exc
    except RecursionError as exc:
        raise BadFrameError("nested too deeply") from exc
    if not isinstance(obj, dict):
        raise BadFrameError("not a JSON object")
    return obj


def _numbers(values: object, what: str, limit: int) -> int:
    if not isinstance(values, list) or len(values) > limit:
        raise BadFrameError(f"{what} is not a list of at most {limit} numbers")
    for v in values:
        if v is not None and (
            isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v)
        ):
            raise BadFrameError(f"{what} holds something that is not a number")
    return len(values)


def _declared_device(obj: dict[str, Any], declared: frozenset[str]) -> str:
    dev = obj.get("dev")
    if not isinstance(dev, str) or dev not in declared:
        raise BadFrameError("frame for a device the hello did not declare")
    return dev


def _check_points(part: object, declared: frozenset[str]) -> str:
    """Check one device's points (``dev``, ``t``, ``tr``, ``u``); return the device."""
    if not isinstance(part, dict):
        raise BadFrameError("a device's points are not an object")
    dev = _declared_device(part, declared)
    n = _numbers(part.get("t"), "t", MAX_POINTS)
    traces = part.get("tr")
    if not isinstance(traces, dict) or len(traces) > MAX_TRACES:
        raise BadFrameError(f"tr is not an object of at most {MAX_TRACES} traces")
    for name, values in traces.items():
        if not _TRACE.fullmatch(name) or _numbers(values, "a trace", MAX_POINTS) != n:
            raise BadFrameError("a trace is not as long as t")
    units = part.get("u", {})
    if not isinstance(units, dict) or not all(
        k in traces and isinstance(v, str) and len(v) <= 16 for k, v in units.items()
    ):
        raise BadFrameError("u is not the unit of each trace")
    return dev


def check_publisher(data: str, declared: frozenset[str], max_bytes: int) -> PublisherFrame:
    """Check one publisher message against the frame vocabulary.

    Args:
        data: the WebSocket text message.
        declared: the devices the publisher declared in its ``hello`` (empty before it).
        max_bytes: the largest data frame.

    Raises:
        BadFrameError: the message is not a frame a publisher may send (the reason in one line).
    """
    obj = parse_object(data)
    kind = obj.get("k")
    if not isinstance(kind, str) or kind not in PUBLISHER_KINDS:
        raise BadFrameError("unknown frame kind")
    if len(data) > MAX_BYTES.get(kind, max_bytes):
        raise BadFrameError(f"{kind!r} frame too large")
    if kind == HELLO:
        devs = obj.get("devs")
        student = obj.get("student")
        if not isinstance(student, str) or not valid_student_id(student):
            raise BadFrameError("hello without a valid student id")
        if (
            not isinstance(devs, list)
            or not 1 <= len(devs) <= MAX_DEVICES
            or not all(isinstance(d, str) and _DEVICE.fullmatch(d) for d in devs)
            or len(set(devs)) != len(devs)
        ):
            raise BadFrameError(f"hello must declare 1-{MAX_DEVICES} device names")
        return PublisherFrame(kind, "", tuple(devs))
    if kind == ACK:
        if not isinstance(obj.get("id"), int) or not isinstance(obj.get("text"), str):
            raise BadFrameError("ack without id and text")
        return PublisherFrame(kind, "")
    if kind == DATA and "ds" in obj:
        parts = obj["ds"]
        if not isinstance(parts, list) or not 1 <= len(parts) <= MAX_DEVICES:
            raise BadFrameError(f"ds is not a list of 1-{MAX_DEVICES} devices' points")
        devs = tuple(_check_points(part, declared) for part in parts)
        if len(set(devs)) != len(devs):
            raise BadFrameError("ds holds a device twice")
        return PublisherFrame(kind, "", devs)
    if kind == DATA:
        dev = _check_points(obj, declared)
        if "m" not in obj:
            return PublisherFrame(kind, dev)
        _check_tiles(obj["m"])
        kept = json.dumps({"k": METRICS, "dev": dev, "tiles": obj["m"]}, separators=(",", ":"))
        if len(kept) > MAX_BYTES[METRICS]:
            raise BadFrameError("the tiles in a data frame are too large")
        return PublisherFrame(kind, dev, tiles=kept)
    dev = _declared_device(obj, declared)
    if kind == METRICS:
        _check_tiles(obj.get("tiles"))
    elif kind == STATUS and not isinstance(obj.get("link"), str):
        raise BadFrameError("status without link")
    return PublisherFrame(kind, dev)


def _check_tiles(tiles: object) -> None:
    """Raise BadFrameError unless ``tiles`` is an object of at most MAX_TILES tile objects."""
    if not isinstance(tiles, dict) or len(tiles) > MAX_TILES:
        raise BadFrameError(f"tiles is not an object of at most {MAX_TILES} tiles")
    if not all(isinstance(t, dict) for t in tiles.values()):
        raise BadFrameError("a tile is not an object")


@dataclass(frozen=True)
class ViewerMark:
    """A viewer's ``mark``: its text (stripped, cut to the limit) and the page's id for it."""

    text: str
    cid: int


def check_viewer(data: str, mark_chars: int) -> ViewerMark | None:
    """A viewer's message: a :class:`ViewerMark`, or None for a ``ping``.

    Raises:
        BadFrameError: anything else (a viewer may only mark events and ping).
    """
    obj = parse_object(data)
    kind = obj.get("k")
    if kind == "ping":
        return None
    text, cid = obj.get("text"), obj.get("cid")
    if kind != "mark" or not isinstance(text, str) or not isinstance(cid, int):
        raise BadFrameError("viewers only mark")
    return ViewerMark(clean_mark_text(text, mark_chars), cid)


def valid_instance(instance: str | None) -> bool:
    """True if ``instance`` has the form of a page instance id (8-64 URL-safe characters)."""
    return instance is not None and bool(_INSTANCE.fullmatch(instance))
