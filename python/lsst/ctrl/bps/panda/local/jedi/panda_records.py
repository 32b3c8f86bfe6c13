# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""What the local PanDA's task/job API answers: PanDA task parameters read, job and file records.

Pure functions between the store's rows and the shapes PanDA's REST API
(``/api/v1``, panda-server 1.0.4) gives the iDDS daemons: `task_plan` reads
the parameters iDDS's ``DomaPanDAWork`` submits, `job_record` builds the
record ``job/get_description`` returns for one PanDA job (one attempt), and
`panda_task_status` names a task's state as JEDI does.  A job record's times are UTC text, as
the real server sends them (`job_time`); `wire_time` is panda-server's marked form
``{"__datetime__": iso}``, which ``pandaclient`` turns back into datetimes.
"""

from __future__ import annotations

import datetime
import sqlite3
from collections.abc import Mapping
from typing import Any

from idds.common.constants import TransformStatus

from ...errors import BadTaskParametersError
from ..core.job_states import JobState
from ..core.request_plan import TaskPlan
from ..pilot.attempts import Outcome
from ..state.event_table import is_fine_grained
from .job_spec_keys import FILE_SPEC_KEYS, JOB_SPEC_KEYS

__all__ = [
    "file_lfn",
    "file_status",
    "job_time",
    "job_record",
    "panda_task_status",
    "task_plan",
    "wire_time",
]

_ATTEMPT_JOB_STATUS: Mapping[str, str] = {
    "running": "running",
    Outcome.OK.value: "finished",
    Outcome.FAILED.value: "failed",
    Outcome.MEMORY.value: "failed",
    Outcome.WALLTIME.value: "failed",
    Outcome.LOST.value: "failed",
    Outcome.CANCELLED.value: "cancelled",
}
"""PanDA ``jobStatus`` of a job (an attempt) by the attempt's status."""

_TASK_STATUS: Mapping[TransformStatus, str] = {
    TransformStatus.New: "running",
    TransformStatus.Ready: "running",
    TransformStatus.Transforming: "running",
    TransformStatus.Finished: "done",
    TransformStatus.SubFinished: "finished",
    TransformStatus.Failed: "failed",
}
"""JEDI task status by the store task's status (a cancelled task: see `panda_task_status`)."""


_FILE_STATUS: Mapping[JobState, str] = {
    JobState.HELD: "staging",
    JobState.WAITING: "ready",
    JobState.READY: "ready",
    JobState.RUNNING: "running",
    JobState.SUCCEEDED: "finished",
    JobState.FAILED: "failed",
    JobState.MISSING: "missing",
    JobState.CANCELLED: "cancelled",
}
"""JEDI status of an input file by its job's state (held: waiting for iDDS to release it)."""


def job_time(epoch: float | None) -> str | None:
    """Return a time as panda-server 1.0.4 writes it in a job record: UTC text, no marker.

    Parameters
    ----------
    epoch : `float` or `None`
        Seconds since the epoch (`None` stays `None`).
    """
    if epoch is None:
        return None
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


def wire_time(epoch: float | None) -> dict[str, str] | None:
    """Return a time as panda-server encodes datetimes (`None` stays `None`).

    Parameters
    ----------
    epoch : `float` or `None`
        Time in seconds since the epoch.
    """
    if epoch is None:
        return None
    moment = datetime.datetime.fromtimestamp(epoch, datetime.UTC).replace(tzinfo=None)
    return {"__datetime__": moment.isoformat()}


def _number(params: Mapping[str, Any], key: str, default: float | None = None) -> float | None:
    value = params.get(key)
    if value in (None, ""):
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        raise BadTaskParametersError(f"Task parameter {key!r} must be a number, got {value!r}") from None


def _executable(params: Mapping[str, Any]) -> str:
    """Join the constant job parameters (DOMA tasks have exactly those)."""
    parts = params.get("jobParameters")
    if not isinstance(parts, list) or not parts:
        raise BadTaskParametersError("Task parameter 'jobParameters' must be a non-empty list")
    values = []
    for part in parts:
        if not isinstance(part, Mapping) or part.get("type") != "constant":
            kind = part.get("type") if isinstance(part, Mapping) else type(part).__name__
            raise BadTaskParametersError(
                f"Task parameter 'jobParameters' has a {kind!r} item; the local PanDA runs only "
                "'constant' ones (DOMA tasks)"
            )
        values.append(str(part.get("value", "")))
    return " ".join(values)


