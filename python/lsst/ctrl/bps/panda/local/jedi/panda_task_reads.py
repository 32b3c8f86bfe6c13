# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""What the iDDS daemons read of the local PanDA's tasks: status, details, files and jobs.

`PandaTaskReads` answers the read calls of PanDA's task/job API from the
store (`~lsst.ctrl.bps.panda.local.jedi.panda_tasks.PandaTasks` adds the
submit, release and commands).  A task's ``PandaID`` list holds the latest
PanDA job of each file that has one, as JEDI's ``getJediTaskDetails`` does.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from idds.common.constants import TransformStatus

from ..core.job_states import JobState
from ..state.event_table import event_range_statuses, fine_grained_fields, is_fine_grained
from ..state.store import Store
from .panda_records import file_lfn, file_status, job_record, panda_task_status

__all__ = ["PandaTaskReads"]

_JOB_ROWS = """
SELECT a.attempt_id, a.status AS attempt_status, a.started_at, a.ended_at, a.exit_code, a.error_code,
    a.error_diag, a.peak_rss_mb, a.rss_limit, a.attempt_nr, j.job_id, j.name, j.attempt_limit,
    t.queue, t.core_count, t.walltime, t.priority, t.vo, t.prod_source_label,
    t.task_id AS dataset_id, t.input_collection AS dataset_name,
    p.jedi_task_id, p.idds_request_id, p.user_name, p.working_group, p.processing_type, p.trans_path,
    f.serial
FROM attempts a JOIN jobs j ON j.job_id = a.job_id JOIN tasks t ON t.task_id = j.task_id
JOIN panda_tasks p ON p.task_id = t.task_id JOIN panda_files f ON f.file_id = j.job_id
WHERE a.attempt_id IN (SELECT value FROM json_each(?))
"""


