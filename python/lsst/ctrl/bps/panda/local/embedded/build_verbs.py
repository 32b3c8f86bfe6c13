# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The embedded engine's build verbs: iDDS ``submit_build`` and ``update_build_request``.

The rows they write and the rules of a build request are in
`lsst.ctrl.bps.panda.local.engine.build_requests`.
"""

from __future__ import annotations

import logging
from typing import Any

from ..core.request_plan import plan_request
from ..engine.build_requests import accept_built_workflow, plan_build, record_build
from ..engine.engine_thread import LocalPanda

__all__ = ["submit_build", "update_build"]

_LOG = logging.getLogger(__name__)


def submit_build(engine: LocalPanda, workflow: Any, username: str | None = None) -> int:
    """Create a build request: one job that builds the workflow and hands it back (`update_build`).

    Parameters
    ----------
    engine : `LocalPanda`
        The engine that stores and runs the request.
    workflow : `idds.workflowv2.workflow.Workflow`
        The build workflow: one signed work with one job.
    username : `str`, optional
        User the request is created for.

    Raises
    ------
    IntakeError
        Raised if the workflow is not one signed work that can run here.
    """
    plan, signature = plan_build(workflow, username)
    with engine.exclusive():  # one transaction: the job exists only with the build variables
        request_id, _ = engine.store.add_request(
            plan, also=lambda conn, request_id, *_: record_build(conn, request_id, signature)
        )
    engine.wake()
    return request_id


def update_build(engine: LocalPanda, request_id: int, signature: str, workflow: Any) -> None:
    """Take the workflow a build job made: its tasks join the build request, which becomes Built.

    Parameters
    ----------
    engine : `LocalPanda`
        The engine that stores and runs the request.
    request_id : `int`
        The build request.
    signature : `str`
        Signature the build job sent.
    workflow : `idds.workflowv2.workflow.Workflow`
        The workflow the build job prepared.

    Raises
    ------
    BuildRefusedError
        Raised with iDDS's message (unknown request, wrong signature, already built).
    IntakeError
        Raised if the workflow cannot run here.
    """
    store = engine.store
    internal_id = str(workflow.get_internal_id())
    request = store.request(request_id)
    plan = plan_request(workflow, request["username"], lambda name: store.step_map(internal_id, name))
    with engine.exclusive():
        empty = store.extend_request(
            request_id, plan, lambda conn: accept_built_workflow(conn, request_id, signature)
        )
        if empty:
            engine.scheduler.settle_new_request(request_id, empty)
    _LOG.info("Build request %d got its workflow %s (%d tasks)", request_id, plan.name, len(plan.tasks))
    engine.wake()
