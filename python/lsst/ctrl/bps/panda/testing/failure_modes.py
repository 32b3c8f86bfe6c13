# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Failure modes of the iDDS double, as data: which calls fail, and how.

An unknown request id needs no scripting: the double answers it as the real iDDS does.
"""

from __future__ import annotations

import dataclasses
import enum
import logging

__all__ = ["Failure", "ScriptedFailures", "record_http_status"]

_LOG = logging.getLogger(__name__)


class Failure(enum.Enum):
    """What can go wrong between the client and iDDS, as the double plays it."""

    IDDS_OUTAGE = "idds_down"
    """iDDS does not answer the PanDA relay: ``[true, [false, "Connection exception..."]]``."""

    REFUSED_TOKEN = 403
    """The PanDA server refuses the token (HTTP 403): the client returns ``(255, <reply text>)``.

    The text is the local PanDA's recorded one; panda-server answers the same status ("Token
    authentication failed"), and the plugin reads a refusal by its status, not its words.
    """

    NO_TOKEN = 401
    """The PanDA server got no token: the client returns ``(255, <reply text>)``."""


@dataclasses.dataclass
class _Scripted:
    failure: Failure
    calls: int | None


class ScriptedFailures:
    """The failures the next calls meet, in order."""

    def __init__(self) -> None:
        self._queue: list[_Scripted] = []

    def add(self, failure: Failure, calls: int | None) -> None:
        """Make the next ``calls`` calls (all, when `None`) fail with ``failure``.

        Parameters
        ----------
        failure : `Failure`
            What goes wrong.
        calls : `int` or `None`
            How many calls; `None` until `clear`.
        """
        self._queue.append(_Scripted(failure, calls))

    def clear(self) -> None:
        """End every scripted failure."""
        self._queue.clear()

    def take(self) -> Failure | None:
        """Return the failure this call meets (`None`: it succeeds), counting it."""
        if not self._queue:
            return None
        scripted = self._queue[0]
        if scripted.calls is not None:
            scripted.calls -= 1
            if scripted.calls <= 0:
                self._queue.pop(0)
        return scripted.failure


def record_http_status(status: int) -> None:
    """Leave the HTTP status where the plugin's port reads what the PanDA client's HTTP layer saw.

    Parameters
    ----------
    status : `int`
        The HTTP status of the refusal.
    """
    from ..wms.relay_failures import _STATUS_PROBE

    _STATUS_PROBE.status = status