def task_plan(params: Mapping[str, Any]) -> TaskPlan:
    """Return the store's plan of a submitted PanDA task: one job per ``pfnList`` entry.

    Parameters
    ----------
    params : `~collections.abc.Mapping`
        ``task_parameters`` as ``DomaPanDAWork`` builds them: ``ramCount`` per core when
        ``ramUnit`` says so (as ``retryRamStep``), ``retryRamMax`` and ``maxWalltime`` as given.

    Raises
    ------
    BadTaskParametersError
        Raised if a parameter the jobs need is missing or malformed (the message names it).
    """
    name = params.get("taskName")
    if not name or not isinstance(name, str):
        raise BadTaskParametersError("Task parameter 'taskName' is missing")
    pfns = params.get("pfnList")
    if not isinstance(pfns, list) or not pfns or not all(isinstance(pfn, str) and pfn for pfn in pfns):
        raise BadTaskParametersError(f"Task {name}: 'pfnList' must be a non-empty list of names")
    if len(set(pfns)) != len(pfns):
        raise BadTaskParametersError(f"Task {name}: 'pfnList' names a file twice")
    if (odd := [pfn for pfn in pfns if is_fine_grained(pfn) != bool(params.get("fineGrainedProc"))])[:1]:
        raise BadTaskParametersError(
            f"Task {name}: 'pfnList' entry {odd[0]!r} "
            + (
                "is not <label>:eventservice_<start>^<n>, as fineGrainedProc tasks need"
                if params.get("fineGrainedProc")
                else "is an event-service input, which needs fineGrainedProc"
            )
        )
    cores = max(int(_number(params, "coreCount", 1) or 1), 1)
    per_core = cores if "PerCore" in str(params.get("ramUnit") or "") else 1
    ram = _number(params, "ramCount")
    step = _number(params, "retryRamStep")
    ram_max = _number(params, "retryRamMax")
    walltime = _number(params, "maxWalltime")
    return TaskPlan(
        name=name,
        queue=str(params.get("site") or params.get("PandaSite") or "LOCAL"),
        executable=_executable(params),
        max_attempt=max(int(_number(params, "maxAttempt", 1) or 1), 1),
        walltime=int(walltime) if walltime else None,
        rss=round(ram * per_core) if ram else None,
        rss_max=round(ram_max) if ram_max else None,
        rss_step=round(step * per_core) if step else 0,
        core_count=cores,
        priority=int(_number(params, "taskPriority", 0) or 0),
        input_collection=f"pseudo_dataset.{name}",
        output_collection=f"pseudo_dataset.{name}.out",
        entries=[{"name": pfn, "order_id": order} for order, pfn in enumerate(pfns)],
        vo=params.get("vo"),
        prod_source_label=params.get("prodSourceLabel"),
    )


def panda_task_status(
    status: TransformStatus, ended_by: str | None, all_succeeded: bool, any_succeeded: bool = True
) -> str:
    """Return the JEDI status of a task.

    A finished task (``finish`` command) ends as JEDI's post-processor ends it: ``done`` when
    every job succeeded, ``failed`` when none did, ``finished`` otherwise.

    Parameters
    ----------
    status : `~idds.common.constants.TransformStatus`
        The store task's status.
    ended_by : `str` or `None`
        ``"kill"`` or ``"finish"`` when a command ended the task.
    all_succeeded : `bool`
        Every job of the task succeeded.
    any_succeeded : `bool`, optional
        Some job of the task succeeded.
    """
    if status == TransformStatus.Cancelled:
        if ended_by == "finish":
            return "done" if all_succeeded else "finished" if any_succeeded else "failed"
        return "aborted"
    return _TASK_STATUS.get(status, "running")


def file_lfn(serial: int, pfn: str) -> str:
    """Return the LFN JEDI gives the ``serial``-th ``pfnList`` entry of a task.

    JEDI keeps a fine-grained entry's ``^<events>`` as the file's number of events, not in its LFN.

    Parameters
    ----------
    serial : `int`
        Position of the entry in the task's ``pfnList``.
    pfn : `str`
        The entry.
    """
    return f"{serial:06d}:{pfn.split('/')[-1].split('^')[0]}"


def file_status(state: JobState) -> str:
    """Return the JEDI status of a task's input file from its job's state.

    Parameters
    ----------
    state : `JobState`
        State of the file's job.
    """
    return _FILE_STATUS[state]


