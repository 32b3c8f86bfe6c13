# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The iDDS ``ClientManager`` verbs the embedded engine serves through the relay.

`Verbs` answers each call the plugin makes (submit, submit_build,
update_build_request, get_requests, get_contents_output_ext, abort, retry, ping)
from the local store, with the record shapes and the replies to unknown requests of the real iDDS.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from idds.common.constants import RequestStatus

from ...errors import BuildRefusedError, IntakeError, RetryRefusedError, UnknownRequestError, VerbCallError
from ...identity import relay_user_name, token_dn
from ..core.job_states import TERMINAL_REQUEST_STATES as TERMINAL_REQUESTS
from ..engine.build_requests import idds_error_text
from ..engine.engine_thread import LocalPanda
from .build_verbs import submit_build, update_build
from .idds_replies import group_contents, new_request_record, request_record, task_record

__all__ = ["COMMAND_REGISTERED", "NO_MATCH_REQUESTS", "Verbs"]

_LOG = logging.getLogger(__name__)


COMMAND_REGISTERED = [[0, {"status": 0, "message": "Command registered successfully"}]]
"""What iDDS answers to ``abort`` and ``retry``."""

NO_MATCH_REQUESTS = [[-1, {"status": -1, "message": "No match requests"}]]
"""What iDDS answers to ``abort`` and ``retry`` of an unknown request (``get_requests``: ``[]``,
``get_contents_output_ext``: ``{}``)."""


