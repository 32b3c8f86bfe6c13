# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Turn iDDS request records into a `~lsst.ctrl.bps.WmsRunReport`.

Counts come from the transform (task) records; chunks and memory classes of
one label add up to one row.  Exit codes come only from the job records of
``get_contents_output_ext``: a failed job without a reported exit code adds
nothing, never a made-up value.

The final job is also listed in ``report.jobs`` (name and label ``finalJob``),
its state taken from its task's counts: campaign managers accept a failed run
whose final job succeeded.  It is left out of a cancelled run, and of a run
whose jobs were cut short (a task ended with jobs neither succeeded, failed
nor pruned: on the idds engine iDDS still runs the final job after an abort
and the request ends SubFinished), so that such a run is never accepted on
the strength of its final job.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from lsst.ctrl.bps import WmsJobReport, WmsRunReport, WmsSpecificInfo, WmsStates

from ..states import job_state, request_state, transform_state
from ..task_names import label_of_task
from .run_commands import as_utc

__all__ = [
    "FINAL_JOB_LABEL",
    "final_job_report",
    "monitor_link",
    "run_report_from_records",
    "summary_reports",
]

_LOG = logging.getLogger(__name__)

FINAL_JOB_LABEL = "finalJob"
"""Name and label ctrl_bps gives the final job (campaign managers look it up by this name)."""

_FINAL_JOB_STATE_ORDER = (
    WmsStates.RUNNING,
    WmsStates.FAILED,
    WmsStates.SUCCEEDED,
    WmsStates.PRUNED,
    WmsStates.DELETED,
    WmsStates.UNREADY,
)
"""The final job is one job: the first state of this order its task counts hold is its state."""

_TERMINAL_TASK_STATES = frozenset({WmsStates.SUCCEEDED, WmsStates.FAILED, WmsStates.DELETED})


def _empty_counts() -> dict[WmsStates, int]:
    return dict.fromkeys(WmsStates, 0)


def _count(record: Mapping[str, Any], key: str) -> int:
    value = record.get(key)
    try:
        return int(value) if value is not None else 0
    except (TypeError, ValueError):
        return 0


def _task_counts(record: Mapping[str, Any], run_state: WmsStates) -> dict[WmsStates, int]:
    counts = _empty_counts()
    total = _count(record, "output_total_files")
    counts[WmsStates.SUCCEEDED] = _count(record, "output_processed_files")
    counts[WmsStates.FAILED] = _count(record, "output_failed_files")
    counts[WmsStates.PRUNED] = _count(record, "output_missing_files")
    counts[WmsStates.RUNNING] = _count(record, "output_processing_files")
    rest = max(total - sum(counts.values()), 0)
    task_state = transform_state(record.get("transform_status"))
    if run_state == WmsStates.DELETED:
        # iDDS marks the jobs of a cancelled request failed or missing: every job that did not
        # succeed was cancelled (DELETED), not pruned after a failed parent.
        counts[WmsStates.DELETED] = total - counts[WmsStates.SUCCEEDED]
        for state in (WmsStates.FAILED, WmsStates.PRUNED, WmsStates.RUNNING):
            counts[state] = 0
    elif WmsStates.DELETED == task_state:
        counts[WmsStates.DELETED] = rest
    else:
        counts[WmsStates.UNREADY] = rest
    return counts


def _identity(record: Mapping[str, Any]) -> dict[str, str]:
    """Return the report fields that name a run, from its request record.

    The bps project, campaign and payload travel in iDDS's campaign columns (see `convert`).
    """
    request_id = str(record.get("request_id"))
    name = str(record.get("name") or "")
    return {
        "wms_id": request_id,
        "global_wms_id": request_id,
        "run": name,
        "label": name,
        "project": record.get("campaign_scope") or "",
        "campaign": record.get("campaign") or "",
        "payload": record.get("campaign_tag") or "",
        "operator": str(record.get("username") or ""),
    }


def monitor_link(monitor_url: str | None, request_id: Any) -> str | None:
    """Return the PanDA monitor page of a request, when a monitor is configured.

    Parameters
    ----------
    monitor_url : `str` or `None`
        Base URL of the PanDA monitor (``pandaMonitorUrl``); `None` or empty if there is none.
    request_id : `int` or `str`
        The request.
    """
    if not monitor_url:
        return None
    return f"{monitor_url.rstrip('/')}/tasks/?reqid={request_id}"


