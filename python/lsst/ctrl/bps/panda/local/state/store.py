# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""SQLite state of the local PanDA: requests, tasks, jobs, attempts.

One database file under the state directory, in WAL mode so that readers
(the HTTP threads) never block the scheduler.  Every state change happens
inside `Store.transaction` (``BEGIN IMMEDIATE`` ... ``COMMIT``): a server
killed at any point restarts from a consistent state.  Jobs are inserted in
bulk and every query the scheduler repeats is served by an index, so a
request of 100,000+ jobs costs no full scans per scheduling step.  The tables
and their versions are defined in `~lsst.ctrl.bps.panda.local.state.schema`,
applied when the store opens the database.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from idds.common.constants import RequestStatus, TransformStatus

from ...errors import UnknownRequestError
from ..core.job_states import JobState
from ..core.request_plan import RequestPlan
from .request_rows import INSERT_TASK, add_job_rows, insert_request, number_plan, task_row
from .schema import apply_schema

__all__ = ["RowsHook", "Store"]

_LOG = logging.getLogger(__name__)

RowsHook = Callable[[sqlite3.Connection, int, dict[str, int], dict[tuple[str, str], int]], None]
"""Adds rows of its own inside `Store.add_request`'s transaction (see there)."""


class Store:
    """The SQLite database of one state directory.

    Parameters
    ----------
    path : `pathlib.Path`
        Database file (created with the current schema when missing, migrated to it when older).

    Raises
    ------
    SchemaTooNewError
        Raised if a newer ctrl_bps_panda wrote the database (the message says what to do).
    SchemaError
        Raised if the database is in a layout no version of ctrl_bps_panda wrote.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        apply_schema(self.connection(), self.path)

    def connection(self) -> sqlite3.Connection:
        """Return this thread's connection (autocommit; WAL)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=60.0)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=60000")
            # A small write-ahead log, truncated after each checkpoint: a nearly full disk still
            # holds it, and the state directory does not keep megabytes it no longer needs.
            conn.execute("PRAGMA wal_autocheckpoint=128")
            conn.execute("PRAGMA journal_size_limit=524288")
            self._local.conn = conn
        return conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run a block as one write transaction (all or nothing)."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            # SQLite may have rolled back already (disk full): never leave the connection mid-transaction.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the database and truncate it (frees space on a full disk)."""
        with contextlib.suppress(sqlite3.Error):
            self.connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- workflow steps ----------------------------------------------------------------------------
    def save_step(self, internal_id: str, batches: dict[str, Any]) -> None:
        """Keep the dependency maps of a workflow step until its main workflow arrives.

        Parameters
        ----------
        internal_id : `str`
            Internal id of the main workflow the step belongs to.
        batches : `dict` [`str`, `typing.Any`]
            Dependency map of each work of the step, by work name.
        """
        now = time.time()
        with self.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO steps (internal_id, work_name, data, created_at) VALUES (?, ?, ?, ?)",
                [(internal_id, name, json.dumps(data), now) for name, data in batches.items()],
            )

    def step_map(self, internal_id: str, work_name: str) -> Any | None:
        """Return the dependency map a step held for a work (`None` if none did).

        Parameters
        ----------
        internal_id : `str`
            Internal id of the main workflow.
        work_name : `str`
            Name of the work.
        """
        row = (
            self.connection()
            .execute(
                "SELECT data FROM steps WHERE internal_id = ? AND work_name = ?", (internal_id, work_name)
            )
            .fetchone()
        )
        return json.loads(row["data"]) if row else None

    # -- requests ----------------------------------------------------------------------------------
    def add_request(
        self, plan: RequestPlan, hold: bool = False, also: RowsHook | None = None
    ) -> tuple[int, list[int]]:
        """Create a request, its tasks, jobs and dependencies in one transaction.

        Parameters
        ----------
        plan : `~lsst.ctrl.bps.panda.local.core.request_plan.RequestPlan`
            A checked plan (dependencies resolve, no cycle).
        hold : `bool`, optional
            Create every job held (`JobState.HELD`) until released one by one (the jobs of a
            PanDA task whose inputs iDDS releases).
        also : `~collections.abc.Callable`, optional
            Called inside the transaction with the connection, the request id, the task ids
            (by task name) and the job ids (by task and job name), to add rows of its own.

        Returns
        -------
        request_id : `int`
            The new request id.
        task_ids : `list` [`int`]
            Ids of the tasks that have no jobs (terminal at once).
        """
        with self.transaction() as conn:
            request_id = insert_request(conn, plan, time.time())
            empty = self._insert_plan(conn, request_id, plan, hold, also)
        return request_id, empty

    def extend_request(
        self, request_id: int, plan: RequestPlan, check: Callable[[sqlite3.Connection], None]
    ) -> list[int]:
        """Add a plan's tasks to an existing request (a build request's workflow), in one transaction.

        ``check`` runs first inside the transaction and may refuse by raising; nothing is added then.
        Returns the ids of the added tasks that have no jobs.

        Parameters
        ----------
        request_id : `int`
            The existing request.
        plan : `RequestPlan`
            The tasks to add.
        check : `~collections.abc.Callable` [[`sqlite3.Connection`], `None`]
            Raises to refuse the extension, given the transaction's connection.
        """
        with self.transaction() as conn:
            check(conn)
            return self._insert_plan(conn, request_id, plan)

    @staticmethod
    def _insert_plan(
        conn: sqlite3.Connection,
        request_id: int,
        plan: RequestPlan,
        hold: bool = False,
        also: RowsHook | None = None,
    ) -> list[int]:
        now = time.time()
        task_ids, job_ids = number_plan(conn, plan)
        empty: list[int] = []
        task_rows: list[tuple] = []
        job_rows: list[tuple] = []
        dep_rows: list[tuple[int, int]] = []
        gate_rows: list[tuple[int, int, str]] = []
        for task in plan.tasks:
            task_id = task_ids[task.name]
            task_rows.append(task_row(task, task_id, request_id, now))
            if task.gate is not None:
                gate_rows.extend((task_id, task_ids[name], method) for name, method in task.gate.conditions)
            if not task.entries:
                empty.append(task_id)
            add_job_rows(task, task_id, request_id, job_ids, now, job_rows, dep_rows)
        conn.executemany(INSERT_TASK, task_rows)
        conn.executemany("INSERT INTO gates VALUES (?, ?, ?)", gate_rows)
        conn.executemany(
            "INSERT INTO jobs (job_id, task_id, request_id, queue, name, order_id, status, pending, "
            "attempt_limit, rss, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            job_rows,
        )
        conn.executemany("INSERT INTO deps VALUES (?, ?)", dep_rows)
        conn.execute("DELETE FROM steps WHERE internal_id = ?", (plan.internal_id,))
        if hold:
            conn.execute("UPDATE jobs SET status = ? WHERE request_id = ?", (JobState.HELD, request_id))
        if also is not None:
            also(conn, request_id, task_ids, job_ids)
        _LOG.info(
            "Request %d (%s): %d tasks, %d jobs, %d dependencies",
            request_id,
            plan.name,
            len(task_rows),
            len(job_rows),
            len(dep_rows),
        )
        return empty

    def request(self, request_id: int) -> sqlite3.Row:
        """Return a request's row.

        Parameters
        ----------
        request_id : `int`
            The request.

        Raises
        ------
        UnknownRequestError
            Raised if there is no such request.
        """
        row = (
            self.connection().execute("SELECT * FROM requests WHERE request_id = ?", (request_id,)).fetchone()
        )
        if row is None:
            raise UnknownRequestError(request_id)
        return row

    def requests(self, request_id: int | None = None) -> list[sqlite3.Row]:
        """Return one request (or all) in id order.

        Parameters
        ----------
        request_id : `int`, optional
            The request; `None` returns every request.
        """
        conn = self.connection()
        if request_id is None:
            return conn.execute("SELECT * FROM requests ORDER BY request_id").fetchall()
        return [self.request(request_id)]

    def request_for_workload(self, workload_id: int) -> int | None:
        """Return the request id of the task with this PanDA task id.

        Parameters
        ----------
        workload_id : `int`
            PanDA task id (``workload_id``) of the task.
        """
        row = self.connection().execute("SELECT request_id FROM tasks WHERE workload_id = ?", (workload_id,))
        found = row.fetchone()
        return int(found[0]) if found else None

    def tasks(self, request_ids: list[int]) -> list[sqlite3.Row]:
        """Return the tasks of some requests, in request and task order.

        Parameters
        ----------
        request_ids : `list` [`int`]
            The requests.
        """
        marks = ", ".join("?" * len(request_ids))
        return (
            self.connection()
            .execute(
                f"SELECT * FROM tasks WHERE request_id IN ({marks}) ORDER BY request_id, task_id", request_ids
            )
            .fetchall()
        )

    def job_counts(self, task_ids: list[int]) -> dict[int, dict[JobState, int]]:
        """Return the number of jobs in each state, by task.

        Parameters
        ----------
        task_ids : `list` [`int`]
            The tasks.
        """
        counts: dict[int, dict[JobState, int]] = {task_id: {} for task_id in task_ids}
        conn = self.connection()
        for task_id in task_ids:
            for status, count in conn.execute(
                "SELECT status, COUNT(*) FROM jobs WHERE task_id = ? GROUP BY status", (task_id,)
            ):
                counts[task_id][JobState(status)] = count
        return counts

    def jobs_with_last_attempt(self, task_ids: list[int]) -> Iterator[sqlite3.Row]:
        """Yield every job of some tasks with its latest attempt, in task and map order.

        Parameters
        ----------
        task_ids : `list` [`int`]
            The tasks.
        """
        conn = self.connection()
        for task_id in task_ids:
            yield from conn.execute(
                "SELECT j.*, a.started_at, a.ended_at, a.peak_rss_mb, a.rss_limit, a.log_path, "
                "a.status AS attempt_status FROM jobs j LEFT JOIN attempts a ON a.attempt_id = j.panda_id "
                "WHERE j.task_id = ? ORDER BY j.order_id, j.job_id",
                (task_id,),
            )

    def attempts(self, job_id: int) -> list[sqlite3.Row]:
        """Return every attempt of a job, oldest first.

        Parameters
        ----------
        job_id : `int`
            The job.
        """
        return (
            self.connection()
            .execute("SELECT * FROM attempts WHERE job_id = ? ORDER BY attempt_id", (job_id,))
            .fetchall()
        )

    # -- what the scheduler repeats --------------------------------------------------------------
    def active_queues(self) -> list[str]:
        """Return the queues of tasks that are not terminal."""
        rows = self.connection().execute(
            "SELECT DISTINCT queue FROM tasks WHERE status IN (?, ?, ?)",
            (TransformStatus.New.value, TransformStatus.Ready.value, TransformStatus.Transforming.value),
        )
        return [row[0] for row in rows]

    def ready_jobs(self, queue: str, limit: int) -> list[sqlite3.Row]:
        """Return up to ``limit`` ready jobs of a queue, oldest first, with their task's attributes.

        Parameters
        ----------
        queue : `str`
            The queue.
        limit : `int`
            Most jobs to return.
        """
        return (
            self.connection()
            .execute(
                "SELECT j.job_id, j.task_id, j.request_id, j.name, j.rss, j.attempt_nr, t.executable, "
                "t.walltime, t.core_count, t.workload_id, t.queue "
                "FROM jobs j JOIN tasks t ON t.task_id = j.task_id "
                "WHERE j.status = 1 AND j.queue = ? ORDER BY j.job_id LIMIT ?",
                (queue, limit),
            )
            .fetchall()
        )

    def running_attempts(self, request_id: int | None = None) -> list[sqlite3.Row]:
        """Return attempts recorded as running, with their job's and task's attributes.

        Parameters
        ----------
        request_id : `int`, optional
            Only the attempts of this request; `None` returns those of every request.
        """
        query = (
            "SELECT a.*, j.name, j.request_id, j.task_id, t.executable, t.walltime, t.workload_id, "
            "t.core_count, t.queue "
            "FROM attempts a JOIN jobs j ON j.job_id = a.job_id JOIN tasks t ON t.task_id = j.task_id "
            "WHERE a.status = 'running'"
        )
        if request_id is None:
            return self.connection().execute(query).fetchall()
        return self.connection().execute(query + " AND j.request_id = ?", (request_id,)).fetchall()

    def summary(self) -> dict[str, Any]:
        """Return counts for ``panda_local status``: requests by status, jobs running."""
        conn = self.connection()
        by_status = {
            RequestStatus(status).name: count
            for status, count in conn.execute("SELECT status, COUNT(*) FROM requests GROUP BY status")
        }
        running = conn.execute("SELECT COUNT(*) FROM attempts WHERE status = 'running'").fetchone()[0]
        return {"requests": by_status, "running_jobs": running}
