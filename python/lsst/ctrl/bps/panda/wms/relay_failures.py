# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Failed calls through the PanDA relay, classified: refused, or no answer (and whether it was sent).

`~lsst.ctrl.bps.panda.wms.idds_port.IddsPort` raises what `_raise_failure` decides.  The PanDA
client folds every failure into status 255; `_STATUS_PROBE` records the real HTTP status of this
thread's last request, and the words of the reply are the last resort.  When nothing was sent,
`local_panda_hint` says where the local PanDA of ``$PANDA_LOCAL_STATE_DIR`` serves now.
"""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path
from typing import Any

from ..errors import IddsCallError, IddsTransientError
from ..local_panda_record import STATE_DIR_ENV, lock_is_held, read_server_record

__all__ = ["local_panda_hint"]

_NOT_SENT_MARKERS = ("connection refused", "all connection attempts failed", "name or service not known")


_AUTH_MARKERS = ("unauthorized", "forbidden", "401", "403", "authentication", "bearer", "token")
"""Last resort only: words of an authentication refusal, when the HTTP status is unknown."""


_NETWORK_FAILURE = 1
"""What the client's HTTP layer returns instead of an HTTP status when the request failed below HTTP."""


class _StatusProbe(threading.local):
    """The HTTP status of this thread's last PanDA client request (None when unknown).

    ``pandaclient.Client.call_idds_command`` returns 255 for every failure, HTTP or network; its
    ``_HttpClient._send`` still returns the real status.  Wrapping that one method (once, keeping
    its result unchanged) lets the port classify failures by structure.  If a client release
    renames it, the probe stays empty and classification falls back to the text.
    """

    status: int | None = None

    def install(self, client_module: Any) -> bool:
        """Wrap the client's ``_HttpClient._send``; return whether it is (now) wrapped.

        Parameters
        ----------
        client_module : `types.ModuleType`
            The PanDA client's ``pandaclient.Client`` module.
        """
        http_client = getattr(client_module, "_HttpClient", None)
        send = getattr(http_client, "_send", None)
        if send is None:
            return False
        if getattr(send, "_panda_status_probe", False):
            return True
        probe = self

        @functools.wraps(send)
        def send_and_record(client: Any, *args: Any, **kwargs: Any) -> Any:
            result = send(client, *args, **kwargs)
            if isinstance(result, tuple) and result and isinstance(result[0], int):
                probe.status = result[0]
            return result

        send_and_record._panda_status_probe = True  # type: ignore[attr-defined]
        http_client._send = send_and_record  # type: ignore[union-attr]
        return True


_STATUS_PROBE = _StatusProbe()


def local_panda_hint() -> str:
    """Say where the local PanDA of ``$PANDA_LOCAL_STATE_DIR`` serves now, if not at ``PANDA_URL_SSL``."""
    root = os.environ.get(STATE_DIR_ENV)
    if not root:
        return ""
    state_dir = Path(root).expanduser().absolute()
    record = read_server_record(state_dir) if lock_is_held(state_dir) else None
    if record is None:
        return f" — the local PanDA of {state_dir} is not running: panda_local start --background"
    if record.get("url") != os.environ.get("PANDA_URL_SSL"):
        return (
            f" — the local PanDA of {state_dir} moved to {record.get('url')}: "
            'run eval "$(panda_local env)" in this shell'
        )
    return ""


def _raise_failure(call: str, request_id: Any, http_status: int | None, output: Any) -> None:
    """Raise the error of a failed client call, classified by its HTTP status where known."""
    text = output.decode(errors="replace") if isinstance(output, bytes) else str(output)
    text = text.strip()[:500]
    lowered = text.lower()
    if http_status is None:
        # Last resort (no status seen): the words of an authentication refusal.
        refused = auth = any(marker in lowered for marker in _AUTH_MARKERS)
    elif http_status == 0:
        # HTTP 200 with a body the client could not read (a proxy's page, a truncated reply).
        refused = auth = False
    else:
        refused = 400 <= http_status < 500
        auth = http_status in (401, 403)
    if refused:
        what = f"HTTP {http_status}: {text}" if http_status else text
        hint = (
            "; check PANDA_AUTH, PANDA_AUTH_VO and the token (e.g. PANDA_AUTH_ID_TOKEN) or proxy"
            if auth
            else "; check PANDA_URL_SSL"
        )
        raise IddsCallError(call, request_id, f"PanDA refused the call ({what}){hint}")
    # A network failure below HTTP may mean the request never left; the client only says so in words.
    below_http = http_status in (None, _NETWORK_FAILURE)
    sent = not (below_http and any(marker in lowered for marker in _NOT_SENT_MARKERS))
    where = f" (HTTP {http_status})" if http_status and http_status != _NETWORK_FAILURE else ""
    hint = "" if sent else local_panda_hint()
    raise IddsTransientError(call, request_id, f"no answer from PanDA{where}: {text}{hint}", sent=sent)
