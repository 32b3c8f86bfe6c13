# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The single table from iDDS statuses to `~lsst.ctrl.bps.WmsStates`.

``bps status``, ``bps report`` and every other verb read states through this
module, so a run never shows SUCCEEDED in one place and FAILED in another.

Meaning of the run states (`REQUEST_STATES`):

- ``Finished`` → SUCCEEDED: every job succeeded.
- ``SubFinished`` → FAILED: the run ended with some jobs failed or missing
  (per-job counts in the report say how many); a run is only SUCCEEDED when
  everything succeeded, so that ``bps status`` can be trusted in scripts.
- ``Failed``, ``Expired`` → FAILED; ``Cancelled`` → DELETED; ``Suspended`` → HELD.
- Every other status, from ``New`` to ``Cancelling``, is a live run: RUNNING.
  Campaign managers (lsst-dm/cm-service) treat PENDING, READY or HELD as a
  dead run, and the published plugin says RUNNING, so a run waiting in iDDS's
  queue or throttled reads RUNNING.  Tasks (`TRANSFORM_STATES`) and jobs
  (`JOB_STATES`) keep their detailed states.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from idds.common.constants import ContentStatus, RequestStatus, TransformStatus
from lsst.ctrl.bps import WmsStates

__all__ = [
    "STATE_COLOURS",
    "JOB_STATES",
    "REQUEST_STATES",
    "TERMINAL_REQUEST_STATES",
    "TRANSFORM_STATES",
    "job_state",
    "request_state",
    "status_name",
    "transform_state",
]

REQUEST_STATES: dict[str, WmsStates] = {
    "New": WmsStates.RUNNING,
    "Ready": WmsStates.RUNNING,
    "Building": WmsStates.RUNNING,
    "Built": WmsStates.RUNNING,
    "Throttling": WmsStates.RUNNING,
    "Transforming": WmsStates.RUNNING,
    "Running": WmsStates.RUNNING,  # a work's name for it (WorkStatus), which the published tests send
    "Extend": WmsStates.RUNNING,
    "ToResume": WmsStates.RUNNING,
    "Resuming": WmsStates.RUNNING,
    "ToFinish": WmsStates.RUNNING,
    "ToForceFinish": WmsStates.RUNNING,
    "Terminating": WmsStates.RUNNING,
    "ToClose": WmsStates.RUNNING,
    "ToExpire": WmsStates.RUNNING,
    "Expiring": WmsStates.RUNNING,
    "ToCancel": WmsStates.RUNNING,
    "Cancelling": WmsStates.RUNNING,
    "ToSuspend": WmsStates.RUNNING,
    "Suspending": WmsStates.RUNNING,
    "Finished": WmsStates.SUCCEEDED,
    "SubFinished": WmsStates.FAILED,
    "Failed": WmsStates.FAILED,
    "Expired": WmsStates.FAILED,
    "Cancelled": WmsStates.DELETED,
    "Suspended": WmsStates.HELD,
}
"""Request (run) status → run state: a live run is RUNNING, HELD only once suspended."""

TRANSFORM_STATES: dict[str, WmsStates] = {
    "New": WmsStates.PENDING,
    "Ready": WmsStates.PENDING,
    "Building": WmsStates.PENDING,
    "Built": WmsStates.PENDING,
    "Throttling": WmsStates.PENDING,
    "Queue": WmsStates.PENDING,
    "WaitForTrigger": WmsStates.PENDING,
    "Transforming": WmsStates.RUNNING,
    "Running": WmsStates.RUNNING,  # a work's name for it (WorkStatus), which the published tests send
    "Extend": WmsStates.RUNNING,
    "ToResume": WmsStates.RUNNING,
    "Resuming": WmsStates.RUNNING,
    "ToFinish": WmsStates.RUNNING,
    "ToForceFinish": WmsStates.RUNNING,
    "Terminating": WmsStates.RUNNING,
    "ToClose": WmsStates.RUNNING,
    "ToExpire": WmsStates.RUNNING,
    "Expiring": WmsStates.RUNNING,
    "Finished": WmsStates.SUCCEEDED,
    "SubFinished": WmsStates.FAILED,
    "Failed": WmsStates.FAILED,
    "Expired": WmsStates.FAILED,
    "ToCancel": WmsStates.DELETED,
    "Cancelling": WmsStates.DELETED,
    "Cancelled": WmsStates.DELETED,
    "ToSuspend": WmsStates.HELD,
    "Suspending": WmsStates.HELD,
    "Suspended": WmsStates.HELD,
}
"""Transform (task) status → task state, detailed: a task waiting in iDDS is PENDING."""