@dataclasses.dataclass
class _TaskTally:
    """What the task records of one request add up to."""

    job_summary: dict[str, dict[WmsStates, int]] = dataclasses.field(default_factory=dict)
    """Job counts per label and state."""
    expected: dict[str, int] = dataclasses.field(default_factory=dict)
    """Jobs per label."""
    label_by_task_key: dict[str, str] = dataclasses.field(default_factory=dict)
    """Label of each task key (workload id, transform id, task name)."""
    cut_short: bool = False
    """Whether a task (other than the final job's) ended with jobs neither succeeded, failed nor pruned."""


def _tally_tasks(records: list[dict[str, Any]], name: str, run_state: WmsStates) -> _TaskTally:
    """Add up the task records of a request by label."""
    tally = _TaskTally()
    for record in records:
        task_name = record.get("transform_name")
        if not task_name:
            continue  # a request row without transform (not yet processed)
        label = label_of_task(str(task_name), name)
        for key in ("transform_workload_id", "transform_id"):
            if record.get(key) is not None:
                tally.label_by_task_key[str(record[key])] = label
        tally.label_by_task_key[str(task_name)] = label
        counts = tally.job_summary.setdefault(label, _empty_counts())
        for state, count in _task_counts(record, run_state).items():
            counts[state] += count
        tally.expected[label] = tally.expected.get(label, 0) + _count(record, "output_total_files")
        tally.cut_short = tally.cut_short or (label != FINAL_JOB_LABEL and _jobs_cut_short(record))
    return tally


def run_report_from_records(
    records: list[dict[str, Any]],
    contents: Mapping[str, list[dict[str, Any]]] | None = None,
    *,
    request_id: int | str | None = None,
    path: str | None = None,
    monitor_url: str | None = None,
    state: WmsStates | None = None,
) -> WmsRunReport:
    """Build the detailed report of one request.

    Parameters
    ----------
    records : `list` [`dict`]
        ``get_requests(request_id, with_detail=True)``: one record per task.
    contents : `dict` [`str`, `list` [`dict`]], optional
        ``get_contents_output_ext(request_id)``: job records by task, for exit
        codes.
    request_id : `int` or `str`, optional
        The request asked for: iDDS's detailed record of a request its daemons have not yet
        taken up (status New, every ``transform_*`` None) has ``request_id`` None.
    path : `str`, optional
        The submit directory, when known.
    monitor_url : `str`, optional
        PanDA monitor base URL.
    state : `lsst.ctrl.bps.WmsStates`, optional
        The run state when it is not the request status's own (a pending restart, a recorded
        cancel: `run_reading.read_run`).

    Returns
    -------
    report : `lsst.ctrl.bps.WmsRunReport`
        Run state, per-label counts, exit codes, and the final job in ``jobs``.
    """
    first = dict(records[0])
    if first.get("request_id") is None:
        first["request_id"] = request_id
    request_id = first.get("request_id")
    name = str(first.get("name") or "")
    run_state = request_state(first.get("status")) if state is None else state
    tally = _tally_tasks(records, name, run_state)
    job_summary, label_by_task_key = tally.job_summary, tally.label_by_task_key
    state_counts = _empty_counts()
    for counts in job_summary.values():
        for job_state_, count in counts.items():
            state_counts[job_state_] += count

    report = WmsRunReport(
        **_identity(first),
        path=path,
        run_summary=";".join(f"{label}:{count}" for label, count in tally.expected.items()),
        state=run_state,
        jobs=[],
        total_number_jobs=sum(tally.expected.values()),
        job_state_counts=state_counts,
        job_summary=job_summary,
    )
    final_job = final_job_report(job_summary, label_by_task_key, run_state, cut_short=tally.cut_short)
    if final_job is not None:
        report.jobs = [final_job]
    info = WmsSpecificInfo()
    if contents is not None:
        report.exit_code_summary = _exit_codes(contents, label_by_task_key, job_summary)
        for message in _memory_kills(contents, label_by_task_key):
            info.add_message("{message}", message=message)
    link = monitor_link(monitor_url, request_id)
    if link:
        info.add_message("PanDA monitor: {link}", link=link)
    if str(info):
        report.specific_info = info
    return report


def _jobs_cut_short(record: Mapping[str, Any]) -> bool:
    """Whether a task ended with jobs neither succeeded, failed nor pruned (cancelled, on iDDS)."""
    if transform_state(record.get("transform_status")) not in _TERMINAL_TASK_STATES:
        return False
    ended = sum(
        _count(record, key)
        for key in ("output_processed_files", "output_failed_files", "output_missing_files")
    )
    return _count(record, "output_total_files") > ended


