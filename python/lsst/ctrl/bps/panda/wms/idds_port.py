# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The one port to iDDS, through the PanDA relay (``pandaclient.idds_api``).

This is the only module that imports ``pandaclient``.  It does so lazily:
importing it reads the PanDA URLs and resolves the cache host, which must
neither happen when the plugin is imported nor before the environment is set.

Every reply envelope (DESIGN §8) becomes either a result or one exception:

- ``(0, [true, x])``                → ``x``
- ``(0, [true, [false, msg]])``     → `IddsCallError` (iDDS refused the call), except:
- ``(0, [true, [false, "Connection exception…"]])`` → `IddsOutageError` (iDDS unreachable
  behind the relay).  It has the structure of a permanent refusal; telling the two apart by the
  message text is the one documented exception to classifying replies by structure.
- ``(0, [false, msg])``             → `IddsCallError` (the relay refused it)
- ``(255, text)`` (the client's code for any HTTP or network failure): classified by the HTTP
  status the client's HTTP layer saw (it folds it into 255; `_StatusProbe` keeps it): 4xx →
  `IddsCallError` (401/403: an authentication refusal), 5xx or a network failure →
  `IddsTransientError`.  Only where no status is known does the text decide, as a last resort.
- ``[[-1, {"message": "No match requests"}]]`` from abort/retry → `IddsUnknownRequestError`
  (real iDDS answers an unknown request id so; ``get_requests`` answers ``[]`` and
  ``get_contents_output_ext`` ``{}``)
- ``(n, text)``, ``n`` neither 0 nor 255 (a client of the caller's own, see ``api_factory``) and
  ``[true, "Authentication no permission..."]`` (the relay refusing the caller) → `IddsCallError`
- anything unparsable               → `IddsCallError`

Request ids travel as strings of digits, as the bps command line gives them and as the published
plugin sent them.

Transient failures are retried a bounded number of times with backoff.  Calls
that are not safe to repeat (submit, retry) are only repeated when the request
never reached the server (connection refused).  An iDDS outage behind the relay
is retried until a time budget is spent (the relay itself already tries for about
26 s per call): ``outage_budget`` seconds, by default `DEFAULT_OUTAGE_BUDGET` or
``$PANDA_IDDS_OUTAGE_BUDGET``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

from ..errors import IddsCallError, IddsOutageError, IddsTransientError, IddsUnknownRequestError
from .relay_failures import _STATUS_PROBE, _raise_failure, local_panda_hint

__all__ = [
    "DEFAULT_OUTAGE_BUDGET",
    "IddsPort",
    "RelayClient",
    "local_panda_hint",
]

_LOG = logging.getLogger(__name__)

_OUTAGE_MARKER = "connection exception"
"""How the relay's iDDS client says iDDS did not answer (``idds.common.exceptions.ConnectionException``)."""
_UNKNOWN_REQUEST_MESSAGE = "no match requests"
_NO_PERMISSION = "Authentication no permission"
"""How the relay answers a caller it does not let through, inside a successful reply."""
_CLIENT_FAILURE = 255
"""The PanDA client's status for any failed call (``EC_Failed``)."""

DEFAULT_OUTAGE_BUDGET = 120.0
"""Seconds a call may spend waiting out an iDDS outage behind the relay, the relay's own retries included."""


class RelayClient:
    """The PanDA client's iDDS API for one iDDS server, in one reply format.

    ``pandaclient.idds_api.get_api`` configures one object shared by the whole process, so a
    client made for another format would change this one's; each call configures it again
    with this client's own settings.  A method returns what the PanDA client returns,
    ``(status, output)``.

    Parameters
    ----------
    idds_server : `str`, optional
        The iDDS server the relay should forward to; `None` lets the relay choose.
    decode : `bool`, optional
        Rebuild iDDS objects (enums, workflows) from the reply (iDDS-JSON), as the port needs;
        `False` leaves them as plain JSON, as the published ``utils.get_idds_client`` returned them.
    """

    def __init__(self, idds_server: str | None = None, *, decode: bool = True) -> None:
        self.idds_server = idds_server or None
        self.decode = decode

    def __getattr__(self, call: str) -> Any:
        if call.startswith("_"):
            raise AttributeError(call)
        from idds.common.utils import json_dumps, json_loads
        from pandaclient import Client, idds_api

        if not _STATUS_PROBE.install(Client):
            _LOG.debug("pandaclient has no _HttpClient._send: failures are classified by their text")
        api = idds_api.get_api(
            dumper=json_dumps,
            loader=json_loads if self.decode else None,
            idds_host=self.idds_server,
            compress=True,
            manager=True,
        )
        return getattr(api, call)


def _wire_id(request_id: int | str) -> str:
    """Return a request id as the relay takes it: the digits, as the bps command line gives them."""
    return str(int(request_id))


class IddsPort:
    """Typed calls to iDDS through the PanDA relay.

    Parameters
    ----------
    idds_server : `str`, optional
        The iDDS server the relay should forward to (config ``iddsServer``).
    attempts : `int`, optional
        Tries for a transient failure.
    backoff : `float`, optional
        Seconds before the first retry; doubled after each.
    outage_budget : `float`, optional
        Seconds a call may spend waiting out an iDDS outage behind the relay
        (default ``$PANDA_IDDS_OUTAGE_BUDGET`` or `DEFAULT_OUTAGE_BUDGET`).
    api_factory : callable, optional
        Returns the client API object, given ``idds_server`` (default `RelayClient`): the
        service passes its ``get_idds_client``, tests a client with faults HTTP cannot cause.
    """

    def __init__(
        self,
        idds_server: str | None = None,
        *,
        attempts: int = 3,
        backoff: float = 1.0,
        outage_budget: float | None = None,
        api_factory: Callable[[str | None], Any] | None = None,
    ) -> None:
        self.idds_server = idds_server or os.environ.get("IDDS_SERVER") or None
        self.attempts = max(1, attempts)
        self.backoff = backoff
        if outage_budget is None:
            outage_budget = float(os.environ.get("PANDA_IDDS_OUTAGE_BUDGET") or DEFAULT_OUTAGE_BUDGET)
        self.outage_budget = outage_budget
        self._api_factory = api_factory or RelayClient
        self._api: Any = None

    @property
    def api(self) -> Any:
        """The client API object, created on first use."""
        if self._api is None:
            self._api = self._api_factory(self.idds_server)
        return self._api

    # -- envelope handling -------------------------------------------------------------------
    @staticmethod
    def unwrap(call: str, request_id: Any, reply: Any) -> Any:
        """Return the value inside a relay reply, or raise the matching error.

        Parameters
        ----------
        call : `str`
            The iDDS call, for messages.
        request_id : `Any`
            The request concerned, for messages.
        reply : `Any`
            What ``pandaclient`` returned: ``(status, output)``.

        Returns
        -------
        value : `Any`
            The iDDS return value.
        """
        if not isinstance(reply, tuple | list) or len(reply) != 2:
            raise IddsCallError(call, request_id, f"unexpected reply from the PanDA client: {reply!r:.300}")
        status, output = reply
        if status not in (0, _CLIENT_FAILURE):
            # Not the PanDA client's code: a client of its own (``get_idds_client``) refused the call.
            raise IddsCallError(call, request_id, f"the iDDS client answered {status}: {output!r:.300}")
        if status != 0:
            _raise_failure(call, request_id, _STATUS_PROBE.status, output)
        if not isinstance(output, list | tuple) or len(output) != 2 or not isinstance(output[0], bool):
            raise IddsCallError(call, request_id, f"unparsable reply from the PanDA relay: {output!r:.300}")
        relay_ok, value = output
        if not relay_ok:
            raise IddsCallError(call, request_id, f"PanDA relay refused the call: {value}")
        if (
            isinstance(value, list | tuple)
            and len(value) == 2
            and value[0] is False
            and isinstance(value[1], str)
        ):
            if value[1].lower().startswith(_OUTAGE_MARKER):
                # The relay's iDDS client could not connect to iDDS: nothing reached iDDS.
                message = f"iDDS does not answer the PanDA relay: {value[1]:.300}"
                raise IddsOutageError(call, request_id, message)
            raise IddsCallError(call, request_id, value[1])
        if isinstance(value, str) and _NO_PERMISSION in value:
            raise IddsCallError(call, request_id, f"PanDA relay refused the caller: {value:.300}")
        return value

    def _call_once(self, call: str, args: tuple, kwargs: dict[str, Any], about: Any) -> Any:
        _STATUS_PROBE.status = None
        try:
            reply = getattr(self.api, call)(*args, **kwargs)
        except SystemExit as exit_:
            # The PanDA client exits the process when it cannot authenticate (e.g. it would
            # need an interactive OIDC login); a library call must not end the program.
            raise IddsCallError(
                call,
                about,
                f"the PanDA client gave up (exit {exit_.code}): check PANDA_AUTH, PANDA_AUTH_VO "
                "and that a token is available (PANDA_AUTH_ID_TOKEN or OIDC_AUTH_TOKEN_FILE)",
            ) from None
        return self.unwrap(call, about, reply)

    def _call(self, call: str, *args: Any, about: Any = None, repeatable: bool = True, **kwargs: Any) -> Any:
        began = time.monotonic()
        delay = self.backoff
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._call_once(call, args, kwargs, about)
            except IddsOutageError as error:
                # Nothing reached iDDS, so even submit and retry may be repeated; bounded by time
                # because each relay call already spends about 26 s on its own retries.
                spent = time.monotonic() - began
                if spent + delay >= self.outage_budget:
                    error.args = (
                        f"{error} — iDDS stayed unreachable behind the PanDA relay for {spent:.0f} s "
                        f"({attempt} tries); try again later, and tell the PanDA operators if it lasts",
                    )
                    raise
                _LOG.warning("%s (after %.0f s); retrying in %.1f s", error, spent, delay)
            except IddsTransientError as error:
                may_repeat = repeatable or not error.sent
                if attempt >= self.attempts or not may_repeat:
                    if not may_repeat:
                        error.args = (
                            f"{error} — the request may have reached the server; check with "
                            "`bps report` before trying again",
                        )
                    raise
                _LOG.warning(
                    "%s (attempt %d of %d); retrying in %.1f s", error, attempt, self.attempts, delay
                )
            time.sleep(delay)
            delay *= 2

    # -- typed calls ---------------------------------------------------------------------------
    def ping(self) -> dict[str, Any]:
        """Check that the relay and iDDS answer; return the status record."""
        value = self._call("ping")
        if not isinstance(value, dict) or str(value.get("Status", "")).upper() != "OK":
            raise IddsCallError("ping", None, f"iDDS is not OK: {value!r:.300}")
        return value

    def submit(self, workflow: Any, username: str | None = None) -> int:
        """Submit a workflow (or a workflow step) and return the request id (0 for a step).

        Parameters
        ----------
        workflow : `idds.workflowv2.workflow.Workflow`
            The iDDS workflow, or one step of a split workflow.
        username : `str`, optional
            User the request is submitted for; `None` lets the server take it from the credentials.
        """
        value = self._call("submit", workflow, username=username, use_dataset_name=False, repeatable=False)
        try:
            return int(value)
        except (TypeError, ValueError):
            raise IddsCallError("submit", None, f"no request id in the reply: {value!r:.300}") from None

    def submit_build(self, workflow: Any) -> int:
        """Submit a build workflow (remote build) and return the request id.

        Parameters
        ----------
        workflow : `idds.workflowv2.workflow.Workflow`
            The build workflow, with its one build job (see `build_workflow`).
        """
        value = self._call("submit_build", workflow, username=None, use_dataset_name=False, repeatable=False)
        try:
            return int(value)
        except (TypeError, ValueError):
            raise IddsCallError("submit_build", None, f"no request id in the reply: {value!r:.300}") from None

    def update_build_request(self, request_id: int | str, signature: str, workflow: Any) -> Any:
        """Hand the workflow a build job made to its build request; return iDDS's answer.

        Parameters
        ----------
        request_id : `int` or `str`
            The build request (``IDDS_BUILD_REQUEST_ID`` of the build job).
        signature : `str`
            The build work's signature (``IDDS_BUIL_SIGNATURE``), without which iDDS refuses the call.
        workflow : `idds.workflowv2.workflow.Workflow`
            The workflow prepared in the build job.
        """
        return self._call(
            "update_build_request",
            about=request_id,
            repeatable=False,
            request_id=int(request_id),
            signature=signature,
            workflow=workflow,
        )

    def get_requests(self, request_id: int | str | None = None, with_detail: bool = False) -> list[dict]:
        """Return the records of one request (one per task with detail) or of all visible requests.

        Parameters
        ----------
        request_id : `int` or `str`, optional
            The request; `None` returns every request the caller can see.
        with_detail : `bool`, optional
            Return one record per task of the request instead of one for the request.
        """
        kwargs: dict[str, Any] = {"with_detail": with_detail}
        if request_id is not None:
            kwargs["request_id"] = _wire_id(request_id)
        value = self._call("get_requests", about=request_id, **kwargs)
        if value is None:
            return []
        if not isinstance(value, list):
            raise IddsCallError("get_requests", request_id, f"expected a list of records, got {value!r:.300}")
        return value

    def get_contents_output_ext(
        self, request_id: int | str, workload_id: int | str | None = None
    ) -> dict[str, list[dict]]:
        """Return the job records of a request (of one task when ``workload_id`` is given).

        Parameters
        ----------
        request_id : `int` or `str`
            The request.
        workload_id : `int` or `str`, optional
            PanDA task id of one task; `None` returns the jobs of every task.
        """
        value = self._call(
            "get_contents_output_ext",
            about=request_id,
            request_id=_wire_id(request_id),
            workload_id=workload_id,
        )
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise IddsCallError(
                "get_contents_output_ext", request_id, f"expected job records by task, got {value!r:.300}"
            )
        return value

    def abort(self, request_id: int | str) -> str:
        """Ask iDDS to cancel a request; return the server's message.

        Parameters
        ----------
        request_id : `int` or `str`
            The request to cancel.
        """
        return self._command("abort", request_id)

    def retry(self, request_id: int | str) -> str:
        """Ask iDDS to run the failed jobs of a request again; return the server's message.

        Parameters
        ----------
        request_id : `int` or `str`
            The request whose failed jobs run again.
        """
        return self._command("retry", request_id, repeatable=False)

    def _command(self, call: str, request_id: int | str, repeatable: bool = True) -> str:
        value = self._call(call, about=request_id, request_id=_wire_id(request_id), repeatable=repeatable)
        status, message = _command_status(value)
        if status != 0:
            if message.strip().lower() == _UNKNOWN_REQUEST_MESSAGE:
                raise IddsUnknownRequestError(call, request_id, "no such request")
            raise IddsCallError(call, request_id, message)
        return message


def _command_status(value: Any) -> tuple[int, str]:
    """Read ``[[0, {"status": 0, "message": ...}]]`` and its variants."""
    while isinstance(value, list | tuple) and len(value) == 1:
        value = value[0]
    code: Any = 0
    if isinstance(value, list | tuple) and len(value) == 2:
        code, value = value
    if isinstance(value, dict):
        status = value.get("status", code)
        message = str(value.get("message", ""))
    else:
        status, message = code, str(value)
    try:
        return int(status), message
    except (TypeError, ValueError):
        return 1, f"{status}: {message}"
