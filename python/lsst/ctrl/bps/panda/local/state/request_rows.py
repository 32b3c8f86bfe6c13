# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Rows of a new request for the store: the request, its tasks, jobs and dependencies."""

from __future__ import annotations

import sqlite3

from idds.common.constants import RequestStatus, TransformStatus

from ..core.job_states import JobState
from ..core.request_plan import CAMPAIGN_KEYS, RequestPlan, TaskPlan

__all__ = ["INSERT_TASK", "WORKLOAD_ID_OFFSET", "add_job_rows", "insert_request", "number_plan", "task_row"]

WORKLOAD_ID_OFFSET = 1000
"""A task's PanDA task id (iDDS ``workload_id``) is its transform id plus this."""

_TASK_COLUMNS = (
    "task_id", "request_id", "name", "workload_id", "queue", "executable", "max_attempt", "walltime", "rss",
    "rss_max", "rss_step", "core_count", "priority", "input_collection", "output_collection", "gated",
    "status", "created_at", "updated_at", "vo", "prod_source_label",
)  # fmt: skip

INSERT_TASK = f"INSERT INTO tasks ({', '.join(_TASK_COLUMNS)}) VALUES ({', '.join('?' * len(_TASK_COLUMNS))})"


def insert_request(conn: sqlite3.Connection, plan: RequestPlan, now: float) -> int:
    """Insert the request row; return its id.

    Parameters
    ----------
    conn : `sqlite3.Connection`
        Connection to the store's database, inside the request's transaction.
    plan : `RequestPlan`
        The request to create.
    now : `float`
        Creation time (seconds since the epoch).
    """
    cursor = conn.execute(
        "INSERT INTO requests (name, username, internal_id, status, created_at, updated_at, "
        "campaign, campaign_scope, campaign_group, campaign_tag) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            plan.name,
            plan.username,
            plan.internal_id,
            RequestStatus.New.value,  # Transforming once its first job starts, as in iDDS
            now,
            now,
            *(plan.campaign.get(key) for key in CAMPAIGN_KEYS),
        ),
    )
    assert cursor.lastrowid is not None  # set by every INSERT
    return cursor.lastrowid


def number_plan(
    conn: sqlite3.Connection, plan: RequestPlan
) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    """Give every task and job of a plan its id (after the largest in the database).

    Parameters
    ----------
    conn : `sqlite3.Connection`
        Connection to the store's database, inside the request's transaction.
    plan : `RequestPlan`
        The request whose tasks and jobs are numbered.
    """
    next_task = conn.execute("SELECT COALESCE(MAX(task_id), 0) FROM tasks").fetchone()[0] + 1
    next_job = conn.execute("SELECT COALESCE(MAX(job_id), 0) FROM jobs").fetchone()[0] + 1
    task_ids: dict[str, int] = {}
    job_ids: dict[tuple[str, str], int] = {}
    for task in plan.tasks:
        task_ids[task.name] = next_task
        next_task += 1
        for entry in task.entries:
            job_ids[(task.name, entry["name"])] = next_job
            next_job += 1
    return task_ids, job_ids


def task_row(task: TaskPlan, task_id: int, request_id: int, now: float) -> tuple:
    """Return a task's row, in `_TASK_COLUMNS` order.

    Parameters
    ----------
    task : `TaskPlan`
        The task.
    task_id : `int`
        Its id (from `number_plan`).
    request_id : `int`
        The request it belongs to.
    now : `float`
        Creation time (seconds since the epoch).
    """
    gated = task.gate is not None
    status = TransformStatus.New if gated else TransformStatus.Transforming
    return (
        task_id,
        request_id,
        task.name,
        task_id + WORKLOAD_ID_OFFSET,
        task.queue,
        task.executable,
        task.max_attempt,
        task.walltime,
        task.rss,
        task.rss_max,
        task.rss_step,
        task.core_count,
        task.priority,
        task.input_collection,
        task.output_collection,
        int(gated),
        status.value,
        now,
        now,
        task.vo,
        task.prod_source_label,
    )


def add_job_rows(
    task: TaskPlan,
    task_id: int,
    request_id: int,
    job_ids: dict[tuple[str, str], int],
    now: float,
    job_rows: list[tuple],
    dep_rows: list[tuple[int, int]],
) -> None:
    """Append the rows of a task's jobs and of their dependencies.

    Parameters
    ----------
    task : `TaskPlan`
        The task whose jobs are added.
    task_id : `int`
        Its id (from `number_plan`).
    request_id : `int`
        The request it belongs to.
    job_ids : `dict` [`tuple` [`str`, `str`], `int`]
        Id of each job, by task name and pseudo input name (from `number_plan`).
    now : `float`
        Creation time (seconds since the epoch).
    job_rows : `list` [`tuple`]
        Job rows, appended to.
    dep_rows : `list` [`tuple` [`int`, `int`]]
        Pairs of job id and parent job id, appended to.
    """
    gated = task.gate is not None
    for order, entry in enumerate(task.entries):
        job_id = job_ids[(task.name, entry["name"])]
        parents = {job_ids[(dep["task"], dep["inputname"])] for dep in entry.get("dependencies", ())}
        dep_rows.extend((job_id, parent) for parent in parents)
        state = JobState.HELD if gated else (JobState.WAITING if parents else JobState.READY)
        job_rows.append(
            (
                job_id,
                task_id,
                request_id,
                task.queue,
                entry["name"],
                entry.get("order_id", order),
                state.value,
                len(parents),
                task.max_attempt,
                task.rss,
                now,
            )
        )