def final_job_report(
    job_summary: Mapping[str, Mapping[WmsStates, int]],
    label_by_task_key: Mapping[str, str],
    run_state: WmsStates,
    *,
    cut_short: bool = False,
) -> WmsJobReport | None:
    """Return the final job's entry of ``report.jobs``, its state from its task's counts.

    Parameters
    ----------
    job_summary : `~collections.abc.Mapping`
        Job counts per label and state (the report's ``job_summary``).
    label_by_task_key : `~collections.abc.Mapping` [`str`, `str`]
        Label of each task key (workload id, transform id, task name).
    run_state : `lsst.ctrl.bps.WmsStates`
        The run's state.
    cut_short : `bool`, optional
        Whether some task ended with jobs that neither succeeded, failed nor were pruned.

    Returns
    -------
    job : `lsst.ctrl.bps.WmsJobReport` or `None`
        `None` when the run has no final task yet, was cancelled (DELETED), or was cut short.
    """
    counts = job_summary.get(FINAL_JOB_LABEL)
    if counts is None or run_state == WmsStates.DELETED or cut_short:
        return None
    state = next((s for s in _FINAL_JOB_STATE_ORDER if counts.get(s, 0) > 0), WmsStates.UNREADY)
    task_keys = sorted(key for key, label in label_by_task_key.items() if label == FINAL_JOB_LABEL)
    wms_id = next((key for key in task_keys if key.isdigit()), task_keys[0] if task_keys else "")
    return WmsJobReport(wms_id=wms_id, name=FINAL_JOB_LABEL, label=FINAL_JOB_LABEL, state=state)


PAYLOAD_EXCEEDED_MEMORY = 1235
"""PanDA pilot error code PAYLOADEXCEEDMAXMEM."""


def _memory_kills(
    contents: Mapping[str, list[dict[str, Any]]], label_by_task_key: Mapping[str, str]
) -> list[str]:
    """Say which failed jobs were killed for their memory (their exit code alone reads as kill -9)."""
    killed: dict[str, list[str]] = {}
    for task_key, jobs in contents.items():
        for job in jobs or ():
            if job_state(job.get("status")) != WmsStates.FAILED:
                continue
            if str(job.get("pilot_error_code")) != str(PAYLOAD_EXCEEDED_MEMORY):
                continue
            label = label_by_task_key.get(str(task_key)) or str(task_key)
            diag = job.get("pilot_error_diag") or "payload exceeded its memory limit"
            killed.setdefault(label, []).append(
                f"exit {job.get('trans_exit_code')}: {diag} (pilot error {PAYLOAD_EXCEEDED_MEMORY})"
            )
    return [
        f"{label}: {len(causes)} job(s) killed for exceeding their memory, e.g. {causes[0]}; "
        "raise requestMemory for this label"
        for label, causes in killed.items()
    ]


def _exit_codes(
    contents: Mapping[str, list[dict[str, Any]]],
    label_by_task_key: Mapping[str, str],
    job_summary: Mapping[str, Any],
) -> dict[str, list[int]]:
    summary: dict[str, list[int]] = {label: [] for label in job_summary}
    for task_key, jobs in contents.items():
        label = label_by_task_key.get(str(task_key))
        for job in jobs or ():
            job_label = label or label_by_task_key.get(str(job.get("transform_id")))
            if job_label is None:
                _LOG.debug("Job record of unknown task %s ignored", task_key)
                continue
            code = job.get("trans_exit_code")
            if job_state(job.get("status")) != WmsStates.FAILED or code in (None, "", 0, "0"):
                continue
            try:
                summary.setdefault(job_label, []).append(int(code))
            except (TypeError, ValueError):
                _LOG.debug("Non-numeric exit code %r of %s ignored", code, job.get("name"))
    return summary


def summary_reports(records: Iterable[dict[str, Any]], hist_days: float = 0) -> list[WmsRunReport]:
    """Build one summary report per request from ``get_requests()`` records.

    Parameters
    ----------
    records : `~collections.abc.Iterable` [`dict`]
        Request records (without detail).
    hist_days : `float`, optional
        Also include requests that ended within this many days; running ones
        are always included.

    Returns
    -------
    reports : `list` [`lsst.ctrl.bps.WmsRunReport`]
        Most recent first.
    """
    cutoff = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=hist_days)
    reports = []
    seen = set()
    for record in records:
        request_id = record.get("request_id")
        if request_id in seen:
            continue
        seen.add(request_id)
        state = request_state(record.get("status"))
        if state in (WmsStates.SUCCEEDED, WmsStates.FAILED, WmsStates.DELETED):
            updated = as_utc(record.get("updated_at") or record.get("created_at"))
            if updated is not None and updated < cutoff:
                continue
        reports.append(
            WmsRunReport(
                **_identity(record),
                state=state,
                job_state_counts=_empty_counts(),
                jobs=[],
            )
        )
    reports.sort(key=lambda r: int(r.wms_id) if str(r.wms_id).isdigit() else 0, reverse=True)
    return reports