def _request_id(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise VerbCallError(f"request_id must be an integer, got {value!r}") from None


class Verbs:
    """The ``ClientManager`` methods the local PanDA serves.

    Parameters
    ----------
    engine : `LocalPanda`
        The engine behind them.
    caller : `str`, optional
        The identity requests are recorded under: like the real relay, the server names the
        owner from the caller's credential (`for_caller`, from each request's token), whatever
        ``username`` the client passes.
    """

    def __init__(self, engine: LocalPanda, caller: str | None = None) -> None:
        self.engine = engine
        self.store = engine.store
        self.caller = caller

    def for_caller(self, claims: dict[str, Any]) -> Verbs:
        """Return these verbs for the caller whose token has ``claims`` (as the relay names it).

        Parameters
        ----------
        claims : `dict` [`str`, `typing.Any`]
            Claims of the caller's checked token.
        """
        dn = token_dn(claims)
        return Verbs(self.engine, caller=relay_user_name(dn) if dn else self.caller)

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
        """Create a request (or keep a workflow step, returning 0).

        Parameters
        ----------
        workflow : `idds.workflowv2.workflow.Workflow`
            The iDDS workflow, or one step of a split workflow.
        username : `str`, optional
            User named by the client; the token's user wins when the relay knows it.
        userdn : `str`, optional
            Accepted as iDDS accepts it; not used.
        use_dataset_name : `bool`, optional
            Accepted as iDDS accepts it; not used.
        """
        if not hasattr(workflow, "get_internal_id"):
            raise VerbCallError(f"submit expects an iDDS Workflow, got {type(workflow).__name__}")
        try:
            return self.engine.submit(workflow, username=self.caller or username)
        except IntakeError as exc:
            raise VerbCallError(str(exc)) from None

    def submit_build(
        self,
        workflow: Any,
        username: str | None = None,
        userdn: str | None = None,
        use_dataset_name: bool = True,
    ) -> int:
        """Create a build request (remote build): its one job builds the workflow on the worker.

        Parameters
        ----------
        workflow : `idds.workflowv2.workflow.Workflow`
            The build workflow: one signed work with one job.
        username : `str`, optional
            User named by the client; the token's user wins when the relay knows it.
        userdn : `str`, optional
            Accepted as iDDS accepts it; not used.
        use_dataset_name : `bool`, optional
            Accepted as iDDS accepts it; not used.
        """
        if not hasattr(workflow, "get_internal_id"):
            raise VerbCallError(f"submit_build expects an iDDS Workflow, got {type(workflow).__name__}")
        try:
            return submit_build(self.engine, workflow, username=self.caller or username)
        except IntakeError as exc:
            raise VerbCallError(str(exc)) from None

    def update_build_request(self, request_id: Any, signature: Any, workflow: Any) -> dict[str, str]:
        """Take the workflow a build job made; the build request runs it (same id).

        Parameters
        ----------
        request_id : `int` or `str`
            The build request.
        signature : `str`
            The build work's signature, which must match the one recorded at submission.
        workflow : `idds.workflowv2.workflow.Workflow`
            The workflow the build job prepared.
        """
        found = _request_id(request_id)
        if found is None or not hasattr(workflow, "get_internal_id"):
            raise VerbCallError("signature and workflow are required")
        try:
            update_build(self.engine, found, str(signature), workflow)
        except UnknownRequestError:
            raise VerbCallError(idds_error_text(f"Request {found} is not found")) from None
        except (BuildRefusedError, IntakeError) as exc:
            raise VerbCallError(str(exc)) from None
        return {"request_id": str(found)}

    def _resolve(self, request_id: Any, workload_id: Any) -> int:
        found = _request_id(request_id)
        if found is None and workload_id not in (None, ""):
            found = self.store.request_for_workload(int(workload_id))
            if found is None:
                raise VerbCallError(f"No request has a task with workload_id {workload_id}")
        if found is None:
            raise VerbCallError("Both request_id and workload_id are None. One of them should not be None")
        self.store.request(found)
        return found

    def get_requests(
        self,
        request_id: Any = None,
        workload_id: Any = None,
        with_detail: bool = False,
        with_metadata: bool = False,
    ) -> list[dict[str, Any]]:
        """Return request records, or one record per task with ``with_detail``.

        Parameters
        ----------
        request_id : `int` or `str`, optional
            The request; with neither id, every request.
        workload_id : `int` or `str`, optional
            PanDA task id of one of the request's tasks, used when ``request_id`` is not given.
        with_detail : `bool`, optional
            Return one record per task instead of one per request.
        with_metadata : `bool`, optional
            Accepted as iDDS accepts it; records never carry the workflow here.
        """
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
        """Return one record per job (content and PanDA job), keyed by transform id.

        Parameters
        ----------
        request_id : `int` or `str`, optional
            The request.
        workload_id : `int` or `str`, optional
            PanDA task id: only that task's jobs (it names the request when ``request_id`` is not given).
        transform_id : `int` or `str`, optional
            Only the jobs of this transform (task).
        group_by_jedi_task_id : `bool`, optional
            Key the records by PanDA task id instead of transform id.
        """
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
        """Cancel a request; running attempts are killed before the reply.

        Parameters
        ----------
        request_id : `int` or `str`, optional
            The request.
        workload_id : `int` or `str`, optional
            PanDA task id of one of its tasks, used when ``request_id`` is not given.
        """
        try:
            found = self._resolve(request_id, workload_id)
        except UnknownRequestError:
            return NO_MATCH_REQUESTS
        self.engine.abort(found)
        return COMMAND_REGISTERED

    def retry(self, request_id: Any = None, workload_id: Any = None) -> list:
        """Run the failed and missing jobs of an ended request again.

        Parameters
        ----------
        request_id : `int` or `str`, optional
            The request.
        workload_id : `int` or `str`, optional
            PanDA task id of one of its tasks, used when ``request_id`` is not given.
        """
        try:
            found = self._resolve(request_id, workload_id)
        except UnknownRequestError:
            return NO_MATCH_REQUESTS
        try:
            self.engine.retry(found)
        except RetryRefusedError as exc:
            raise VerbCallError(str(exc)) from None
        return COMMAND_REGISTERED

    def call(self, name: str) -> Callable[..., Any] | None:
        """Return the verb called ``name`` (`None` if it is not one).

        Parameters
        ----------
        name : `str`
            Name of the iDDS command the relay received.
        """
        if name.startswith("_") or name in ("call", "for_caller"):
            return None
        method = getattr(self, name, None)
        return method if callable(method) else None
