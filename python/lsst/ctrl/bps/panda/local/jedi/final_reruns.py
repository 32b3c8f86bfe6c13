# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The final task of a retried workflow runs again, after the retried tasks (``idds`` engine).

A retry of an iDDS request resumes every work of its workflow, and iDDS asks
PanDA to retry each work's task.  JEDI refuses to retry a task that is
``done``, and the work an iDDS condition released (the final job, behind an
``AndCondition`` on the other tasks) is usually done: so on a real PanDA the
final job does not run again, and what the retried jobs produce never
reaches the butler.  The local PanDA runs it again, as the embedded engine
does: when the retry passes through its relay, the conditional tasks of the
request that have ended are held again (all their jobs), and released once
every task that the retry re-runs has been retried and has ended.  A task
iDDS never retries (its retry failed) stops holding the final task after
`GRACE` seconds.  The README lists this among the differences from a real
PanDA.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import sqlite3
import time
from collections.abc import Iterable
from typing import Any

from idds.common.constants import TransformStatus

from ...errors import RetryRefusedError
from ..core.job_states import TERMINAL_TASK_STATES, JobState
from ..engine.engine_thread import LocalPanda
from ..engine.retry import hold_request_again
from .panda_task_reads import PandaTaskReads

__all__ = ["GRACE", "FinalReruns", "condition_task_names", "rerun_pending"]

_LOG = logging.getLogger(__name__)

GRACE = 900.0
"""Seconds a held final task waits for a task the retry should re-run but iDDS has not retried."""


def rerun_pending(conn: sqlite3.Connection, jedi_task_id: int) -> bool:
    """Whether a task is held until the retried tasks of its request have ended.

    Parameters
    ----------
    conn : `sqlite3.Connection`
        Connection to the store's database.
    jedi_task_id : `int`
        The PanDA task.
    """
    row = conn.execute("SELECT 1 FROM panda_reruns WHERE jedi_task_id = ?", (jedi_task_id,)).fetchone()
    return row is not None


def condition_task_names(workflow: Any) -> list[str]:
    """Return the task names of the works the conditions of an iDDS workflow release.

    Parameters
    ----------
    workflow : `idds.workflowv2.workflow.Workflow`
        The iDDS workflow.
    """
    template = getattr(workflow, "template", workflow)
    names: list[str] = []

    def visit(works: Iterable[Any]) -> None:
        for work in works or ():
            if hasattr(work, "true_works"):  # a nested condition
                visit(work.true_works)
                visit(work.false_works)
            elif getattr(work, "task_name", None):
                names.append(str(work.task_name))

    for condition in (getattr(template, "conditions", None) or {}).values():
        visit(condition.true_works)
        visit(condition.false_works)
    return names


