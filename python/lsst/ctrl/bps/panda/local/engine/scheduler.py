# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Scheduling rules of the local PanDA, each state change one transaction.

A job is ready when all its parents succeeded; a job whose parent failed
for good becomes missing, and so do its descendants; a gated task (the
final job, released by an ``AndCondition`` over ``is_terminated`` of the
sink tasks) starts once its condition holds, whatever the results.  A task
ends when all its jobs have; a request when all its tasks have.  How many
jobs run at once is `~lsst.ctrl.bps.panda.local.engine.slot_policy.SlotPolicy`'s.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

from idds.common.constants import RequestStatus, TransformStatus

from ...errors import UnknownRequestError
from ..core.event_ranges import fine_grained_command
from ..core.job_states import (
    ACTIVE_JOB_STATES,
    TERMINAL_REQUEST_STATES,
    TERMINAL_TASK_STATES,
    JobState,
    request_status_for,
    task_status_for,
)
from ..pilot.attempts import AttemptEnd, LaunchSpec, Outcome
from ..pilot.executor import LOG_FILE, with_input
from ..state.event_table import events_to_run, is_fine_grained, record_attempt_events
from ..state.store import Store
from .build_requests import build_pending
from .slot_policy import SlotPolicy

__all__ = ["Scheduler", "SlotPolicy"]

_LOG = logging.getLogger(__name__)

_ACTIVE = tuple(state.value for state in ACTIVE_JOB_STATES)
_TERMINAL_TASKS = tuple(state.value for state in TERMINAL_TASK_STATES)
_GATE_TESTS = {
    "is_terminated": lambda status: True,
    "is_finished": lambda status: status == TransformStatus.Finished,
    "is_subfinished": lambda status: status == TransformStatus.SubFinished,
    "is_failed": lambda status: status == TransformStatus.Failed,
}


