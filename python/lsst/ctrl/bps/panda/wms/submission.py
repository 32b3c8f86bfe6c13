# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Submitting a prepared workflow once, and finding its request id again.

iDDS submission is not idempotent (each submit makes a new request), so the
request id is recorded in the submit directory and a second submission of the
same prepared workflow is refused, naming the existing request.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
from pathlib import Path
from typing import Any

from ..atomic_file import write_atomically
from ..errors import (
    AlreadySubmittedError,
    NotPreparedError,
    RequestNotRecordedError,
    RunIdError,
    SubmissionRefusedError,
    TaskTooLargeError,
)
from ..gc_pause import gc_paused
from ..prepare.prepared_workflow import PandaBpsWmsWorkflow
from .idds_port import IddsPort

__all__ = [
    "REQUEST_FILE",
    "check_task_sizes",
    "record_request",
    "recorded_request",
    "recorded_request_ids",
    "request_id_of",
    "submit_steps",
    "submit_workflow",
]

_LOG = logging.getLogger(__name__)

REQUEST_FILE = "panda_request.json"
"""Where the request id and submission time are recorded, in the submit directory."""


def recorded_request(submit_dir: str | os.PathLike) -> dict[str, Any] | None:
    """Return what submit recorded in a submit directory, or `None`.

    Parameters
    ----------
    submit_dir : `str` or `os.PathLike`
        Submit directory of a run.
    """
    path = Path(submit_dir) / REQUEST_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def recorded_request_ids(root: str | os.PathLike, limit: int = 100_000) -> set[int]:
    """Return the request ids recorded in the submit directories under ``root``.

    Parameters
    ----------
    root : `str` or `os.PathLike`
        Where submit directories live (bps's default ``submitPath`` is under ``./submit``).
    limit : `int`, optional
        Stop after this many recorded requests (bounds the walk of a huge tree).

    Returns
    -------
    ids : `set` [`int`]
        The ids; unreadable records are skipped.
    """
    ids: set[int] = set()
    if not Path(root).is_dir():
        return ids
    for path in Path(root).rglob(REQUEST_FILE):
        try:
            ids.add(int(json.loads(path.read_text())["request_id"]))
        except (OSError, ValueError, KeyError, TypeError):
            _LOG.debug("Unreadable request record %s skipped", path)
        if len(ids) >= limit:
            break
    return ids


def request_id_of(wms_id: Any) -> int:
    """Return the iDDS request id given as a number or as a submit directory.

    Parameters
    ----------
    wms_id : `int` or `str`
        Request id, or the submit directory of a submitted run (as with the
        HTCondor plugin, ``bps report --id <submit dir>``).

    Returns
    -------
    request_id : `int`
        The request id.

    Raises
    ------
    RunIdError
        Raised if ``wms_id`` is neither a number nor a submitted run's directory.
    """
    text = str(wms_id).strip()
    if text.isdigit():
        return int(text)
    if os.path.isdir(text):
        recorded = recorded_request(text)
        if recorded is None:
            raise RunIdError(f"{text} has no {REQUEST_FILE}: was this workflow submitted to PanDA?")
        return int(recorded["request_id"])
    raise RunIdError(f"{wms_id!r} is neither a PanDA request id nor a submit directory")


def check_task_sizes(idds_workflow: Any, max_request_length: int) -> None:
    """Refuse a workflow with a task too large for one request step.

    iDDS splits a large request into steps of whole tasks; a task whose compressed dependency
    map alone exceeds ``maxRequestLength`` cannot be sent.

    Parameters
    ----------
    idds_workflow : `idds.workflowv2.workflow.Workflow`
        The iDDS workflow about to be submitted.
    max_request_length : `int`
        Largest request step iDDS accepts, in bytes (``maxRequestLength``).

    Raises
    ------
    TaskTooLargeError
        Raised naming the task, its size and what to change.
    """
    for work in idds_workflow.template.works.values():
        size = len(work.zip_data(work.dependency_map))
        if size > max_request_length:
            raise TaskTooLargeError(
                f"Task {work.task_name} needs {size} bytes, more than maxRequestLength "
                f"({max_request_length}): a task cannot be split across request steps. Lower "
                "maxJobsPerTask or raise maxRequestLength."
            )


