# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""PanDA tasks and jobs as JEDI keeps them, for the real iDDS daemons.

With the ``idds`` engine the real iDDS daemons drive the workflow: they
submit one PanDA task per iDDS work and follow it through PanDA's task/job
API (`~lsst.ctrl.bps.panda.local.jedi.panda_api`).  Here each PanDA task is one
request of the local store holding one task, whose jobs are the task's
``pfnList`` entries, run by the existing engine and executor (slots, memory
watch, wall time, retries with memory escalation).  As JEDI does, a task
submitted with ``inputPreStaging`` holds every input file until iDDS says it
is available (the conductor's ``file_processing`` messages, delivered by
`~lsst.ctrl.bps.panda.local.idds.scripts.idds_notifier.LocalPandaNotifier`); the files of
other tasks are released at once.  A PanDA job is one attempt: its
``PandaID`` is the attempt id, and a retry is a new PanDA job.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..core.job_states import JobState
from ..core.request_plan import RequestPlan, TaskPlan
from ..engine.engine_thread import LocalPanda
from ..state.request_rows import WORKLOAD_ID_OFFSET
from .final_reruns import rerun_pending
from .panda_records import task_plan
from .panda_task_reads import PandaTaskReads

__all__ = ["COMMAND_REGISTERED", "PandaTasks"]

_LOG = logging.getLogger(__name__)

COMMAND_REGISTERED = (
    "command={command} is registered for task ID {task_id}. will be executed in a few minutes"
)
"""JEDI's answer to a command it accepted (``code`` 0)."""

_REJECTED = "Command rejected: the {command} command is not accepted if the task is in {status} status "
_NOT_FOUND = "jediTaskID={task_id} not found"

_ENDED = {"finished", "done", "aborted", "failed"}
"""Statuses in which JEDI refuses ``kill`` and ``finish``."""
_RETRY_ALLOWED_IN = {"finished", "failed", "aborted", "exhausted"}
"""JEDI's ``JediTaskSpec.statusToRetry``: no ``done`` task is retried."""
_COMMAND_ACCEPTED_IN: dict[str, Callable[[str], bool]] = {
    "kill": lambda status: status not in _ENDED,
    "finish": lambda status: status not in _ENDED,
    "retry": lambda status: status in _RETRY_ALLOWED_IN,
}


