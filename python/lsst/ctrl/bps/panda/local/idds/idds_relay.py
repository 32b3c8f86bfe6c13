# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The relay of the ``idds`` engine: iDDS commands forwarded to the real iDDS REST service.

What PanDA's ``relay_idds_command`` (panda-server 1.0.4) does, after the
local PanDA has checked the bearer token and decoded the call with its
restricted loader: make an iDDS ``ClientManager`` (``Client`` when the
caller did not ask for the manager) for the iDDS REST service, give it the
caller's identity as the original user (so that requests belong to the
token's subject, as through a real PanDA server), run the command and
reply ``[true, <return value>]`` — plain JSON when it encodes, iDDS-JSON
otherwise; ``[false, "<command> is not a command of iDDS ClientManager"]``
for an unknown command and ``[false, "failed to execute command with ..."]``
when the call raises.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from typing import Any

from ...errors import IddsStackError
from ..core.wire_codec import RelayCall
from ..jedi.final_reruns import FinalReruns
from ..state.store import Store

__all__ = ["IddsRelay", "RelayedVerbs"]

_LOG = logging.getLogger(__name__)


class IddsRelay:
    """Forward relay calls to an iDDS REST service.

    Parameters
    ----------
    rest_url : `str`, optional
        The iDDS REST service (``http://127.0.0.1:<port>/idds``); set later with `connect`.
    reruns : `~lsst.ctrl.bps.panda.local.jedi.final_reruns.FinalReruns`, optional
        Told of each workflow submitted and each request retried, so that the final task of a
        retried request runs again after the retried tasks.
    """

    def __init__(self, rest_url: str | None = None, reruns: FinalReruns | None = None) -> None:
        self.rest_url = rest_url
        self.reruns = reruns
        self._saved_environment: dict[str, str | None] = {}

    def connect(self, rest_url: str, client_environment: Mapping[str, str]) -> None:
        """Point the relay at an iDDS REST service and set what its client reads from the environment.

        Parameters
        ----------
        rest_url : `str`
            The service's URL.
        client_environment : `~collections.abc.Mapping` [`str`, `str`]
            Variables the iDDS client needs (proxy file, local configuration root); set in this
            process until `disconnect`.
        """
        for name, value in client_environment.items():
            self._saved_environment.setdefault(name, os.environ.get(name))
            os.environ[name] = value
        self.rest_url = rest_url

    def disconnect(self) -> None:
        """Restore the environment `connect` changed."""
        for name, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environment.clear()
        self.rest_url = None

    def forward(self, call: RelayCall, args: list[Any], kwargs: dict[str, Any], caller: str | None) -> str:
        """Run one command on the iDDS service; return the relay's reply body.

        Parameters
        ----------
        call : `~lsst.ctrl.bps.panda.local.core.wire_codec.RelayCall`
            The decoded call (command name, manager flag).
        args, kwargs : `list`, `dict`
            Its arguments, decoded and checked.
        caller : `str` or `None`
            The identity the request is recorded under (the token's subject).
        """
        from idds.client.client import Client
        from idds.client.clientmanager import ClientManager
        from idds.common.utils import json_dumps

        if self.rest_url is None:
            return json.dumps([False, "The iDDS service of this local PanDA is not running"])
        client: Any = ClientManager(host=self.rest_url) if call.manager else Client(host=self.rest_url)
        if not hasattr(client, call.command):
            return json.dumps([False, f"{call.command} is not a command of iDDS {type(client).__name__}"])
        asked_at = time.time()
        try:
            if caller:
                client.set_original_user(user_name=caller)
            result = getattr(client, call.command)(*args, **kwargs)
        except Exception as exc:
            _LOG.warning("iDDS command %s failed: %s", call.command, exc)
            return json.dumps([False, f"failed to execute command with {exc}"])
        self._tell_reruns(call, args, kwargs, result, asked_at)
        try:
            return json.dumps([True, result])
        except TypeError:
            return json_dumps([True, result])

    def _tell_reruns(
        self, call: RelayCall, args: list[Any], kwargs: dict[str, Any], result: Any, asked_at: float
    ) -> None:
        """Tell `reruns` of a workflow submitted or a request retried (never fails the call)."""
        if self.reruns is None or not call.manager or call.command not in ("submit", "retry"):
            return
        try:
            if call.command == "submit":
                workflow = args[0] if args else kwargs.get("workflow")
                self.reruns.note_submitted(result, workflow)
            else:
                request_id = args[0] if args else kwargs.get("request_id")
                self.reruns.note_retry(request_id, asked_at)
        except Exception:
            _LOG.exception("Could not note iDDS %s for re-running final tasks", call.command)


class RelayedVerbs:
    """What the monitor pages read, answered by the real iDDS (the ``idds`` engine's monitor).

    Parameters
    ----------
    relay : `IddsRelay`
        The relay (its iDDS REST service).
    caller : `str` or `None`
        The identity the pages read as (the server token's subject).
    store : `~lsst.ctrl.bps.panda.local.state.store.Store`
        The local store: where each PanDA job's log is.
    """

    def __init__(self, relay: IddsRelay, caller: str | None, store: Store) -> None:
        self.relay = relay
        self.caller = caller
        self.store = store

    def _call(self, command: str, **kwargs: Any) -> Any:
        from idds.client.clientmanager import ClientManager

        if self.relay.rest_url is None:
            raise IddsStackError("The iDDS service of this local PanDA is not running")
        client = ClientManager(host=self.relay.rest_url)
        if self.caller:
            client.set_original_user(user_name=self.caller)
        return getattr(client, command)(**kwargs)

    def get_requests(self, request_id: int | None = None, with_detail: bool = False) -> list[dict[str, Any]]:
        """Return iDDS's request records (every request without ``request_id``).

        Parameters
        ----------
        request_id : `int`, optional
            The request; `None` returns every request.
        with_detail : `bool`, optional
            Return one record per task instead of one per request.
        """
        return self._call("get_requests", request_id=request_id, with_detail=with_detail) or []

    def get_contents_output_ext(
        self, request_id: int | None = None, transform_id: int | None = None
    ) -> dict[int, list[dict[str, Any]]]:
        """Return iDDS's job records by transform id, each with the path of its PanDA job's log.

        Parameters
        ----------
        request_id : `int`, optional
            The request.
        transform_id : `int`, optional
            Only the jobs of this transform (task).
        """
        contents = self._call("get_contents_output_ext", request_id=request_id, transform_id=transform_id)
        by_task = {int(key): records for key, records in (contents or {}).items()}
        panda_ids = [record.get("panda_id") for records in by_task.values() for record in records]
        logs = self._log_paths([int(panda_id) for panda_id in panda_ids if panda_id])
        for records in by_task.values():
            for record in records:
                record["path"] = logs.get(int(record["panda_id"])) if record.get("panda_id") else None
        return by_task

    def _log_paths(self, panda_ids: list[int]) -> dict[int, str]:
        rows = self.store.connection().execute(
            "SELECT attempt_id, log_path FROM attempts WHERE attempt_id IN (SELECT value FROM json_each(?))",
            (json.dumps(panda_ids),),
        )
        return {row[0]: row[1] for row in rows}