class Scheduler:
    """State transitions of jobs, tasks and requests.

    Parameters
    ----------
    store : `Store`
        The database.
    work_root : `pathlib.Path`
        Directory under which each attempt gets its working directory.
    """

    def __init__(self, store: Store, work_root: Path) -> None:
        self.store = store
        self.work_root = work_root

    # -- attempts ----------------------------------------------------------------------------------
    def start_attempt(self, job: sqlite3.Row) -> LaunchSpec | None:
        """Record a new attempt of a ready job; `None` if the job is no longer ready.

        Parameters
        ----------
        job : `sqlite3.Row`
            A ready job, with its task's attributes (`Store.ready_jobs`).
        """
        now = time.time()
        with self.store.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO attempts (job_id, attempt_nr, status, started_at, rss_limit) "
                "VALUES (?, ?, 'running', ?, ?)",
                (job["job_id"], job["attempt_nr"] + 1, now, job["rss"]),
            )
            assert cursor.lastrowid is not None  # set by every INSERT
            attempt_id = cursor.lastrowid
            workdir = self.work_root / f"request_{job['request_id']}" / str(attempt_id)
            conn.execute(
                "UPDATE attempts SET workdir = ?, log_path = ? WHERE attempt_id = ?",
                (str(workdir), str(workdir / LOG_FILE), attempt_id),
            )
            updated = conn.execute(
                "UPDATE jobs SET status = ?, attempt_nr = attempt_nr + 1, panda_id = ?, updated_at = ? "
                "WHERE job_id = ? AND status = ?",
                (JobState.RUNNING, attempt_id, now, job["job_id"], JobState.READY),
            ).rowcount
            if not updated:
                conn.execute("DELETE FROM attempts WHERE attempt_id = ?", (attempt_id,))
                return None
            command = with_input(job["executable"], job["name"])
            if is_fine_grained(job["name"]):  # the pilot's fine-grained part: the events left
                command = fine_grained_command(
                    job["executable"], events_to_run(conn, job["job_id"], job["name"])
                )
            # A request is New until work on it starts (iDDS: until its daemons take it up); a build
            # request is Building until its job hands the workflow back, Built until that one starts.
            building = build_pending(conn, job["request_id"])
            status = RequestStatus.Building if building else RequestStatus.Transforming
            conn.execute(
                "UPDATE requests SET status = ?, updated_at = ? WHERE request_id = ? AND status IN (?, ?)",
                (status.value, now, job["request_id"], RequestStatus.New.value, RequestStatus.Built.value),
            )
        return LaunchSpec(
            attempt_id=attempt_id,
            workload_id=job["workload_id"],
            command=command,
            workdir=workdir,
            rss_limit=job["rss"],
            walltime=job["walltime"],
            cores=job["core_count"],
            queue=job["queue"],
        )

    def record_process(self, attempt_id: int, pid: int, created: float) -> None:
        """Record the process of an attempt (to find it again after a restart).

        Parameters
        ----------
        attempt_id : `int`
            The attempt.
        pid : `int`
            Its process id.
        created : `float`
            The process's creation time, which tells it from a later process with the same id.
        """
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE attempts SET pid = ?, pid_started = ? WHERE attempt_id = ?",
                (pid, created, attempt_id),
            )

    def finish_attempt(self, end: AttemptEnd) -> None:
        """Record how an attempt ended and move its job, task and request on.

        Parameters
        ----------
        end : `AttemptEnd`
            How the attempt ended.
        """
        with self.store.transaction() as conn:
            row = conn.execute(
                "SELECT j.job_id, j.task_id, j.request_id, j.status, j.panda_id, j.attempt_nr, "
                "j.attempt_limit, j.name, a.workdir, "
                "j.rss, t.rss AS task_rss, t.rss_step, t.rss_max, r.status AS request_status FROM attempts a "
                "JOIN jobs j ON j.job_id = a.job_id JOIN tasks t ON t.task_id = j.task_id "
                "JOIN requests r ON r.request_id = j.request_id WHERE a.attempt_id = ?",
                (end.attempt_id,),
            ).fetchone()
            conn.execute(
                "UPDATE attempts SET status = ?, ended_at = ?, exit_code = ?, peak_rss_mb = ?, "
                "error_code = ?, "
                "error_diag = ? WHERE attempt_id = ?",
                (
                    end.outcome.value,
                    end.ended_at,
                    end.exit_code,
                    end.peak_rss_mb,
                    end.error_code,
                    end.error_diag,
                    end.attempt_id,
                ),
            )
            if row is None or row["status"] != JobState.RUNNING or row["panda_id"] != end.attempt_id:
                return
            if is_fine_grained(row["name"]) and row["workdir"]:
                record_attempt_events(
                    conn, row["job_id"], end.attempt_id, row["attempt_nr"], row["name"], Path(row["workdir"])
                )
            job_id, now = row["job_id"], time.time()
            cancelled = row["request_status"] == RequestStatus.Cancelled.value
            details = (end.exit_code, end.error_code, end.error_diag, now, job_id)
            if end.outcome == Outcome.OK:
                self._set_job(conn, JobState.SUCCEEDED, details)
                self._release_children(conn, job_id)
                if not cancelled:
                    self.settle(conn, [row["task_id"]], row["request_id"])
            elif cancelled or end.outcome == Outcome.CANCELLED:
                self._set_job(conn, JobState.CANCELLED, details)
            elif end.outcome == Outcome.LOST:
                conn.execute(
                    "UPDATE jobs SET status = ?, attempt_limit = attempt_limit + 1, updated_at = ? "
                    "WHERE job_id = ?",
                    (JobState.READY, now, job_id),
                )
            elif row["attempt_nr"] < row["attempt_limit"]:
                rss = row["rss"]
                if end.outcome == Outcome.MEMORY and rss and row["rss_step"]:
                    # JEDI's increase_memory_xtimes: times retryRamStep / ramCount at each memory kill
                    base = row["task_rss"] or rss
                    rss = round(rss * row["rss_step"] / base)
                    rss = min(rss, row["rss_max"]) if row["rss_max"] else rss
                conn.execute("UPDATE jobs SET rss = ? WHERE job_id = ?", (rss, job_id))
                self._set_job(conn, JobState.READY, details)
            else:
                self._set_job(conn, JobState.FAILED, details)
                tasks = self._mark_missing(conn, [job_id])
                self.settle(conn, [row["task_id"], *tasks], row["request_id"])

    @staticmethod
    def _set_job(conn: sqlite3.Connection, state: JobState, details: tuple) -> None:
        conn.execute(
            "UPDATE jobs SET status = ?, exit_code = ?, error_code = ?, error_diag = ?, updated_at = ? "
            "WHERE job_id = ?",
            (state, *details),
        )

    @staticmethod
    def _release_children(conn: sqlite3.Connection, job_id: int) -> None:
        conn.execute(
            "UPDATE jobs SET pending = pending - 1 WHERE job_id IN (SELECT child FROM deps WHERE parent = ?)",
            (job_id,),
        )
        conn.execute(
            "UPDATE jobs SET status = ? WHERE job_id IN (SELECT child FROM deps WHERE parent = ?) "
            "AND pending = 0 AND status = ?",
            (JobState.READY, job_id, JobState.WAITING),
        )

    @staticmethod
    def _mark_missing(conn: sqlite3.Connection, job_ids: list[int]) -> set[int]:
        """Mark every not-yet-run descendant of some jobs missing; return their tasks."""
        rows = conn.execute(
            "WITH RECURSIVE down(id) AS (SELECT child FROM deps "
            "WHERE parent IN (SELECT value FROM json_each(?)) "
            "UNION SELECT d.child FROM deps d JOIN down ON d.parent = down.id) "
            "SELECT j.job_id, j.task_id FROM jobs j JOIN down ON j.job_id = down.id "
            "WHERE j.status IN (?, ?, ?)",
            (json.dumps(job_ids), JobState.WAITING, JobState.READY, JobState.HELD),
        ).fetchall()
        now = time.time()
        conn.executemany(
            "UPDATE jobs SET status = ?, updated_at = ? WHERE job_id = ?",
            [(JobState.MISSING, now, row["job_id"]) for row in rows],
        )
        return {row["task_id"] for row in rows}

    # -- tasks and requests ------------------------------------------------------------------------
    def settle_new_request(self, request_id: int, empty_tasks: list[int]) -> None:
        """End the tasks of a new request that have no jobs.

        Parameters
        ----------
        request_id : `int`
            The new request.
        empty_tasks : `list` [`int`]
            Its tasks that have no jobs.
        """
        if empty_tasks:
            with self.store.transaction() as conn:
                self.settle(conn, empty_tasks, request_id)

    def settle(self, conn: sqlite3.Connection, task_ids: Iterable[int], request_id: int) -> None:
        """End the tasks without active jobs, release the gates they open, end the request.

        Parameters
        ----------
        conn : `sqlite3.Connection`
            Connection inside the caller's transaction.
        task_ids : `~collections.abc.Iterable` [`int`]
            Tasks whose jobs changed.
        request_id : `int`
            Their request.
        """
        work = list(dict.fromkeys(task_ids))
        while work:
            task_id = work.pop(0)
            task = conn.execute("SELECT status FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
            if task["status"] in _TERMINAL_TASKS:
                continue
            active = conn.execute(
                f"SELECT 1 FROM jobs WHERE task_id = ? "
                f"AND status IN ({', '.join('?' * len(_ACTIVE))}) LIMIT 1",
                (task_id, *_ACTIVE),
            ).fetchone()
            if active:
                continue
            counts = {
                JobState(status): count
                for status, count in conn.execute(
                    "SELECT status, COUNT(*) FROM jobs WHERE task_id = ? GROUP BY status", (task_id,)
                )
            }
            status = task_status_for(counts)
            now = time.time()
            conn.execute(
                "UPDATE tasks SET status = ?, finished_at = ?, updated_at = ? WHERE task_id = ?",
                (status.value, now, now, task_id),
            )
            gates = conn.execute(
                "SELECT DISTINCT task_id FROM gates WHERE cond_task_id = ?", (task_id,)
            ).fetchall()
            for (gated,) in gates:
                work.extend(self.open_gate(conn, gated))
        self._settle_request(conn, request_id)

    def open_gate(self, conn: sqlite3.Connection, task_id: int) -> list[int]:
        """Release (or prune) a held task whose condition is decided.

        Parameters
        ----------
        conn : `sqlite3.Connection`
            Connection inside the caller's transaction.
        task_id : `int`
            The held task.

        Returns
        -------
        task_ids : `list` [`int`]
            Tasks to `settle` next.
        """
        task = conn.execute("SELECT status FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
        if task["status"] != TransformStatus.New.value:
            return []
        verdicts = []
        for method, status in conn.execute(
            "SELECT g.method, t.status FROM gates g JOIN tasks t ON t.task_id = g.cond_task_id "
            "WHERE g.task_id = ?",
            (task_id,),
        ):
            status = TransformStatus(status)
            verdicts.append(_GATE_TESTS[method](status) if status in TERMINAL_TASK_STATES else None)
        if False in verdicts:
            held = [
                row[0]
                for row in conn.execute(
                    "SELECT job_id FROM jobs WHERE task_id = ? AND status = ?", (task_id, JobState.HELD)
                )
            ]
            conn.executemany(
                "UPDATE jobs SET status = ? WHERE job_id = ?", [(JobState.MISSING, j) for j in held]
            )
            return [task_id, *self._mark_missing(conn, held)]
        if None in verdicts:
            return []
        _LOG.info("Condition of task %d holds: releasing it", task_id)
        conn.execute(
            "UPDATE jobs SET status = CASE WHEN pending = 0 THEN ? ELSE ? END "
            "WHERE task_id = ? AND status = ?",
            (JobState.READY, JobState.WAITING, task_id, JobState.HELD),
        )
        conn.execute(
            "UPDATE tasks SET status = ?, updated_at = ? WHERE task_id = ?",
            (TransformStatus.Transforming.value, time.time(), task_id),
        )
        return [task_id]

    @staticmethod
    def _settle_request(conn: sqlite3.Connection, request_id: int) -> None:
        request = conn.execute("SELECT status FROM requests WHERE request_id = ?", (request_id,)).fetchone()
        if request["status"] == RequestStatus.Cancelled.value:
            return
        states = [
            TransformStatus(row[0])
            for row in conn.execute("SELECT status FROM tasks WHERE request_id = ?", (request_id,))
        ]
        pending_build = build_pending(conn, request_id)
        if any(state not in TERMINAL_TASK_STATES for state in states):
            status = RequestStatus.Building if pending_build else RequestStatus.Transforming
        elif pending_build:
            status = RequestStatus.Failed
            _LOG.warning("Request %d failed: its build job ended without handing a workflow back", request_id)
        else:
            succeeded = conn.execute(
                "SELECT 1 FROM jobs WHERE request_id = ? AND status = ? LIMIT 1",
                (request_id, JobState.SUCCEEDED),
            ).fetchone()
            status = request_status_for(states, succeeded is not None)
            _LOG.info("Request %d ended: %s", request_id, status.name)
        if status.value != request["status"]:
            conn.execute(
                "UPDATE requests SET status = ?, updated_at = ? WHERE request_id = ?",
                (status.value, time.time(), request_id),
            )

    # -- commands ----------------------------------------------------------------------------------
    def cancel(self, request_id: int) -> bool:
        """Mark a request cancelled with every job that is not running; `False` if it had ended.

        Parameters
        ----------
        request_id : `int`
            The request.

        Raises
        ------
        UnknownRequestError
            Raised if there is no such request.
        """
        now = time.time()
        with self.store.transaction() as conn:
            request = conn.execute(
                "SELECT status FROM requests WHERE request_id = ?", (request_id,)
            ).fetchone()
            if request is None:
                raise UnknownRequestError(request_id)
            if RequestStatus(request["status"]) in TERMINAL_REQUEST_STATES:
                return False
            conn.execute(
                "UPDATE jobs SET status = ?, updated_at = ? WHERE request_id = ? AND status IN (?, ?, ?)",
                (JobState.CANCELLED, now, request_id, JobState.WAITING, JobState.READY, JobState.HELD),
            )
            conn.execute(
                f"UPDATE tasks SET status = ?, finished_at = ?, updated_at = ? WHERE request_id = ? "
                f"AND status NOT IN ({', '.join('?' * len(_TERMINAL_TASKS))})",
                (TransformStatus.Cancelled.value, now, now, request_id, *_TERMINAL_TASKS),
            )
            conn.execute(
                "UPDATE requests SET status = ?, updated_at = ? WHERE request_id = ?",
                (RequestStatus.Cancelled.value, now, request_id),
            )
        return True
