# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""States of the local PanDA's jobs, and how they read as iDDS states.

Jobs carry a `JobState`; tasks and requests carry the iDDS enums
(`~idds.common.constants.TransformStatus`, `~idds.common.constants.RequestStatus`)
as integers.  Every mapping between the two worlds lives here, in tables.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from idds.common.constants import ContentStatus, RequestStatus, TransformStatus

__all__ = [
    "ACTIVE_JOB_STATES",
    "CONTENT_STATUS",
    "PANDA_JOB_STATUS",
    "TERMINAL_REQUEST_STATES",
    "TERMINAL_TASK_STATES",
    "JobState",
    "request_status_for",
    "task_status_for",
]


class JobState(enum.IntEnum):
    """State of one job (one dependency-map entry) in the local PanDA."""

    WAITING = 0
    """Some parent job has not succeeded yet."""
    READY = 1
    """All parents succeeded; waits for a free slot."""
    RUNNING = 2
    """An attempt is running."""
    SUCCEEDED = 3
    """An attempt exited with 0."""
    FAILED = 4
    """Every allowed attempt failed (final)."""
    MISSING = 5
    """A parent failed for good, so this job cannot run (PRUNED)."""
    CANCELLED = 6
    """The request was aborted before the job succeeded."""
    HELD = 7
    """The job's task waits for its condition (the final job)."""


ACTIVE_JOB_STATES = (JobState.WAITING, JobState.READY, JobState.RUNNING, JobState.HELD)
"""States from which a job can still change without a retry."""

TERMINAL_TASK_STATES = frozenset(
    {
        TransformStatus.Finished,
        TransformStatus.SubFinished,
        TransformStatus.Failed,
        TransformStatus.Cancelled,
    }
)
"""Task states after which nothing of the task runs (until a retry)."""

TERMINAL_REQUEST_STATES = frozenset(
    {RequestStatus.Finished, RequestStatus.SubFinished, RequestStatus.Failed, RequestStatus.Cancelled}
)
"""Request states after which nothing of the request runs (until a retry)."""

CONTENT_STATUS: Mapping[JobState, ContentStatus] = {
    JobState.WAITING: ContentStatus.New,
    JobState.HELD: ContentStatus.New,
    JobState.READY: ContentStatus.Activated,
    JobState.RUNNING: ContentStatus.Processing,
    JobState.SUCCEEDED: ContentStatus.Available,
    JobState.FAILED: ContentStatus.FinalFailed,
    JobState.MISSING: ContentStatus.Missing,
    JobState.CANCELLED: ContentStatus.Cancelled,
}
"""How a job reads as an iDDS output content."""

PANDA_JOB_STATUS: Mapping[JobState, str] = {
    JobState.WAITING: "defined",
    JobState.HELD: "defined",
    JobState.READY: "activated",
    JobState.RUNNING: "running",
    JobState.SUCCEEDED: "finished",
    JobState.FAILED: "failed",
    JobState.MISSING: "closed",
    JobState.CANCELLED: "cancelled",
}
"""How a job reads as a PanDA job status (``jobStatus``)."""


def task_status_for(counts: Mapping[JobState, int]) -> TransformStatus:
    """Return the status of a task whose jobs are all terminal.

    Parameters
    ----------
    counts : `~collections.abc.Mapping` [`JobState`, `int`]
        Number of jobs of the task in each state.

    Returns
    -------
    status : `~idds.common.constants.TransformStatus`
        ``Finished`` when every job succeeded (or the task has none),
        ``Failed`` when none did, ``SubFinished`` otherwise.
    """
    succeeded = counts.get(JobState.SUCCEEDED, 0)
    total = sum(counts.values())
    if succeeded == total:
        return TransformStatus.Finished
    return TransformStatus.SubFinished if succeeded else TransformStatus.Failed


def request_status_for(task_states: list[TransformStatus], any_job_succeeded: bool) -> RequestStatus:
    """Return the status of a request whose tasks are all terminal.

    Parameters
    ----------
    task_states : `list` [`~idds.common.constants.TransformStatus`]
        Status of every task of the request.
    any_job_succeeded : `bool`
        Some job of the request succeeded.

    Returns
    -------
    status : `~idds.common.constants.RequestStatus`
        ``Finished`` when every task finished, ``Failed`` when no job
        succeeded, ``SubFinished`` otherwise.
    """
    if all(state == TransformStatus.Finished for state in task_states):
        return RequestStatus.Finished
    return RequestStatus.SubFinished if any_job_succeeded else RequestStatus.Failed