class PandaTasks(PandaTaskReads):
    """The PanDA tasks of a local PanDA, on its store and engine.

    Parameters
    ----------
    engine : `~lsst.ctrl.bps.panda.local.engine.engine_thread.LocalPanda`
        The engine that runs the jobs (its store holds the tasks).
    """

    def __init__(self, engine: LocalPanda) -> None:
        super().__init__(engine.store)
        self.engine = engine

    # -- submit ------------------------------------------------------------------------------------
    def submit(self, params: Mapping[str, Any], user: str | None) -> tuple[int, bool]:
        """Create a PanDA task and its jobs (held when the task stages its inputs).

        Parameters
        ----------
        params : `~collections.abc.Mapping`
            The task parameters iDDS submits.
        user : `str` or `None`
            Who submits (the caller's identity).

        Returns
        -------
        jedi_task_id : `int`
            The task's id.
        created : `bool`
            `False` when iDDS submitted a task of this name for this request before (the
            same id is returned: a daemon that retries a submit gets no second task).

        Raises
        ------
        BadTaskParametersError
            Raised if the parameters cannot make jobs (the message names the key).
        """
        plan = task_plan(params)
        request_id = params.get("reqID")
        existing = self._task_by_name(request_id, plan.name)
        if existing is not None:
            return existing, False
        staging = bool(params.get("inputPreStaging"))
        created: list[int] = []

        def add_panda_rows(
            conn: sqlite3.Connection, store_request: int, task_ids: dict, job_ids: dict
        ) -> None:
            created.append(_insert_panda_rows(conn, plan, params, user, store_request, task_ids, job_ids))

        internal_id = f"panda-task:{request_id}:{plan.name}"
        request = RequestPlan(name=plan.name, username=user, internal_id=internal_id, tasks=[plan])
        try:
            self.store.add_request(request, hold=staging, also=add_panda_rows)
        except sqlite3.IntegrityError:
            # The same task submitted twice at once: the other submission won.
            existing = self._task_by_name(request_id, plan.name)
            if existing is None:
                raise
            return existing, False
        if not staging:
            self._mark_released(created[0])
        self.engine.wake()
        _LOG.info(
            "PanDA task %d (%s): %d jobs%s",
            created[0],
            plan.name,
            len(plan.entries),
            ", held until iDDS releases their inputs" if staging else "",
        )
        return created[0], True

    def _task_by_name(self, request_id: Any, name: str) -> int | None:
        row = (
            self.store.connection()
            .execute(
                "SELECT jedi_task_id FROM panda_tasks WHERE idds_request_id IS ? AND name = ?",
                (request_id, name),
            )
            .fetchone()
        )
        return int(row[0]) if row else None

    def _mark_released(self, jedi_task_id: int) -> None:
        with self.store.transaction() as conn:
            conn.execute("UPDATE panda_files SET released = 1 WHERE jedi_task_id = ?", (jedi_task_id,))

    # -- release (iDDS's messages) -----------------------------------------------------------------
    def release(self, jedi_task_id: int, files: Iterable[Mapping[str, Any]]) -> tuple[int, int]:
        """Release the held files iDDS says are available; mark missing those it says are missing.

        Files are matched by their id (``external_content_id``), else by name, within the task,
        as JEDI's ``updateInputFilesStaged_JEDI`` and ``setMissingFilesAboutIdds_JEDI`` do.

        Parameters
        ----------
        jedi_task_id : `int`
            The PanDA task.
        files : `~collections.abc.Iterable` [`~collections.abc.Mapping` [`str`, `typing.Any`]]
            Files as iDDS sends them, each with ``status`` (``Available`` or ``Missing``),
            ``external_content_id`` and ``name``.

        Returns
        -------
        released, missing : `int`
            Number of jobs released and marked missing.
        """
        task = self._task(jedi_task_id)
        if task is None:
            _LOG.warning("iDDS released files of PanDA task %d, which does not exist", jedi_task_id)
            return 0, 0
        if rerun_pending(self.store.connection(), jedi_task_id):
            # A final task held after a retry runs when the retried tasks have ended, not when
            # iDDS resends its inputs (panda_reruns).
            _LOG.info(
                "PanDA task %d waits for the retried tasks of its request; release ignored", jedi_task_id
            )
            return 0, 0
        available: list[tuple[Any, Any]] = []
        missing: list[tuple[Any, Any]] = []
        for item in files:
            status = item.get("status")
            target = available if status == "Available" else missing if status == "Missing" else None
            if target is not None:
                target.append((item.get("external_content_id"), item.get("name")))
        with self.engine.exclusive(), self.store.transaction() as conn:
            released = self._set_held(conn, task, available, JobState.READY)
            lost = self._set_held(conn, task, missing, JobState.MISSING)
            if lost:
                self.engine.scheduler.settle(conn, [task["task_id"]], task["request_id"])
        if released:
            self.engine.wake()
        return released, lost

    @staticmethod
    def _set_held(
        conn: sqlite3.Connection, task: sqlite3.Row, files: list[tuple[Any, Any]], state: JobState
    ) -> int:
        """Move the named held jobs of a task to ``state``; return how many moved."""
        changed = 0
        for file_id, name in files:
            row = None
            if file_id not in (None, ""):
                row = conn.execute(
                    "SELECT file_id FROM panda_files WHERE file_id = ? AND jedi_task_id = ?",
                    (int(file_id), task["jedi_task_id"]),
                ).fetchone()
            if row is None and name:
                row = conn.execute(
                    "SELECT file_id FROM panda_files WHERE jedi_task_id = ? AND name = ?",
                    (task["jedi_task_id"], name),
                ).fetchone()
            if row is None:
                _LOG.warning(
                    "iDDS named file %s (id %s), not in PanDA task %d", name, file_id, task["jedi_task_id"]
                )
                continue
            if state == JobState.READY:
                # Kept even when the job cannot move now: a missing job whose input becomes
                # available before its task is retried runs at the retry.
                conn.execute("UPDATE panda_files SET released = 1 WHERE file_id = ?", (row[0],))
            changed += conn.execute(
                "UPDATE jobs SET status = ?, updated_at = ? WHERE job_id = ? AND status = ?",
                (state, time.time(), row[0], JobState.HELD),
            ).rowcount
        return changed

    # -- commands ----------------------------------------------------------------------------------
    def kill(self, jedi_task_id: int, command: str = "kill") -> tuple[int, str]:
        """Kill a task (``kill``) or end it (``finish``): its running jobs are killed, none starts.

        Parameters
        ----------
        jedi_task_id : `int`
            The PanDA task.
        command : `str`, optional
            ``kill`` or ``finish``.

        Returns
        -------
        code, message : `int`, `str`
            JEDI's: 0 registered, 2 no such task, 4 refused in the task's status.
        """
        task = self._task_for_command(jedi_task_id, command)
        if isinstance(task, tuple):
            return task
        with self.engine.exclusive():
            self.engine.abort(task["request_id"])
            self._touch(jedi_task_id, ended_by=command)
        _LOG.info("PanDA task %d: %s", jedi_task_id, command)
        return 0, COMMAND_REGISTERED.format(command=command, task_id=jedi_task_id)

    def retry(self, jedi_task_id: int) -> tuple[int, str]:
        """Run the failed, missing and cancelled jobs of an ended task again.

        Jobs whose input iDDS never released are held again.

        Parameters
        ----------
        jedi_task_id : `int`
            The PanDA task, which must have ended.

        Returns
        -------
        code, message : `int`, `str`
            JEDI's: 0 registered, 2 no such task, 4 refused in the task's status.
        """
        task = self._task_for_command(jedi_task_id, "retry")
        if isinstance(task, tuple):
            return task
        with self.engine.exclusive():
            count = self.engine.retry(task["request_id"])
            with self.store.transaction() as conn:
                conn.execute(
                    "UPDATE jobs SET status = ? WHERE task_id = ? AND status IN (?, ?) AND job_id IN "
                    "(SELECT file_id FROM panda_files WHERE jedi_task_id = ? AND released = 0)",
                    (JobState.HELD, task["task_id"], JobState.READY, JobState.WAITING, jedi_task_id),
                )
            self._touch(jedi_task_id, ended_by=None)
        _LOG.info("PanDA task %d: retry of %d jobs", jedi_task_id, count)
        return 0, COMMAND_REGISTERED.format(command="retry", task_id=jedi_task_id)

    def _task_for_command(self, jedi_task_id: int, command: str) -> sqlite3.Row | tuple[int, str]:
        """Return the task ``command`` may act on, or JEDI's refusal (2: no such task, 4: status)."""
        task = self._task(jedi_task_id)
        if task is None:
            return 2, _NOT_FOUND.format(task_id=jedi_task_id)
        status = self._status_of(task)
        if not _COMMAND_ACCEPTED_IN[command](status):
            return 4, _REJECTED.format(command=command, status=status)
        return task

    def _touch(self, jedi_task_id: int, ended_by: str | None) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE panda_tasks SET ended_by = ?, modified_at = ? WHERE jedi_task_id = ?",
                (ended_by, time.time(), jedi_task_id),
            )


