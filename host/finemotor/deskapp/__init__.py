"""The facilitator's desk app (``finemotor desk``): pair, check and run a session from a page
on this computer (:mod:`finemotor.deskapp.app`)."""

from finemotor.deskapp.app import DEFAULT_TASKS, DeskApp, DeskAppOptions

__all__ = ["DEFAULT_TASKS", "DeskApp", "DeskAppOptions"]
