# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Replies of the local PanDA in the shape of iDDS's.

``get_requests`` without detail: one record per request with the columns
of iDDS's ``requests`` table; with detail: one record per transform (task)
with the request columns, the transform, processing and collection columns
iDDS joins in (``transform_name``, ``transform_status``,
``output_total_files``...).  ``get_contents_output_ext``: one record per
job, the output content joined with its PanDA job (``panda_id``,
``attempt_nr``, ``trans_exit_code``...), grouped by transform id (or PanDA
task id).  Statuses are iDDS enums, dates `datetime` objects, exactly what
`idds.common.utils.json_dumps` puts on the wire for iDDS.
"""

from __future__ import annotations

import datetime
import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

from idds.common.constants import (
    CollectionStatus,
    ContentRelationType,
    ContentStatus,
    ContentType,
    ProcessingStatus,
    RequestLocking,
    RequestStatus,
    RequestType,
    TransformStatus,
    TransformType,
)

from ..core.job_states import CONTENT_STATUS, PANDA_JOB_STATUS, JobState
from ..core.request_plan import CAMPAIGN_KEYS

__all__ = ["content_record", "group_contents", "new_request_record", "request_record", "task_record"]


_LIFETIME = datetime.timedelta(days=30)
_PROCESSING_STATUS = {
    TransformStatus.New: ProcessingStatus.New,
    TransformStatus.Transforming: ProcessingStatus.Running,
    TransformStatus.Finished: ProcessingStatus.Finished,
    TransformStatus.SubFinished: ProcessingStatus.SubFinished,
    TransformStatus.Failed: ProcessingStatus.Failed,
    TransformStatus.Cancelled: ProcessingStatus.Cancelled,
}


def _time(value: float | None) -> datetime.datetime | None:
    if value is None:
        return None
    return datetime.datetime.fromtimestamp(value, datetime.UTC).replace(tzinfo=None)


def request_record(row: sqlite3.Row) -> dict[str, Any]:
    """Return a request in the shape of an iDDS ``requests`` row.

    Parameters
    ----------
    row : `sqlite3.Row`
        The request's row in the store.
    """
    created = _time(row["created_at"])
    return {
        "request_id": row["request_id"],
        "scope": "workflow",
        "name": row["name"],
        "requester": "panda",
        "request_type": RequestType.Workflow,
        "username": row["username"],
        "userdn": None,
        "transform_tag": "workflow",
        "workload_id": None,
        "priority": 0,
        "status": RequestStatus(row["status"]),
        "substatus": RequestStatus.New,
        "oldstatus": RequestStatus.New,
        "locking": RequestLocking.Idle,
        "created_at": created,
        "updated_at": _time(row["updated_at"]),
        "next_poll_at": _time(row["updated_at"]),
        "accessed_at": _time(row["updated_at"]),
        "expired_at": created + _LIFETIME if created else None,
        "new_retries": 0,
        "update_retries": 0,
        "max_new_retries": 3,
        "max_update_retries": 0,
        "new_poll_period": datetime.timedelta(seconds=1),
        "update_poll_period": datetime.timedelta(seconds=10),
        "site": None,
        **{key: row[key] for key in CAMPAIGN_KEYS},
        "errors": row["errors"],
    }


def _counts(counts: Mapping[JobState, int]) -> dict[str, int]:
    def get(*states: JobState) -> int:
        return sum(counts.get(state, 0) for state in states)

    total = sum(counts.values())
    new = get(JobState.WAITING, JobState.READY, JobState.HELD)
    # Cancelled jobs will produce nothing unless retried: counted with the missing ones.
    missing = get(JobState.MISSING, JobState.CANCELLED)
    return {
        "input_total_files": total,
        "input_processed_files": get(JobState.SUCCEEDED, JobState.FAILED),
        "input_processing_files": get(JobState.READY, JobState.RUNNING),
        "input_new_files": get(JobState.WAITING, JobState.HELD),
        "input_failed_files": 0,
        "input_missing_files": missing,
        "output_total_files": total,
        "output_processed_files": get(JobState.SUCCEEDED),
        "output_processing_files": get(JobState.RUNNING),
        "output_new_files": new,
        "output_failed_files": get(JobState.FAILED),
        "output_missing_files": missing,
    }


def task_record(request: sqlite3.Row, task: sqlite3.Row, counts: Mapping[JobState, int]) -> dict[str, Any]:
    """Return a request joined with one of its tasks, as iDDS's detailed ``get_requests``.

    Parameters
    ----------
    request : `sqlite3.Row`
        The request's row in the store.
    task : `sqlite3.Row`
        The task's row.
    counts : `~collections.abc.Mapping` [`JobState`, `int`]
        Number of the task's jobs in each state.
    """
    record = request_record(request)
    status = TransformStatus(task["status"])
    task_id = task["task_id"]
    created, updated, finished = (
        _time(task["created_at"]),
        _time(task["updated_at"]),
        _time(task["finished_at"]),
    )
    coll_status = CollectionStatus.Closed if finished else CollectionStatus.Open
    numbers = _counts(counts)
    record.update(
        {
            "transform_id": task_id,
            "transform_type": TransformType.Processing,
            "transform_name": task["name"],
            "transform_workload_id": task["workload_id"],
            "transform_status": status,
            "transform_created_at": created,
            "transform_updated_at": updated,
            "transform_finished_at": finished,
            "processing_id": task_id,
            "processing_transform_id": task_id,
            "processing_workload_id": task["workload_id"],
            "processing_status": _PROCESSING_STATUS.get(status, ProcessingStatus.New),
            "processing_created_at": created,
            "processing_updated_at": updated,
            "processing_finished_at": finished,
            "input_coll_id": 2 * task_id - 1,
            "input_coll_transform_id": task_id,
            "input_coll_scope": "pseudo_dataset",
            "input_coll_name": task["input_collection"],
            "input_coll_status": coll_status,
            "input_coll_bytes": 0,
            "output_coll_id": 2 * task_id,
            "output_coll_transform_id": task_id,
            "output_coll_scope": "pseudo_dataset",
            "output_coll_name": task["output_collection"],
            "output_coll_status": coll_status,
            "output_coll_bytes": 0,
        }
    )
    record.update(numbers)
    return record


_DETAIL_KEYS = (
    *(f"transform_{key}" for key in ("id", "type", "name", "workload_id", "status")),
    *(f"transform_{key}_at" for key in ("created", "updated", "finished")),
    *(f"processing_{key}" for key in ("id", "transform_id", "workload_id", "status")),
    *(f"processing_{key}_at" for key in ("created", "updated", "finished")),
    *(f"{side}_coll_{key}" for side in ("input", "output") for key in ("id", "transform_id", "scope")),
    *(f"{side}_coll_{key}" for side in ("input", "output") for key in ("name", "status", "bytes")),
    *(f"{side}_{key}_files" for side in ("input", "output") for key in ("total", "processed", "processing")),
    *(f"{side}_{key}_files" for side in ("input", "output") for key in ("new", "failed", "missing")),
)


def new_request_record(request: sqlite3.Row) -> dict[str, Any]:
    """Return the detailed record of a request nothing has run for yet, as iDDS sends it.

    Before its daemons take a request up, iDDS's detailed ``get_requests`` answers one row whose
    ``request_id`` and every transform, processing and collection column are None.

    Parameters
    ----------
    request : `sqlite3.Row`
        The request's row in the store.
    """
    record = request_record(request)
    record.update(dict.fromkeys(_DETAIL_KEYS))
    record["request_id"] = None
    return record


def content_record(task: sqlite3.Row, job: sqlite3.Row) -> dict[str, Any]:
    """Return one job as iDDS's ``get_contents_output_ext`` does (content + PanDA job).

    Parameters
    ----------
    task : `sqlite3.Row`
        The job's task row.
    job : `sqlite3.Row`
        The job's row joined with its latest attempt (`Store.jobs_with_last_attempt`).
    """
    state = JobState(job["status"])
    status = CONTENT_STATUS[state]
    # A job waiting for another attempt reads as iDDS's "Failed" (retrying), not "FinalFailed".
    if state == JobState.READY and job["exit_code"] not in (None, 0):
        status = ContentStatus.Failed
    started, ended = _time(job["started_at"]), _time(job["ended_at"])
    exit_code = job["exit_code"]
    return {
        "content_id": job["job_id"],
        "transform_id": task["task_id"],
        "coll_id": 2 * task["task_id"],
        "request_id": job["request_id"],
        "workload_id": task["workload_id"],
        "map_id": job["order_id"] + 1,  # 1-based in iDDS
        "content_dep_id": None,
        "scope": "pseudo_dataset",
        "name": job["name"],
        "min_id": 0,
        "max_id": 1,
        "content_type": ContentType.PseudoContent,
        "content_relation_type": ContentRelationType.Output,
        "status": status.name,
        "substatus": status,
        "locking": 0,
        "bytes": 1,
        "retries": max(job["attempt_nr"] - 1, 0),
        "path": job["log_path"],
        "created_at": _time(job["updated_at"]),
        "updated_at": _time(job["updated_at"]),
        "panda_id": job["panda_id"],
        "job_name": job["name"],
        "job_status": PANDA_JOB_STATUS[state],
        "attempt_nr": job["attempt_nr"],
        "max_attempt": job["attempt_limit"],
        "creation_time": started,
        "start_time": started,
        "end_time": ended,
        "modification_time": ended or started,
        "trans_exit_code": exit_code,
        "exe_error_code": exit_code if exit_code else None,
        "exe_error_diag": job["error_diag"] if exit_code and not job["error_code"] else None,
        "pilot_error_code": job["error_code"],
        "pilot_error_diag": job["error_diag"] if job["error_code"] else None,
        "computing_site": task["queue"] or "LOCAL",
        "jedi_task_id": task["workload_id"],
        "task_id": task["workload_id"],
        "core_count": task["core_count"],
        "min_ram_count": job["rss"],
        "max_rss": int(job["peak_rss_mb"] * 1024) if job["peak_rss_mb"] else None,
        "max_walltime": task["walltime"],
        "prod_source_label": task["prod_source_label"],
        "vo": task["vo"],
    }


def group_contents(
    tasks: Iterable[sqlite3.Row], jobs_of: Any, by_jedi_task_id: bool = False
) -> dict[int, list[dict[str, Any]]]:
    """Return the contents of some tasks keyed by transform id (or PanDA task id).

    Parameters
    ----------
    tasks : `~collections.abc.Iterable` [`sqlite3.Row`]
        The task rows.
    jobs_of : `~collections.abc.Callable` [[`list` [`int`]], `~collections.abc.Iterable` [`sqlite3.Row`]]
        Returns the jobs of some tasks with their latest attempts (`Store.jobs_with_last_attempt`).
    by_jedi_task_id : `bool`, optional
        Key by PanDA task id instead of transform id.
    """
    grouped: dict[int, list[dict[str, Any]]] = {}
    for task in tasks:
        key = task["workload_id"] if by_jedi_task_id else task["task_id"]
        grouped[key] = [content_record(task, job) for job in jobs_of([task["task_id"]])]
    return grouped
