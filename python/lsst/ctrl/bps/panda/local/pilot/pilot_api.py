# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""A client of panda-server's pilot API (``/api/v1/pilot/...``, ``/api/v1/event/...``), as pilot3 calls it.

panda-server 1.0.4 serves jobs to pilots only through its v1 API (the legacy ``getJob`` and
``updateJob`` are gone): ``POST acquire_jobs`` hands out activated jobs of a queue (each a dict
of the legacy job description: ``PandaID``, ``jobPars``, ``minRamCount``, ``logFile``, ...),
``POST update_job`` moves a job to ``starting``, ``running`` (the heartbeat) and its end
(``finished``/``failed`` with exit codes and, for a finished job, the report of its output
files), ``POST update_event_ranges`` reports event ranges.  Every reply is the envelope
``{"success", "message", "data"}``; ``update_job``'s data carries the server's ``command`` to the
pilot (``tobekilled`` when the task was killed).

Bodies are JSON, calls go to 127.0.0.1 only; the caller's identity is the front's (a production
role), so no credentials are sent.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from ...errors import PilotApiError

__all__ = ["PilotApi"]

_LOG = logging.getLogger(__name__)

NO_JOBS = "No jobs in PanDA"
"""The message of ``acquire_jobs``'s failed envelope (data `None`) when the queue has no job."""


class PilotApi:
    """Calls of the pilot API of one panda-server.

    Parameters
    ----------
    base_url : `str`
        ``http://127.0.0.1:PORT`` of the server (the API is under ``/api/v1``).
    timeout : `float`, optional
        Seconds one call may take.
    """

    def __init__(self, base_url: str, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        if urllib.parse.urlsplit(self.base_url).hostname not in ("127.0.0.1", "localhost"):
            raise PilotApiError(f"the pilot API client calls loopback servers only, not {base_url}")
        self.timeout = timeout

    def call(self, method: str, path: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Call ``/api/v1/<path>`` and return its envelope.

        Parameters
        ----------
        method : `str`
            ``GET`` (arguments in the query string) or ``POST`` (a JSON body).
        path : `str`
            ``<module>/<function>``, e.g. ``pilot/acquire_jobs``.
        arguments : `dict` [`str`, `typing.Any`]
            The call's arguments (`None` values are left out).

        Raises
        ------
        PilotApiError
            Raised if the server does not answer, answers an HTTP error, or not an envelope.
        """
        arguments = {key: value for key, value in arguments.items() if value is not None}
        url = f"{self.base_url}/api/v1/{path}"
        data = None
        headers = {"Accept": "application/json"}
        if method == "GET":
            url += "?" + urllib.parse.urlencode(arguments, doseq=True)
        else:
            data = json.dumps(arguments).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                body = reply.read()
        except (OSError, urllib.error.URLError) as exc:
            raise PilotApiError(f"{method} {path} to {self.base_url} failed: {exc}") from exc
        try:
            envelope = json.loads(body)
        except ValueError as exc:
            raise PilotApiError(f"{path} answered no JSON: {body[:200]!r}") from exc
        if not isinstance(envelope, dict) or "success" not in envelope:
            raise PilotApiError(f"{path} answered no envelope: {str(envelope)[:200]}")
        return envelope

    def acquire_jobs(self, site_name: str, n_jobs: int = 1, **options: Any) -> list[dict[str, Any]]:
        """Acquire up to ``n_jobs`` activated jobs of queue ``site_name`` (they become ``sent``).

        Parameters
        ----------
        site_name : `str`
            The PanDA queue.
        n_jobs : `int`, optional
            Most jobs to take.
        **options : `typing.Any`
            Other arguments of ``acquire_jobs`` (``memory``, ``node``, ``prod_source_label``...).

        Raises
        ------
        PilotApiError
            Raised if the call fails or is refused.
        """
        envelope = self.call(
            "POST", "pilot/acquire_jobs", {"site_name": site_name, "n_jobs": n_jobs, **options}
        )
        data = envelope.get("data") or {}
        if not envelope["success"] and envelope.get("message") == NO_JOBS:
            return []
        if not envelope["success"]:
            raise PilotApiError(f"acquire_jobs at {site_name} refused: {envelope.get('message')}")
        return list(data.get("jobs", [])) if isinstance(data, dict) else list(data)

    def update_job(self, job_id: int, job_status: str, **fields: Any) -> dict[str, Any]:
        """Report a job's state (``starting``, ``running``, ``finished``, ``failed``...); return the data.

        The data holds the server's ``command`` for the pilot (``NULL``, ``tobekilled``...).

        Parameters
        ----------
        job_id : `int`
            The PanDA job id.
        job_status : `str`
            The state reported.
        **fields : `typing.Any`
            Other arguments of ``update_job`` (``trans_exit_code``, ``pilot_error_code``,
            ``job_output_report``, ``max_rss``, ``start_time``...).

        Raises
        ------
        PilotApiError
            Raised if the call fails or is refused.
        """
        envelope = self.call(
            "POST", "pilot/update_job", {"job_id": job_id, "job_status": job_status, **fields}
        )
        if not envelope["success"]:
            raise PilotApiError(f"update_job {job_id} -> {job_status} refused: {envelope.get('message')}")
        return envelope.get("data") or {}

    def update_event_ranges(self, event_ranges: list[dict[str, Any]]) -> dict[str, Any]:
        """Report the status of event ranges (``[{"eventRangeID", "eventStatus"}, ...]``); return the data.

        Parameters
        ----------
        event_ranges : `list` [`dict` [`str`, `typing.Any`]]
            The ranges and their status (``running``, ``finished``, ``failed``).

        Raises
        ------
        PilotApiError
            Raised if the call fails or is refused.
        """
        envelope = self.call("POST", "event/update_event_ranges", {"event_ranges": json.dumps(event_ranges)})
        if not envelope["success"]:
            raise PilotApiError(f"update_event_ranges refused: {envelope.get('message')}")
        return envelope.get("data") or {}

    def acquire_event_ranges(
        self, job_id: int, jobset_id: int, task_id: int, n_ranges: int = 10
    ) -> list[Any]:
        """Take up to ``n_ranges`` event ranges of a job (fine-grained processing).

        Parameters
        ----------
        job_id : `int`
            The PanDA job id.
        jobset_id : `int`
            Its job set.
        task_id : `int`
            Its JEDI task.
        n_ranges : `int`, optional
            Most ranges to take.

        Raises
        ------
        PilotApiError
            Raised if the call fails or is refused.
        """
        arguments = {"job_id": job_id, "jobset_id": jobset_id, "task_id": task_id, "n_ranges": n_ranges}
        envelope = self.call("POST", "event/acquire_event_ranges", arguments)
        if not envelope["success"]:
            raise PilotApiError(f"acquire_event_ranges of job {job_id} refused: {envelope.get('message')}")
        return list(envelope.get("data") or [])
