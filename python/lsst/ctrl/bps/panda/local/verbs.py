# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause

"""The iDDS ``ClientManager`` verbs the embedded engine serves through the relay.

`Verbs` answers each call the plugin makes (submit, get_requests,
get_contents_output_ext, abort, retry, ping) from the local store, with the
record shapes and the replies to unknown requests of the real iDDS.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from idds.common.constants import RequestStatus

from .engine import LocalPanda
from .intake import IntakeError
from .jobstates import TERMINAL_REQUEST_STATES as TERMINAL_REQUESTS
from .records import group_contents, new_request_record, request_record, task_record
from .retry import RetryRefusedError
from .store import UnknownRequestError

__all__ = ["COMMAND_REGISTERED", "NO_MATCH_REQUESTS", "CallError", "Verbs"]

_LOG = logging.getLogger(__name__)


COMMAND_REGISTERED = [[0, {"status": 0, "message": "Command registered successfully"}]]
"""What iDDS answers to ``abort`` and ``retry``."""

NO_MATCH_REQUESTS = [[-1, {"status": -1, "message": "No match requests"}]]
"""What iDDS answers to ``abort`` and ``retry`` of an unknown request (``get_requests``: ``[]``,
``get_contents_output_ext``: ``{}``)."""


class CallError(Exception):
    """An error inside a call: replied as ``[true, [false, message]]``."""


def _request_id(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise CallError(f"request_id must be an integer, got {value!r}") from None


class Verbs:
    """The ``ClientManager`` methods the local PanDA serves.

    Parameters
    ----------
    engine : `LocalPanda`
        The engine behind them.
    caller : `str`, optional
        The identity requests are recorded under: like the real relay, the server names the
        owner from the caller's credential (here the ``sub`` of its own token), whatever
        ``username`` the client passes.
    """

    def __init__(self, engine: LocalPanda, caller: str | None = None) -> None:
        self.engine = engine
        self.store = engine.store
        self.caller = caller

    def ping(self) -> dict[str, str]:
        """Answer like iDDS's ping."""
        return {"Status": "OK"}

    def submit(
        self,
        workflow: Any,
        username: str | None = None,
        userdn: str | None = None,
        use_dataset_name: bool = False,
    ) -> int:
        """Create a request (or keep a workflow step, returning 0)."""
        if not hasattr(workflow, "get_internal_id"):
            raise CallError(f"submit expects an iDDS Workflow, got {type(workflow).__name__}")
        try:
            return self.engine.submit(workflow, username=self.caller or username)
        except IntakeError as exc:
            raise CallError(str(exc)) from None

    def _resolve(self, request_id: Any, workload_id: Any) -> int:
        found = _request_id(request_id)
        if found is None and workload_id not in (None, ""):
            found = self.store.request_for_workload(int(workload_id))
            if found is None:
                raise CallError(f"No request has a task with workload_id {workload_id}")
        if found is None:
            raise CallError("Both request_id and workload_id are None. One of them should not be None")
        self.store.request(found)
        return found

    def get_requests(
        self,
        request_id: Any = None,
        workload_id: Any = None,
        with_detail: bool = False,
        with_metadata: bool = False,
    ) -> list[dict[str, Any]]:
        """Return request records, or one record per task with ``with_detail``."""
        if request_id in (None, "") and workload_id in (None, ""):
            requests = self.store.requests()
        else:
            try:
                requests = [self.store.request(self._resolve(request_id, workload_id))]
            except UnknownRequestError:
                return []
        if not with_detail:
            return self._with_fault([request_record(row) for row in requests])
        new = [row for row in requests if row["status"] == RequestStatus.New.value]
        taken = [row["request_id"] for row in requests if row["status"] != RequestStatus.New.value]
        tasks = self.store.tasks(taken)
        counts = self.store.job_counts([task["task_id"] for task in tasks])
        by_id = {row["request_id"]: row for row in requests}
        records = [new_request_record(row) for row in new]
        records += [task_record(by_id[task["request_id"]], task, counts[task["task_id"]]) for task in tasks]
        return self._with_fault(records)

    def _with_fault(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Put the engine's fault (disk full...) in the errors of the requests still running."""
        fault = self.engine.fault
        if fault:
            for record in records:
                if record["status"] not in TERMINAL_REQUESTS:
                    record["errors"] = fault
        return records

    def local_status(self) -> dict[str, Any]:
        """Return the engine's condition (``panda_local status``; not an iDDS command)."""
        return self.engine.health()

    def get_contents_output_ext(
        self,
        request_id: Any = None,
        workload_id: Any = None,
        transform_id: Any = None,
        group_by_jedi_task_id: bool = False,
    ) -> dict[int, list[dict[str, Any]]]:
        """Return one record per job (content and PanDA job), keyed by transform id."""
        try:
            found = self._resolve(request_id, workload_id)
        except UnknownRequestError:
            return {}
        tasks = self.store.tasks([found])
        if workload_id not in (None, ""):
            tasks = [task for task in tasks if task["workload_id"] == int(workload_id)]
        if transform_id not in (None, ""):
            tasks = [task for task in tasks if task["task_id"] == int(transform_id)]
        return group_contents(tasks, self.store.jobs_with_last_attempt, bool(group_by_jedi_task_id))

    def abort(self, request_id: Any = None, workload_id: Any = None) -> list:
        """Cancel a request; running attempts are killed before the reply."""
        try:
            found = self._resolve(request_id, workload_id)
        except UnknownRequestError:
            return NO_MATCH_REQUESTS
        self.engine.abort(found)
        return COMMAND_REGISTERED

    def retry(self, request_id: Any = None, workload_id: Any = None) -> list:
        """Run the failed and missing jobs of an ended request again."""
        try:
            found = self._resolve(request_id, workload_id)
        except UnknownRequestError:
            return NO_MATCH_REQUESTS
        try:
            self.engine.retry(found)
        except RetryRefusedError as exc:
            raise CallError(str(exc)) from None
        return COMMAND_REGISTERED

    def call(self, name: str) -> Callable[..., Any] | None:
        """Return the verb called ``name`` (`None` if it is not one)."""
        if name.startswith("_") or name in ("call",):
            return None
        method = getattr(self, name, None)
        return method if callable(method) else None