def submit_workflow(
    workflow: PandaBpsWmsWorkflow,
    port: IddsPort,
    *,
    resubmit: bool = False,
) -> int:
    """Submit a prepared workflow and record its request id.

    Parameters
    ----------
    workflow : `PandaBpsWmsWorkflow`
        The prepared workflow (files already staged).
    port : `IddsPort`
        The way to iDDS.
    resubmit : `bool`, optional
        Submit even though this submit directory already holds a request.

    Returns
    -------
    request_id : `int`
        The new request id.

    Raises
    ------
    AlreadySubmittedError
        Raised if the workflow was submitted before and ``resubmit`` is false.
    """
    submit_dir = Path(workflow.submit_path) if workflow.submit_path else None
    if submit_dir is not None and not resubmit:
        previous = recorded_request(submit_dir)
        if previous is not None:
            raise AlreadySubmittedError(
                f"This workflow was already submitted as request {previous['request_id']} "
                f"(recorded in {submit_dir / REQUEST_FILE}). Use `bps restart --id {previous['request_id']}` "
                f"to rerun failures, or delete {REQUEST_FILE} to submit it again as a new request."
            )
    idds_workflow = workflow.idds_workflow
    if idds_workflow is None:
        raise NotPreparedError(f"Workflow {workflow.name} has no iDDS workflow: prepare it before submitting")
    if workflow.max_request_length and submit_dir is not None:
        submit_steps(idds_workflow, workflow.max_request_length, submit_dir, port)
    with gc_paused():  # serializing a large workflow builds millions of short-lived dicts
        request_id = port.submit(idds_workflow)
    if request_id <= 0:
        raise SubmissionRefusedError(
            f"iDDS returned no request id ({request_id}) for workflow {workflow.name}"
        )
    workflow.run_id = str(request_id)
    _LOG.info("Submitted %s as iDDS request %d", workflow.name, request_id)
    if submit_dir is not None:
        record = {"request_id": request_id, "name": workflow.name}
        record_request(submit_dir, record, port, what=f"Workflow {workflow.name}")
    return request_id


def submit_steps(idds_workflow: Any, max_request_length: int, submit_dir: Path, port: IddsPort) -> None:
    """Submit a large workflow's steps, after refusing a task too large for one step.

    Parameters
    ----------
    idds_workflow : `idds.workflowv2.workflow.Workflow`
        The workflow to split into steps of whole tasks.
    max_request_length : `int`
        ``maxRequestLength``: the most bytes of one step.
    submit_dir : `pathlib.Path`
        The submit directory (holds the steps' request cache).
    port : `IddsPort`
        The way to iDDS.

    Raises
    ------
    TaskTooLargeError
        Raised by `check_task_sizes` for a task that does not fit in one step.
    SubmissionRefusedError
        Raised if iDDS refuses a step.
    """
    check_task_sizes(idds_workflow, max_request_length)
    steps = idds_workflow.split_workflow_to_steps(
        request_cache=str(submit_dir / "idds_request_cache"), max_request_length=max_request_length
    )
    for number, step in enumerate(steps, 1):
        _LOG.info("Submitting workflow step %d of %d (%s)", number, len(steps), step.step_name)
        result = port.submit(step)
        if result != 0:
            raise SubmissionRefusedError(
                f"iDDS answered {result} for workflow step {step.step_name}; expected 0"
            )


def record_request(submit_dir: Path, record: dict[str, Any], port: IddsPort, *, what: str) -> None:
    """Write the submit directory's request record (`REQUEST_FILE`) for a submitted request.

    Parameters
    ----------
    submit_dir : `pathlib.Path`
        The submit directory.
    record : `dict` [`str`, `~typing.Any`]
        What to record (``request_id`` and ``name`` at least); the submission time, the PanDA URL
        and the iDDS server are added.
    port : `IddsPort`
        The way to iDDS the request went through.
    what : `str`
        What was submitted, for the error message (``"Workflow <name>"``).

    Raises
    ------
    RequestNotRecordedError
        Raised if the record cannot be written, naming the request so that it is not lost.
    """
    request_id = record["request_id"]
    full_record = {
        **record,
        "submitted_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "panda_url": os.environ.get("PANDA_URL_SSL") or os.environ.get("PANDA_URL"),
        "idds_server": port.idds_server,
    }
    try:
        write_atomically(submit_dir / REQUEST_FILE, json.dumps(full_record, indent=1))
    except OSError as error:
        # The request exists: say which, so that it is not lost (or submitted again).
        raise RequestNotRecordedError(
            f"{what} was submitted as request {request_id}, but recording it in "
            f"{submit_dir / REQUEST_FILE} failed: {error}. Use --id {request_id} with bps verbs."
        ) from error
