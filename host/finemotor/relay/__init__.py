"""The relay: the student's host publishes a live session, therapists view it in a browser.

:class:`~finemotor.relay.server.Relay` is the aiohttp server (embedded in ``finemotor demo``,
or standalone with ``finemotor relay``); :class:`~finemotor.relay.tokens.PublishedSession`
holds a session's id and tokens on the publishing side. See docs/therapist-view.md.
"""

from __future__ import annotations

from finemotor.relay.server import Relay, RelayLimits
from finemotor.relay.tokens import PublishedSession

__all__ = ["PublishedSession", "Relay", "RelayLimits"]