def _outcome_fields(row: sqlite3.Row) -> dict[str, Any]:
    """Exit and error codes as a pilot reports them."""
    status = row["attempt_status"]
    code = row["exit_code"]
    pilot_code = row["error_code"] or 0
    payload_failed = status == Outcome.FAILED.value
    return {
        # panda-server stores the pilot's code as text: "0", "3"
        "transExitCode": str(code) if code is not None else (None if status == "running" else "0"),
        "exeErrorCode": code if payload_failed and code else 0,
        "exeErrorDiag": row["error_diag"] if payload_failed else None,
        "pilotErrorCode": pilot_code,
        "pilotErrorDiag": row["error_diag"] if pilot_code or status == Outcome.LOST.value else None,
        "taskBufferErrorCode": 0,
        "taskBufferErrorDiag": "killed by the task's kill command" if status == "cancelled" else None,
        "supErrorCode": 0,
        "ddmErrorCode": 0,
        "brokerageErrorCode": 0,
        "jobDispatcherErrorCode": 0,
    }


def job_record(row: sqlite3.Row) -> dict[str, Any]:
    """Return one PanDA job (one attempt of a job) as ``job/get_description`` does.

    Parameters
    ----------
    row : `sqlite3.Row`
        The attempt with its job, store task and PanDA task columns
        (`~lsst.ctrl.bps.panda.local.jedi.panda_tasks.PandaTasks.job_rows`).

    Returns
    -------
    record : `dict`
        ``JobSpec`` attributes (those iDDS reads among them: ``PandaID``, ``jobStatus``,
        ``attemptNr``, ``maxAttempt``, ``jobsetID``, ``eventService``, ``jobSubStatus``,
        ``jediTaskID``, ``Files`` with the ``pseudo_input`` file) and ``Files``.
    """
    panda_id = row["attempt_id"]
    jedi_task_id = row["jedi_task_id"]
    status = _ATTEMPT_JOB_STATUS.get(row["attempt_status"], "failed")
    started, ended = job_time(row["started_at"]), job_time(row["ended_at"])
    record: dict[str, Any] = {
        "PandaID": panda_id,
        "jobDefinitionID": jedi_task_id,
        "jobsetID": jedi_task_id,
        "jediTaskID": jedi_task_id,
        "taskID": jedi_task_id,
        "reqID": row["idds_request_id"],
        "jobName": row["name"],
        "jobStatus": status,
        "jobSubStatus": None,
        "eventService": None,
        "attemptNr": row["attempt_nr"],
        "maxAttempt": row["attempt_limit"],
        "failedAttempt": max(row["attempt_nr"] - 1, 0),  # the attempts that failed before this one
        "creationTime": started,
        "startTime": started,
        "endTime": ended,
        "modificationTime": ended or started,
        "prodSourceLabel": row["prod_source_label"],
        "prodUserID": row["user_name"],
        "prodUserName": row["user_name"],
        "VO": row["vo"],
        "computingSite": row["queue"],
        "computingElement": row["queue"],
        "workingGroup": row["working_group"],
        "processingType": row["processing_type"],
        "transformation": row["trans_path"],
        "assignedPriority": row["priority"],
        "currentPriority": row["priority"],
        "coreCount": row["core_count"],
        "actualCoreCount": row["core_count"],
        "minRamCount": row["rss_limit"],
        "minRamUnit": "MB",
        "maxRSS": round(row["peak_rss_mb"] * 1024) if row["peak_rss_mb"] else None,
        "maxWalltime": row["walltime"],
        "maxCpuCount": row["walltime"],
        "nInputFiles": 1,
        "Files": [
            {
                "row_ID": row["job_id"],
                "PandaID": panda_id,
                "jediTaskID": jedi_task_id,
                "datasetID": row["dataset_id"],
                "fileID": row["job_id"],
                "attemptNr": row["attempt_nr"],
                "type": "pseudo_input",
                "lfn": file_lfn(row["serial"], row["name"]),
                "scope": None,
                "dataset": row["dataset_name"],
                "status": "unknown",  # what panda-server 1.0.4 sends for a job's pseudo input
                **dict.fromkeys(FILE_SPEC_KEYS),
            }
        ],
    }
    record.update(_outcome_fields(row))
    for key in JOB_SPEC_KEYS:
        record.setdefault(key, None)
    return record
