# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""PanDA's task/job REST API for the real iDDS daemons, and the endpoint of their notifier.

The daemons call PanDA through ``pandaclient`` (2.2.0), which sends every
call to ``scheme://host:port/api/v1/<module>/<method>`` of ``PANDA_URL_SSL``:
GET calls with their parameters in the query string (lists as repeated
keys), POST calls with a JSON body; each reply is panda-server's envelope
``{"success", "message", "data"}`` with datetimes as ``{"__datetime__": iso}``.
The calls and shapes served here are those of panda-server 1.0.4 that
iDDS 2.6.21's ``DomaPanDAWork`` and ``PandaSubmitterPoller`` make.  A call
this API does not serve is logged as a warning and answered 404 with a
failed envelope.

``POST /local/idds/messages`` takes the conductor's messages from
`~lsst.ctrl.bps.panda.local.idds.scripts.idds_notifier.LocalPandaNotifier` and does what
JEDI's message processor does with them: ``file_processing`` messages about
``input`` files release the held jobs of those files (status ``Available``)
or mark them missing (``Missing``); other messages are acknowledged.

Every call needs a bearer token this local PanDA signed (`early_auth.request_refusal`, the
check of the relay): the daemons' PanDA client and the notifier send the server's own token
(``<state dir>/token``, a JWT for its owner).
"""

from __future__ import annotations

import ast
import calendar
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, request

from ...errors import BadTaskParametersError
from .panda_tasks import PandaTasks

__all__ = ["API_PREFIX", "NOTIFIER_PATH", "panda_api_blueprint"]

_LOG = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
"""Where ``pandaclient`` sends PanDA API calls (``scheme://netloc`` of ``PANDA_URL_SSL`` + this)."""

NOTIFIER_PATH = "/local/idds/messages"
"""Where the iDDS conductor's notifier posts its messages."""

_TRUE = ("true", "1", "yes")


def _envelope(success: bool, message: str = "", data: Any = None, status: int = 200) -> Response:
    body = json.dumps({"success": success, "message": message, "data": data})
    return Response(body, status=status, mimetype="application/json")


def _arguments() -> dict[str, Any]:
    """Return the call's arguments: the JSON body of a POST, the query string of a GET."""
    if request.method == "POST":
        body = request.get_json(force=True, silent=True)
        return body if isinstance(body, dict) else {}
    return {key: values if len(values) > 1 else values[0] for key, values in request.args.lists()}


def _task_id(arguments: dict[str, Any]) -> int | None:
    try:
        return int(arguments.get("task_id"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _job_task_ids(value: Any) -> list[Any] | None:
    """Read ``job_task_ids``: a JSON list, or each pair as the text of a Python dict.

    pandaclient 2.2.0 sends a list of dicts in a GET query as repeated keys, each ``str(dict)``.
    """
    texts = value if isinstance(value, list) else [value]
    pairs: list[Any] = []
    for text in texts:
        if not isinstance(text, str):
            return None
        try:
            found = json.loads(text)
        except ValueError:
            try:
                found = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                return None
        pairs.extend(found if isinstance(found, list) else [found])
    return pairs


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() in _TRUE


def panda_api_blueprint(tasks: PandaTasks, refusal: Callable[[], Response | None]) -> Blueprint:
    """Return the blueprint of the PanDA task/job API and of the notifier endpoint.

    Parameters
    ----------
    tasks : `~lsst.ctrl.bps.panda.local.jedi.panda_tasks.PandaTasks`
        The PanDA tasks behind the API.
    refusal : `~collections.abc.Callable`
        Returns the response refusing the current request (missing or wrong bearer token),
        or `None` to serve it.
    """
    api = Blueprint("panda_api", __name__)

    @api.before_request
    def check_token() -> Response | None:
        return refusal()

    _add_task_submit(api, tasks)
    _add_task_reads(api, tasks)
    _add_job_and_event_reads(api, tasks)
    _add_task_commands(api, tasks)
    _add_notifier(api, tasks)
    _add_unhandled(api)
    return api


def _add_task_submit(api: Blueprint, tasks: PandaTasks) -> None:
    """Add the route that submits a PanDA task."""

    @api.post(f"{API_PREFIX}/task/submit")
    def submit() -> Response:
        arguments = _arguments()
        params = arguments.get("task_parameters")
        if isinstance(params, str):
            try:
                params = json.loads(params)
            except ValueError:
                params = None
        if not isinstance(params, dict):
            return _envelope(False, "task_parameters must be a JSON object of task parameters", 4)
        try:
            jedi_task_id, created = tasks.submit(params, user=params.get("userName"))
        except BadTaskParametersError as exc:
            _LOG.error("Refused PanDA task %s: %s", params.get("taskName"), exc)
            return _envelope(False, str(exc), 4)
        if not created:
            _LOG.info("Task %s was submitted before: jediTaskID=%d", params.get("taskName"), jedi_task_id)
        return _envelope(True, f"succeeded. new jediTaskID={jedi_task_id}", jedi_task_id)


def _add_task_reads(api: Blueprint, tasks: PandaTasks) -> None:
    """Add the routes that read PanDA tasks."""

    @api.get(f"{API_PREFIX}/task/get_status")
    def get_status() -> Response:
        task_id = _task_id(_arguments())
        if task_id is None:
            return _envelope(False, "task_id must be an integer")
        status = tasks.status(task_id)
        return _envelope(True, data=status) if status else _envelope(False, "Task not found")

    @api.get(f"{API_PREFIX}/task/get_details")
    def get_details() -> Response:
        arguments = _arguments()
        task_id = _task_id(arguments)
        details = None
        if task_id is not None:
            details = tasks.details(
                task_id,
                _flag(arguments.get("include_parameters")),
                _flag(arguments.get("include_status")),
            )
        if details is None:
            return _envelope(False, "Task not found or error retrieving the details")
        return _envelope(True, data=details)

    @api.get(f"{API_PREFIX}/task/get_datasets_and_files")
    def get_datasets_and_files() -> Response:
        arguments = _arguments()
        task_id = _task_id(arguments)
        types = arguments.get("dataset_types", ["input", "pseudo_input"])
        types = [types] if isinstance(types, str) else types
        found = tasks.datasets_and_files(task_id, types) if task_id is not None else None
        if found is None:
            return _envelope(False, "Task not found")
        return _envelope(True, data=found)

    @api.get(f"{API_PREFIX}/task/get_job_ids")
    def get_job_ids() -> Response:
        task_id = _task_id(_arguments())
        found = tasks.job_ids(task_id) if task_id is not None else None
        return _envelope(True, data=found) if found is not None else _envelope(False, "Task not found")

    @api.get(f"{API_PREFIX}/task/get_tasks_modified_since")
    def get_tasks_modified_since() -> Response:
        arguments = _arguments()
        try:
            since = calendar.timegm(time.strptime(str(arguments.get("since")), "%Y-%m-%d %H:%M:%S"))
        except ValueError:
            return _envelope(False, "since must be a time as '%Y-%m-%d %H:%M:%S'")
        return _envelope(True, data=tasks.modified_since(since, arguments.get("prod_source_label")))


def _add_job_and_event_reads(api: Blueprint, tasks: PandaTasks) -> None:
    """Add the routes that read PanDA jobs and the status of their event ranges."""

    @api.post(f"{API_PREFIX}/job/get_description")
    @api.post(f"{API_PREFIX}/job/get_description_incl_archive")
    def get_description() -> Response:
        job_ids = _arguments().get("job_ids")
        if not isinstance(job_ids, list):
            return _envelope(False, "job_ids must be a list of PanDA ids")
        try:
            return _envelope(True, data=tasks.job_records(job_ids))
        except (TypeError, ValueError):
            return _envelope(False, "job_ids must be a list of PanDA ids")

    @api.get(f"{API_PREFIX}/event/get_event_range_statuses")
    def get_event_range_statuses() -> Response:
        pairs = _job_task_ids(_arguments().get("job_task_ids"))
        if pairs is None:
            return _envelope(False, "job_task_ids must list {'task_id', 'panda_id'} pairs")
        return _envelope(True, data=tasks.event_statuses(pairs))


def _add_task_commands(api: Blueprint, tasks: PandaTasks) -> None:
    """Add the routes that kill, finish and retry PanDA tasks."""

    @api.post(f"{API_PREFIX}/task/kill")
    @api.post(f"{API_PREFIX}/task/finish")
    def kill_or_finish() -> Response:
        command = request.path.rsplit("/", 1)[-1]
        task_id = _task_id(_arguments())
        if task_id is None:
            return _envelope(False, "task_id must be an integer")
        code, message = tasks.kill(task_id, command)
        return _envelope(code == 0, message, code)

    @api.post(f"{API_PREFIX}/task/retry")
    def retry() -> Response:
        arguments = _arguments()
        task_id = _task_id(arguments)
        if task_id is None:
            return _envelope(False, "task_id must be an integer")
        if arguments.get("new_parameters"):
            _LOG.warning("Retry of PanDA task %d: new_parameters are ignored by the local PanDA", task_id)
        code, message = tasks.retry(task_id)
        return _envelope(True, message, code)


def _add_notifier(api: Blueprint, tasks: PandaTasks) -> None:
    """Add the endpoint of the iDDS conductor's notifier."""

    @api.post(NOTIFIER_PATH)
    def idds_messages() -> Response:
        messages = _arguments().get("messages")
        if not isinstance(messages, list):
            return _envelope(False, "messages must be a list", status=400)
        released = missing = 0
        for message in messages:
            content = message.get("msg_content") if isinstance(message, dict) else None
            if not isinstance(content, dict):
                continue
            if content.get("msg_type") == "file_processing" and content.get("relation_type") == "input":
                try:
                    jedi_task_id = int(content["workload_id"])
                except (KeyError, TypeError, ValueError):
                    _LOG.warning("iDDS message %s names no PanDA task", message.get("msg_id"))
                    continue
                done = tasks.release(jedi_task_id, content.get("files") or [])
                released, missing = released + done[0], missing + done[1]
        if released or missing:
            _LOG.info("iDDS messages: %d jobs released, %d marked missing", released, missing)
        return _envelope(True, data={"released": released, "missing": missing})


def _add_unhandled(api: Blueprint) -> None:
    """Add the route that answers the API calls the local PanDA does not serve (404)."""

    @api.route(f"{API_PREFIX}/<path:call>", methods=["GET", "POST", "PUT", "DELETE"])
    def unhandled(call: str) -> Response:
        _LOG.warning(
            "UNHANDLED PanDA API call %s %s (args %s): the local PanDA does not serve it",
            request.method,
            call,
            str(_arguments())[:300],
        )
        return _envelope(False, f"{call} is not served by the local PanDA", status=404)
