# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Asking a running local PanDA whether it answers, and how its engine is, over its relay.

``panda_local start`` waits on `ping`, ``panda_local status`` shows `engine_health`; tests use
`ping` to wait for a server.  Only the standard library: the CLI stays light.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

__all__ = ["engine_health", "ping"]


def _relay_reply(url: str, token: str, command: str, timeout: float) -> Any:
    """Return the relay's reply to a command without arguments, or `None` when it does not answer."""
    request = urllib.request.Request(
        f"{url}/relay_idds_command",
        data=f"command_name={command}&manager=True".encode(),
        headers={"Authorization": f"Bearer {token}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return json.loads(reply.read())
    except (OSError, ValueError, urllib.error.URLError):
        return None


def ping(url: str, token: str, timeout: float = 2.0) -> bool:
    """Return whether a local PanDA answers ``ping`` at ``url`` (its ``PANDA_URL``).

    Parameters
    ----------
    url : `str`
        The local PanDA's base URL (``PANDA_URL``).
    token : `str`
        Bearer token the local PanDA accepts.
    timeout : `float`, optional
        Seconds to wait for the answer.
    """
    return _relay_reply(url, token, "ping", timeout) == [True, {"Status": "OK"}]


def engine_health(url: str, token: str, timeout: float = 5.0) -> dict[str, Any] | None:
    """Return the engine's condition (storage fault...) from a running local PanDA.

    Parameters
    ----------
    url : `str`
        The local PanDA's base URL (``PANDA_URL``).
    token : `str`
        Bearer token the local PanDA accepts.
    timeout : `float`, optional
        Seconds to wait for the answer.
    """
    reply = _relay_reply(url, token, "local_status", timeout)
    if not (isinstance(reply, list) and len(reply) == 2):
        return None
    ok, value = reply
    return value if ok and isinstance(value, dict) else None
