# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Retry of an ended request: failed, missing and cancelled jobs run again.

Each retried job gets a fresh budget of attempts (its task's ``maxattempt``);
its parents that succeeded stay done.  A gated task (the final job) whose
condition involves a task with retried jobs is held again, all its jobs
included, and released when its condition holds anew: after a successful
retry the final job has run on the complete outputs.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Mapping

from idds.common.constants import RequestStatus, TransformStatus

from ...errors import RetryRefusedError, UnknownRequestError
from ..core.job_states import TERMINAL_REQUEST_STATES, JobState
from ..state.schema import create_retry_jobs_table
from .scheduler import Scheduler

__all__ = ["hold_request_again", "retry_request"]

_LOG = logging.getLogger(__name__)


def retry_request(scheduler: Scheduler, request_id: int) -> int:
    """Put the failed, missing and cancelled jobs of an ended request back to run.

    Every gated task whose condition involves a task with retried jobs
    is held again (all its jobs, with fresh budgets) and released when
    its condition holds anew.

    Parameters
    ----------
    scheduler : `~lsst.ctrl.bps.panda.local.engine.scheduler.Scheduler`
        The scheduling rules (and their store).
    request_id : `int`
        The request.

    Returns
    -------
    count : `int`
        Number of jobs that will run again.

    Raises
    ------
    UnknownRequestError
        Raised if there is no such request.
    RetryRefusedError
        Raised if the request has not ended.
    """
    now = time.time()
    with scheduler.store.transaction() as conn:
        _check_ended(conn, request_id)
        reset = conn.execute(
            "SELECT job_id, task_id FROM jobs WHERE request_id = ? AND status IN (?, ?, ?)",
            (request_id, JobState.FAILED, JobState.MISSING, JobState.CANCELLED),
        ).fetchall()
        if not reset:
            return 0
        affected = {row["task_id"] for row in reset}
        regated = _gated_tasks_to_hold(conn, request_id, affected)
        _reset_jobs(conn, [row["job_id"] for row in reset], regated, now)
        statuses = {
            task_id: TransformStatus.New if task_id in regated else TransformStatus.Transforming
            for task_id in affected
        }
        _reopen(conn, request_id, statuses, now)
        to_settle = []
        for task_id in sorted(regated):
            to_settle.extend(scheduler.open_gate(conn, task_id))
        scheduler.settle(conn, to_settle, request_id)
        count = conn.execute("SELECT COUNT(*) FROM retry_jobs").fetchone()[0]
    _LOG.info("Request %d: %d jobs will run again", request_id, count)
    return count


def hold_request_again(
    scheduler: Scheduler, request_id: int, also: Callable[[sqlite3.Connection], None] | None = None
) -> int:
    """Hold every job of an ended request again, those that succeeded included.

    Each job gets a fresh budget of attempts and stays held until released
    (the ``idds`` engine's final task re-run after a retry of its workflow,
    `~lsst.ctrl.bps.panda.local.jedi.final_reruns`).

    Parameters
    ----------
    scheduler : `~lsst.ctrl.bps.panda.local.engine.scheduler.Scheduler`
        The scheduling rules (and their store).
    request_id : `int`
        The request.
    also : `~collections.abc.Callable`, optional
        Called with the connection inside the same transaction (what else must change with it).

    Returns
    -------
    count : `int`
        Number of jobs held.

    Raises
    ------
    UnknownRequestError, RetryRefusedError
        As `retry_request`.
    """
    now = time.time()
    with scheduler.store.transaction() as conn:
        _check_ended(conn, request_id)
        task_ids = {
            row[0] for row in conn.execute("SELECT task_id FROM tasks WHERE request_id = ?", (request_id,))
        }
        _reset_jobs(conn, [], task_ids, now)
        _reopen(conn, request_id, dict.fromkeys(task_ids, TransformStatus.Transforming), now)
        if also is not None:
            also(conn)
        return int(conn.execute("SELECT COUNT(*) FROM retry_jobs").fetchone()[0])


def _reopen(
    conn: sqlite3.Connection, request_id: int, statuses: Mapping[int, TransformStatus], now: float
) -> None:
    """Give the tasks their new (unfinished) statuses and make the request run again."""
    conn.executemany(
        "UPDATE tasks SET status = ?, finished_at = NULL, updated_at = ? WHERE task_id = ?",
        [(status.value, now, task_id) for task_id, status in statuses.items()],
    )
    conn.execute(
        "UPDATE requests SET status = ?, updated_at = ? WHERE request_id = ?",
        (RequestStatus.Transforming.value, now, request_id),
    )


def _check_ended(conn: sqlite3.Connection, request_id: int) -> None:
    """Raise unless the request exists and has ended."""
    request = conn.execute("SELECT status FROM requests WHERE request_id = ?", (request_id,)).fetchone()
    if request is None:
        raise UnknownRequestError(request_id)
    status = RequestStatus(request["status"])
    if status not in TERMINAL_REQUEST_STATES:
        raise RetryRefusedError(
            f"Request {request_id} is {status.name}; retry applies once it has ended (abort it first)"
        )


def _gated_tasks_to_hold(conn: sqlite3.Connection, request_id: int, affected: set[int]) -> set[int]:
    """Return the gated tasks whose condition involves an affected task; add them to ``affected``."""
    gate_conditions: dict[int, set[int]] = {}
    for task_id, cond_task_id in conn.execute(
        "SELECT g.task_id, g.cond_task_id FROM gates g JOIN tasks t ON t.task_id = g.task_id "
        "WHERE t.request_id = ?",
        (request_id,),
    ):
        gate_conditions.setdefault(task_id, set()).add(cond_task_id)
    regated: set[int] = set()
    changed = True
    while changed:
        changed = False
        for task_id, conditions in gate_conditions.items():
            if task_id not in regated and (task_id in affected or conditions & (affected | regated)):
                regated.add(task_id)
                affected.add(task_id)
                changed = True
    return regated


def _reset_jobs(conn: sqlite3.Connection, job_ids: list[int], regated: set[int], now: float) -> None:
    """Give the jobs (and every job of the regated tasks) fresh budgets; hold, wait or ready them.

    The jobs to retry are left in the temporary table ``retry_jobs``.
    """
    create_retry_jobs_table(conn)
    conn.execute("DELETE FROM retry_jobs")
    conn.executemany("INSERT OR IGNORE INTO retry_jobs VALUES (?)", [(job_id,) for job_id in job_ids])
    conn.executemany(
        "INSERT OR IGNORE INTO retry_jobs SELECT job_id FROM jobs WHERE task_id = ?",
        [(task_id,) for task_id in regated],
    )
    conn.execute(
        "UPDATE jobs SET status = CASE WHEN task_id IN (SELECT value FROM json_each(?)) "
        "THEN ? ELSE ? END, "
        "exit_code = NULL, error_code = NULL, error_diag = NULL, updated_at = ?, "
        "attempt_limit = attempt_nr + (SELECT max_attempt FROM tasks t WHERE t.task_id = jobs.task_id) "
        "WHERE job_id IN (SELECT job_id FROM retry_jobs)",
        (json.dumps(sorted(regated)), JobState.HELD, JobState.WAITING, now),
    )
    conn.execute(
        "UPDATE jobs SET pending = (SELECT COUNT(*) FROM deps d JOIN jobs p ON p.job_id = d.parent "
        "WHERE d.child = jobs.job_id AND p.status != ?) WHERE job_id IN (SELECT job_id FROM retry_jobs)",
        (JobState.SUCCEEDED,),
    )
    conn.execute(
        "UPDATE jobs SET status = ? WHERE job_id IN (SELECT job_id FROM retry_jobs) "
        "AND status = ? AND pending = 0",
        (JobState.READY, JobState.WAITING),
    )