def _insert_panda_rows(
    conn: sqlite3.Connection,
    plan: TaskPlan,
    params: Mapping[str, Any],
    user: str | None,
    store_request: int,
    task_ids: dict,
    job_ids: dict,
) -> int:
    """Insert the ``panda_tasks`` row of a submitted task and its ``panda_files`` rows; return its id."""
    request_id = params.get("reqID")
    staging = bool(params.get("inputPreStaging"))
    task_id = task_ids[plan.name]
    jedi_task_id = task_id + WORKLOAD_ID_OFFSET
    now = time.time()
    conn.execute(
        "INSERT INTO panda_tasks (jedi_task_id, request_id, task_id, idds_request_id, name, "
        "user_name, working_group, processing_type, trans_path, params, staging, created_at, "
        "modified_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            jedi_task_id,
            store_request,
            task_id,
            request_id,
            plan.name,
            user or params.get("userName"),
            params.get("workingGroup"),
            params.get("processingType"),
            params.get("transPath"),
            json.dumps(params, default=str),
            int(staging),
            now,
            now,
        ),
    )
    conn.executemany(
        "INSERT INTO panda_files (file_id, jedi_task_id, serial, name, released) VALUES (?, ?, ?, ?, ?)",
        [
            (job_ids[(plan.name, entry["name"])], jedi_task_id, entry["order_id"], entry["name"], 0)
            for entry in plan.entries
        ],
    )
    return jedi_task_id