TERMINAL_REQUEST_STATES = frozenset({WmsStates.SUCCEEDED, WmsStates.FAILED, WmsStates.DELETED})
"""Run states after which nothing more happens without a restart."""

JOB_STATES: dict[str, WmsStates] = {
    "New": WmsStates.UNREADY,
    "Activated": WmsStates.READY,
    "PreProcessing": WmsStates.PENDING,
    "Processing": WmsStates.RUNNING,
    "Mapped": WmsStates.PENDING,
    "Available": WmsStates.SUCCEEDED,
    "FakeAvailable": WmsStates.SUCCEEDED,
    "SubAvailable": WmsStates.FAILED,
    "FinalSubAvailable": WmsStates.FAILED,
    "Failed": WmsStates.FAILED,
    "FinalFailed": WmsStates.FAILED,
    "Lost": WmsStates.FAILED,
    "Missing": WmsStates.PRUNED,
    "Deleted": WmsStates.DELETED,
    "Cancelled": WmsStates.DELETED,
}
"""Content (job) status → job state."""


def status_name(status: Any, enum_class: type[Enum] = RequestStatus) -> str:
    """Return the name of an iDDS status given as an enum, a name or a number.

    Parameters
    ----------
    status : `enum.Enum`, `str`, `int` or `dict`
        As it arrives from iDDS (an enum after iDDS-JSON decoding, or its
        ``{"attributes": {"_name_": ...}}`` form, a name, or a value).
    enum_class : `type`, optional
        The iDDS enum a bare number belongs to.

    Returns
    -------
    name : `str`
        The status name, or ``""`` when it cannot be recognised.
    """
    if isinstance(status, Enum):
        return status.name
    if isinstance(status, dict):
        return str(status.get("attributes", {}).get("_name_", ""))
    if isinstance(status, str):
        return status.split(".")[-1]
    if isinstance(status, int):
        try:
            return enum_class(status).name
        except ValueError:
            return ""
    return ""


def request_state(status: Any) -> WmsStates:
    """Return the run state of an iDDS request status (UNKNOWN if unrecognised).

    Parameters
    ----------
    status : `idds.common.constants.RequestStatus`, `str`, `int` or `dict`
        Request status in any form `status_name` accepts.
    """
    return REQUEST_STATES.get(status_name(status), WmsStates.UNKNOWN)


def transform_state(status: Any) -> WmsStates:
    """Return the task state of an iDDS transform status (UNKNOWN if unrecognised).

    Parameters
    ----------
    status : `idds.common.constants.TransformStatus`, `str`, `int` or `dict`
        Transform status in any form `status_name` accepts.
    """
    return TRANSFORM_STATES.get(status_name(status, TransformStatus), WmsStates.UNKNOWN)


def job_state(status: Any) -> WmsStates:
    """Return the job state of an iDDS content status (UNKNOWN if unrecognised).

    Parameters
    ----------
    status : `idds.common.constants.ContentStatus`, `str`, `int` or `dict`
        Content (job) status in any form `status_name` accepts.
    """
    return JOB_STATES.get(status_name(status, ContentStatus), WmsStates.UNKNOWN)


STATE_COLOURS = {
    WmsStates.UNREADY: "#e0e0e0",
    WmsStates.READY: "#e0e0e0",
    WmsStates.PENDING: "#fff3b0",
    WmsStates.RUNNING: "#b3d4ff",
    WmsStates.SUCCEEDED: "#b7e4c7",
    WmsStates.FAILED: "#f4a6a6",
    WmsStates.PRUNED: "#ffd6a5",
    WmsStates.DELETED: "#cfcfcf",
    WmsStates.HELD: "#e4c1f9",
    WmsStates.UNKNOWN: "#ffffff",
    WmsStates.MISFIT: "#ffffff",
}
"""Colours of the states in the notebook table and the local PanDA's monitor pages."""