class PandaTaskReads:
    """The read side of the local PanDA's PanDA tasks.

    Parameters
    ----------
    store : `~lsst.ctrl.bps.panda.local.state.store.Store`
        The store holding the tasks (``panda_tasks`` and ``panda_files`` tables).
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def _task(self, jedi_task_id: int) -> sqlite3.Row | None:
        return (
            self.store.connection()
            .execute(
                "SELECT p.*, t.status AS task_status, t.updated_at AS task_updated_at FROM panda_tasks p "
                "JOIN tasks t ON t.task_id = p.task_id WHERE p.jedi_task_id = ?",
                (jedi_task_id,),
            )
            .fetchone()
        )

    def _status_of(self, task: sqlite3.Row) -> str:
        succeeded, total = (
            self.store.connection()
            .execute(
                "SELECT COUNT(*) FILTER (WHERE status = ?), COUNT(*) FROM jobs WHERE task_id = ?",
                (JobState.SUCCEEDED, task["task_id"]),
            )
            .fetchone()
        )
        status = TransformStatus(task["task_status"])
        return panda_task_status(status, task["ended_by"], succeeded == total, succeeded > 0)

    def status(self, jedi_task_id: int) -> str | None:
        """Return a task's JEDI status (`None` for an unknown task).

        Parameters
        ----------
        jedi_task_id : `int`
            The PanDA task.
        """
        task = self._task(jedi_task_id)
        return None if task is None else self._status_of(task)

    def details(self, jedi_task_id: int, include_parameters: bool, include_status: bool) -> dict | None:
        """Return ``task/get_details``'s data (`None` for an unknown task).

        Parameters
        ----------
        jedi_task_id : `int`
            The PanDA task.
        include_parameters : `bool`
            Add the task's ``cliParams``.
        include_status : `bool`
            Add the task's JEDI status.
        """
        task = self._task(jedi_task_id)
        if task is None:
            return None
        conn = self.store.connection()
        panda_ids = [
            row[0]
            for row in conn.execute(
                "SELECT panda_id FROM jobs WHERE task_id = ? AND panda_id IS NOT NULL ORDER BY job_id",
                (task["task_id"],),
            )
        ]
        counts = dict(
            conn.execute(
                "SELECT status, COUNT(*) FROM jobs WHERE task_id = ? GROUP BY status", (task["task_id"],)
            )
        )
        statistics = [
            f"{name}*{counts[state]}"
            for name, state in (("finished", JobState.SUCCEEDED), ("failed", JobState.FAILED))
            if counts.get(state)
        ]
        details: dict[str, Any] = {
            "inDS": "",
            "outDS": "",
            "statistics": ",".join(statistics),
            "PandaID": panda_ids,
            "mergeStatus": None,
            "mergePandaID": [],
        }
        if include_status:
            details["status"] = self._status_of(task)
        if include_parameters:
            details["cliParams"] = json.loads(task["params"]).get("cliParams", "")
        return details

    def datasets_and_files(self, jedi_task_id: int, dataset_types: Iterable[str]) -> list[dict] | None:
        """Return ``task/get_datasets_and_files``'s data: the pseudo-input dataset and its files.

        Parameters
        ----------
        jedi_task_id : `int`
            The PanDA task.
        dataset_types : `~collections.abc.Iterable` [`str`]
            Dataset types asked for; only ``pseudo_input`` has datasets here.
        """
        task = self._task(jedi_task_id)
        if task is None:
            return None
        if "pseudo_input" not in set(dataset_types):
            return []
        files = [
            {
                "lfn": file_lfn(row["serial"], row["name"]),
                "scope": None,
                "id": row["file_id"],
                "status": file_status(JobState(row["status"])),
            }  # fmt: skip
            for row in self.store.connection().execute(
                "SELECT f.file_id, f.serial, f.name, j.status FROM panda_files f "
                "JOIN jobs j ON j.job_id = f.file_id WHERE f.jedi_task_id = ? ORDER BY f.serial",
                (jedi_task_id,),
            )
        ]
        dataset = {"name": f"pseudo_dataset.{task['name']}", "id": task["task_id"], "type": "pseudo_input"}
        return [{"dataset": dataset, "files": files}]

    def job_records(self, panda_ids: list[Any]) -> list[dict | None]:
        """Return ``job/get_description``'s data: a record per PandaID, `None` for unknown ones.

        Parameters
        ----------
        panda_ids : `list`
            PandaIDs as the client sent them.
        """
        wanted = [int(panda_id) for panda_id in panda_ids]
        rows = self.store.connection().execute(_JOB_ROWS, (json.dumps(wanted),)).fetchall()
        records = {row["attempt_id"]: self._job_record(row) for row in rows}
        return [records.get(panda_id) for panda_id in wanted]

    def _job_record(self, row: sqlite3.Row) -> dict[str, Any]:
        record = job_record(row)
        if is_fine_grained(row["name"]):  # the pilot's fine-grained part: see local/events.py
            conn = self.store.connection()
            record.update(fine_grained_fields(conn, row["attempt_id"], row["job_id"], record["jobStatus"]))
        return record

    def event_statuses(self, job_task_ids: Iterable[Any]) -> dict[str, dict[str, Any]]:
        """Return ``event/get_event_range_statuses``'s data (see `event_range_statuses`).

        Parameters
        ----------
        job_task_ids : `~collections.abc.Iterable` [`dict`]
            ``{"task_id": jediTaskID, "panda_id": PandaID or jobsetID}`` pairs, as iDDS asks.
        """
        return event_range_statuses(self.store.connection(), job_task_ids)

    def job_ids(self, jedi_task_id: int) -> list[int] | None:
        """Return every PandaID of a task (every attempt), newest first, as panda-server 1.0.4 does.

        Parameters
        ----------
        jedi_task_id : `int`
            The PanDA task.
        """
        if self._task(jedi_task_id) is None:
            return None
        rows = self.store.connection().execute(
            "SELECT a.attempt_id FROM attempts a JOIN jobs j ON j.job_id = a.job_id "
            "JOIN panda_tasks p ON p.task_id = j.task_id WHERE p.jedi_task_id = ? ORDER BY a.attempt_id DESC",
            (jedi_task_id,),
        )
        return [row[0] for row in rows]

    def modified_since(self, since: float, prod_source_label: str | None) -> dict[str, dict[str, Any]]:
        """Return the tasks changed since a time, keyed by jediTaskID (``get_tasks_modified_since``).

        Parameters
        ----------
        since : `float`
            Time in seconds since the epoch.
        prod_source_label : `str` or `None`
            Only tasks with this ``prodSourceLabel``; `None` or empty for every task.
        """
        rows = self.store.connection().execute(
            "SELECT p.*, t.status AS task_status, t.prod_source_label FROM panda_tasks p "
            "JOIN tasks t ON t.task_id = p.task_id WHERE MAX(p.modified_at, t.updated_at) >= ? "
            "ORDER BY p.jedi_task_id",
            (since,),
        )
        return {
            str(row["jedi_task_id"]): {
                "jediTaskID": row["jedi_task_id"],
                "taskName": row["name"],
                "reqID": row["idds_request_id"],
                "status": self._status_of(row),
            }
            for row in rows
            if prod_source_label in (None, "", row["prod_source_label"])
        }