class FinalReruns:
    """Hold the final task of a retried request until the retried tasks have ended.

    Parameters
    ----------
    engine : `~lsst.ctrl.bps.panda.local.engine.engine_thread.LocalPanda`
        The engine whose store holds the PanDA tasks (``panda_tasks``).
    """

    def __init__(self, engine: LocalPanda) -> None:
        self.engine = engine
        self.store = engine.store
        self.reads = PandaTaskReads(engine.store)

    def note_submitted(self, idds_request_id: Any, workflow: Any) -> None:
        """Remember which tasks of a newly submitted request its conditions release.

        Parameters
        ----------
        idds_request_id : `int`
            Id of the new iDDS request (anything else is ignored).
        workflow : `idds.workflowv2.workflow.Workflow`
            The request's workflow.
        """
        if not isinstance(idds_request_id, int) or isinstance(idds_request_id, bool):
            return
        names = condition_task_names(workflow)
        if names:
            with self.store.transaction() as conn:
                conn.executemany(
                    "INSERT OR IGNORE INTO panda_conditional (idds_request_id, name) VALUES (?, ?)",
                    [(idds_request_id, name) for name in names],
                )

    def note_retry(self, idds_request_id: Any, since: float) -> int:
        """Hold again the ended conditional tasks of a request iDDS was just asked to retry.

        Parameters
        ----------
        idds_request_id : `int`
            The request.
        since : `float`
            When the retry was asked (`time.time`): a task counts as retried once iDDS retried
            it after that.

        Returns
        -------
        held : `int`
            Number of tasks held (0 when nothing of the request will run again).
        """
        try:
            idds_request_id = int(idds_request_id)
        except (TypeError, ValueError):
            return 0
        conn = self.store.connection()
        conditional = {
            row[0]
            for row in conn.execute(
                "SELECT name FROM panda_conditional WHERE idds_request_id = ?", (idds_request_id,)
            )
        }
        if not conditional:
            return 0
        finals, wait_for = [], []
        for task in conn.execute(
            "SELECT p.jedi_task_id, p.name, p.request_id, t.status FROM panda_tasks p "
            "JOIN tasks t ON t.task_id = p.task_id WHERE p.idds_request_id = ?",
            (idds_request_id,),
        ).fetchall():
            if _released_by_condition(task["name"], conditional):
                if _ended(task["status"]):
                    finals.append(task)
            elif self.reads.status(task["jedi_task_id"]) != "done":
                wait_for.append(task["jedi_task_id"])
        if not finals or not wait_for:
            return 0
        held = 0
        with self.engine.exclusive():
            for task in finals:
                record = functools.partial(_record_rerun, task["jedi_task_id"], since, wait_for)
                try:
                    count = hold_request_again(self.engine.scheduler, task["request_id"], also=record)
                except RetryRefusedError:
                    continue
                held += 1
                _LOG.info(
                    "PanDA task %d (%s): %d jobs held until the %d retried tasks of iDDS request %d end",
                    task["jedi_task_id"],
                    task["name"],
                    count,
                    len(wait_for),
                    idds_request_id,
                )
        return held

    def release_due(self) -> int:
        """Release the held final tasks whose retried tasks have all ended; return how many."""
        conn = self.store.connection()
        released = 0
        now = time.time()
        for row in conn.execute("SELECT jedi_task_id, since, wait_for FROM panda_reruns").fetchall():
            waiting = _still_waiting(conn, row["wait_for"], row["since"])
            if waiting and now - row["since"] < GRACE:
                continue
            if waiting:
                _LOG.warning(
                    "PanDA task %d: iDDS did not retry tasks %s within %.0f s; the final task runs now",
                    row["jedi_task_id"],
                    waiting,
                    GRACE,
                )
            with self.engine.exclusive(), self.store.transaction() as write:
                write.execute(
                    "UPDATE jobs SET status = ?, updated_at = ? WHERE status = ? AND task_id = "
                    "(SELECT task_id FROM panda_tasks WHERE jedi_task_id = ?)",
                    (JobState.READY, now, JobState.HELD, row["jedi_task_id"]),
                )
                write.execute("DELETE FROM panda_reruns WHERE jedi_task_id = ?", (row["jedi_task_id"],))
            _LOG.info("PanDA task %d: the retried tasks have ended; it runs again", row["jedi_task_id"])
            released += 1
        if released:
            self.engine.wake()
        return released


def _record_rerun(jedi_task_id: int, since: float, wait_for: list[int], conn: sqlite3.Connection) -> None:
    """Record a held task and what it waits for (in the transaction that holds it)."""
    conn.execute(
        "INSERT OR REPLACE INTO panda_reruns (jedi_task_id, since, wait_for) VALUES (?, ?, ?)",
        (jedi_task_id, since, json.dumps(wait_for)),
    )
    conn.execute(
        "UPDATE panda_tasks SET ended_by = NULL, modified_at = ? WHERE jedi_task_id = ?",
        (time.time(), jedi_task_id),
    )


def _still_waiting(conn: sqlite3.Connection, wait_for: str, since: float) -> list[int]:
    """Return the tasks of ``wait_for`` (JSON) not yet retried since ``since``, or not ended."""
    ended = [state.value for state in TERMINAL_TASK_STATES]
    rows = conn.execute(
        "SELECT p.jedi_task_id FROM panda_tasks p JOIN tasks t ON t.task_id = p.task_id "
        "WHERE p.jedi_task_id IN (SELECT value FROM json_each(?)) "
        f"AND (p.modified_at <= ? OR t.status NOT IN ({', '.join('?' * len(ended))}))",
        (wait_for, since, *ended),
    )
    return [row[0] for row in rows]


def _ended(status: int) -> bool:
    """Whether a store task's status is one after which nothing of it runs."""
    return TransformStatus(status) in TERMINAL_TASK_STATES


def _released_by_condition(panda_name: str, conditional: set[str]) -> bool:
    """Whether a PanDA task carries the name of a conditional work (iDDS may add ``_<n>`` parts)."""
    if panda_name in conditional:
        return True
    return any(re.fullmatch(re.escape(name) + r"(_\d+)+", panda_name) for name in conditional)
