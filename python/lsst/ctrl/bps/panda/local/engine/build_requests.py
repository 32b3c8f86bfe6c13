# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Build requests in the local PanDA's store: plan, record, release (the rows, not the verbs).

A build request is an ordinary request whose one task runs the build job, plus a row in the
``builds`` table: the build work's signature, and when the built workflow arrived.  The
request is New until the build job starts, Building while it runs, Built once the job hands
its workflow back (whose tasks join the same request and run), then Transforming and onward
like any request (real iDDS: New → Building → Built → Transforming …).  A build job that ends
without handing a workflow back fails the request.

As in iDDS, the build job's command starts with ``export IDDS_BUILD_REQUEST_ID=<id>;export
IDDS_BUIL_SIGNATURE=<signature>;`` (what ``DomaPanDAWork`` writes into a PanDA task).
The verbs that create and complete them are in `lsst.ctrl.bps.panda.local.embedded.build_verbs`.
"""

from __future__ import annotations

import json
import logging
import shlex
import sqlite3
import time
from typing import Any

from idds.common.constants import RequestStatus

from ...errors import BuildRefusedError, IntakeError
from ..core.request_plan import RequestPlan, plan_request

__all__ = [
    "BUILD_JOB_INPUT",
    "NO_BUILD_WORKFLOW",
    "accept_built_workflow",
    "build_pending",
    "idds_error_text",
    "plan_build",
    "record_build",
]

_LOG = logging.getLogger(__name__)

BUILD_JOB_INPUT = "pseudo_file"
"""The input name iDDS gives the one job of a task without a dependency map."""


def idds_error_text(message: str) -> str:
    """Return the relay's text for an ``IDDSException`` of iDDS's REST ``request/build`` (HTTP 500).

    Parameters
    ----------
    message : `str`
        The message of the exception.
    """
    prefix = "An unknown IDDS exception occurred.: {}\nDetails: "
    return prefix + json.dumps({"msg": prefix + message})


NO_BUILD_WORKFLOW = "Core exception.: {}\nDetails: " + json.dumps({"msg": "'build_workflow'"})
"""What real iDDS answers when the request has no build workflow (any more): a second
``update_build_request`` of a built request, or one of a request that was never a build request."""


def plan_build(workflow: Any, username: str | None) -> tuple[RequestPlan, str]:
    """Plan a build request: one task of one job; return it with the build work's signature.

    Parameters
    ----------
    workflow : `idds.workflowv2.workflow.Workflow`
        The build workflow.
    username : `str` or `None`
        User the request is created for.

    Raises
    ------
    IntakeError
        Raised if the workflow is not one signed work (the build job could not hand back).
    """
    works = list((getattr(workflow, "template", workflow).works or {}).values())
    if len(works) != 1:
        raise IntakeError(f"A build workflow has exactly one work (the build task), got {len(works)}")
    signature = works[0].get_signature() if hasattr(works[0], "get_signature") else None
    if not signature:
        raise IntakeError(
            "The build work is not signed (call work.sign() before submit_build): its job could not "
            "hand the workflow back"
        )
    plan = plan_request(workflow, username, lambda name: None)
    task = plan.tasks[0]
    if not task.entries:
        task.entries = [{"name": BUILD_JOB_INPUT, "order_id": 0, "dependencies": []}]
    return plan, str(signature)


def record_build(conn: sqlite3.Connection, request_id: int, signature: str) -> None:
    """Mark a new request as a build request and give its job iDDS's build variables.

    Parameters
    ----------
    conn : `sqlite3.Connection`
        Connection inside the transaction that adds the request.
    request_id : `int`
        The new request.
    signature : `str`
        The build work's signature, which the handed-back workflow must bring.
    """
    conn.execute("INSERT INTO builds (request_id, signature) VALUES (?, ?)", (request_id, signature))
    prefix = f"export IDDS_BUILD_REQUEST_ID={request_id};"
    prefix += f"export IDDS_BUIL_SIGNATURE={shlex.quote(signature)}; "
    conn.execute("UPDATE tasks SET executable = ? || executable WHERE request_id = ?", (prefix, request_id))


def build_pending(conn: sqlite3.Connection, request_id: int) -> bool:
    """Return whether a request is a build request still waiting for its workflow.

    Parameters
    ----------
    conn : `sqlite3.Connection`
        Connection to the store's database.
    request_id : `int`
        The request.
    """
    row = conn.execute(
        "SELECT 1 FROM builds WHERE request_id = ? AND built_at IS NULL", (request_id,)
    ).fetchone()
    return row is not None


def accept_built_workflow(conn: sqlite3.Connection, request_id: int, signature: str) -> None:
    """Check a handed-back workflow may be taken (iDDS's checks), and mark the request Built.

    Parameters
    ----------
    conn : `sqlite3.Connection`
        Connection inside the transaction that adds the workflow's tasks.
    request_id : `int`
        The build request.
    signature : `str`
        Signature the build job sent.

    Raises
    ------
    BuildRefusedError
        Raised with iDDS's message for an unknown request, a wrong signature, or a request that
        already has its workflow.
    """
    request = conn.execute("SELECT status FROM requests WHERE request_id = ?", (request_id,)).fetchone()
    build = conn.execute(
        "SELECT signature, built_at FROM builds WHERE request_id = ?", (request_id,)
    ).fetchone()
    if request is None:
        raise BuildRefusedError(idds_error_text(f"Request {request_id} is not found"))
    if build is None or build["built_at"] is not None:
        # iDDS replaces the request's metadata with the built workflow, so the build workflow is gone.
        raise BuildRefusedError(NO_BUILD_WORKFLOW)
    status = RequestStatus(request["status"])
    if status in (RequestStatus.Cancelled, RequestStatus.Failed):
        # Real iDDS would take it and set the request Built again; here an ended request stays ended.
        raise BuildRefusedError(
            f"Request {request_id} has ended ({status.name}): the local PanDA does not take its workflow; "
            "submit again"
        )
    if build["signature"] != signature:
        raise BuildRefusedError(
            idds_error_text(
                f"Request (request_id: {request_id}) has a different "
                f"signature({signature} != {build['signature']})"
            )
        )
    now = time.time()
    conn.execute("UPDATE builds SET built_at = ? WHERE request_id = ?", (now, request_id))
    conn.execute(
        "UPDATE requests SET status = ?, updated_at = ? WHERE request_id = ?",
        (RequestStatus.Built.value, now, request_id),
    )
