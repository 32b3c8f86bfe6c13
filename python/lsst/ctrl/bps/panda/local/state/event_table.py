# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""PanDA's event table for fine-grained jobs, in the local PanDA's store.

A fine-grained job (pseudo input ``<label>:eventservice_<start>^<n>``) has
``n`` events.  Each attempt (one PanDA job) runs the events no earlier attempt
finished (`events_to_run`); when it ends, the outcome of every event it was
given is recorded (`record_attempt_events`): ``finished``, ``failed`` with the
payload's exit code, or ``ready`` when the attempt stopped before it.  From
those rows come the job's ``jobStatus``/``jobSubStatus`` (`attempt_end`) and
the answer of ``event/get_event_range_statuses`` (`event_range_statuses`),
which iDDS reads to decide, per payload, what finished and what failed.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..core.event_ranges import (
    FINE_GRAINED_FLAG,
    EventRange,
    EventStatus,
    FineGrainedEnd,
    event_range_id,
    event_ranges,
    fine_grained_end,
    read_event_outcomes,
)

__all__ = [
    "JOBSET_OFFSET",
    "attempt_end",
    "event_range_statuses",
    "fine_grained_fields",
    "events_to_run",
    "is_fine_grained",
    "record_attempt_events",
]

JOBSET_OFFSET = 10**12
"""A fine-grained job's ``jobsetID`` is this plus its job id (apart from every ``PandaID``)."""

_FINE_GRAINED_NAME = re.compile(r"[^:+^]+:eventservice_[0-9]+\^[0-9]+")


def is_fine_grained(pseudo_input: str) -> bool:
    """Return whether a job's pseudo input is an event-service one (``<label>:eventservice_<start>^<n>``).

    Parameters
    ----------
    pseudo_input : `str`
        Pseudo input name of the job.
    """
    return _FINE_GRAINED_NAME.fullmatch(pseudo_input) is not None


def events_to_run(conn: sqlite3.Connection, job_id: int, pseudo_input: str) -> list[EventRange]:
    """Return the events of a job that no attempt finished, in order.

    Parameters
    ----------
    conn : `sqlite3.Connection`
        Connection to the store's database.
    job_id : `int`
        The job.
    pseudo_input : `str`
        Pseudo input name of the job, which gives its event range.
    """
    finished = {
        row[0]
        for row in conn.execute(
            "SELECT number FROM job_events WHERE job_id = ? AND status = ?",
            (job_id, EventStatus.FINISHED.value),
        )
    }
    return [event for event in event_ranges(pseudo_input) if event.number not in finished]


def record_attempt_events(
    conn: sqlite3.Connection,
    job_id: int,
    attempt_id: int,
    attempt_nr: int,
    pseudo_input: str,
    workdir: Path,
) -> FineGrainedEnd:
    """Record the outcome of every event an ended attempt was given; return the job's end.

    Call once per attempt, inside the transaction that records the attempt's end.

    Parameters
    ----------
    conn : `sqlite3.Connection`
        Connection to the store's database, inside the attempt's transaction.
    job_id : `int`
        The job.
    attempt_id : `int`
        The attempt (its PanDA id).
    attempt_nr : `int`
        The attempt's number among the job's attempts.
    pseudo_input : `str`
        Pseudo input name of the job, which gives its event range.
    workdir : `pathlib.Path`
        Working directory of the attempt, where the event runner wrote each event's exit code.
    """
    given = [event.number for event in events_to_run(conn, job_id, pseudo_input)]
    outcomes = read_event_outcomes(workdir)
    end = fine_grained_end(given, outcomes)
    conn.executemany(
        "INSERT OR REPLACE INTO job_events (job_id, number, attempt_id, attempt_nr, status, exit_code, "
        "error_diag) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (
                job_id,
                number,
                attempt_id,
                attempt_nr,
                status.value,
                outcomes.get(number),
                f"payload exited with code {outcomes[number]}" if status is EventStatus.FAILED else None,
            )
            for number, status in end.statuses.items()
        ],
    )
    return end


def attempt_end(conn: sqlite3.Connection, attempt_id: int) -> FineGrainedEnd | None:
    """Return how PanDA ended one fine-grained job (attempt) from its recorded events (`None`: none).

    Parameters
    ----------
    conn : `sqlite3.Connection`
        Connection to the store's database.
    attempt_id : `int`
        The attempt (its PanDA id).
    """
    rows = conn.execute(
        "SELECT number, status, exit_code FROM job_events WHERE attempt_id = ? ORDER BY number", (attempt_id,)
    ).fetchall()
    if not rows:
        return None
    outcomes = {row[0]: row[2] for row in rows if row[2] is not None}
    return fine_grained_end([row[0] for row in rows], outcomes)


def fine_grained_fields(
    conn: sqlite3.Connection, attempt_id: int, job_id: int, job_status: str
) -> dict[str, Any]:
    """Return what a fine-grained job's ``job/get_description`` record says beyond a plain job's.

    ``eventService`` 6, a ``jobsetID`` of its own (where PanDA gives back the events it did
    not finish), and once it ended, ``jobStatus`` and ``jobSubStatus`` from its events.

    Parameters
    ----------
    conn : `sqlite3.Connection`
        Connection to the store's database.
    attempt_id : `int`
        The attempt (its PanDA id).
    job_id : `int`
        The job, whose id gives the ``jobsetID``.
    job_status : `str`
        PanDA status of the attempt; events decide the status only once it is ``finished`` or ``failed``.
    """
    fields: dict[str, Any] = {"eventService": FINE_GRAINED_FLAG, "jobsetID": JOBSET_OFFSET + job_id}
    end = attempt_end(conn, attempt_id)
    if end is not None and job_status in ("finished", "failed"):
        fields.update(jobStatus=end.job_status, jobSubStatus=end.job_sub_status)
    return fields


def _job_and_task(value: Any) -> tuple[int, int] | None:
    if not isinstance(value, dict):
        return None
    try:
        return int(value["task_id"]), int(value["panda_id"] if "panda_id" in value else value["job_id"])
    except (KeyError, TypeError, ValueError):
        return None


def event_range_statuses(conn: sqlite3.Connection, job_task_ids: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """Answer ``event/get_event_range_statuses``.

    Parameters
    ----------
    conn : `sqlite3.Connection`
        The store (with the PanDA task tables).
    job_task_ids : `~collections.abc.Iterable` [`dict`]
        ``{"task_id": jediTaskID, "panda_id": PandaID or jobsetID}`` pairs, as iDDS asks.

    Returns
    -------
    statuses : `dict`
        ``{"<id>": {"<task>-<id>-<fileID>-<k>-<attemptNr>": {"status", "error", "dialog"}}}``: a
        PanDA job's events as it ended them; a job set's, the events given back (``ready``).
        Unknown ids map to ``{}``.
    """
    answer: dict[str, dict[str, Any]] = {}
    for pair in job_task_ids:
        found = _job_and_task(pair)
        if found is None:
            continue
        task_id, panda_id = found
        events: dict[str, Any] = {}
        if panda_id >= JOBSET_OFFSET:
            rows = conn.execute(_GIVEN_BACK, (panda_id - JOBSET_OFFSET, task_id)).fetchall()
            for job_id, number, attempt_nr in rows:
                range_id = event_range_id(task_id, panda_id, job_id, number, attempt_nr)
                events[range_id] = {"status": EventStatus.READY.value, "error": None, "dialog": None}
        else:
            for job_id, number, attempt_nr, status, code, diag in conn.execute(_OF_JOB, (panda_id, task_id)):
                range_id = event_range_id(task_id, panda_id, job_id, number, attempt_nr)
                failed = status == EventStatus.FAILED.value
                events[range_id] = {"status": status, "error": code if failed else None, "dialog": diag}
        answer[str(panda_id)] = events
    return answer


_OF_JOB = (
    "SELECT e.job_id, e.number, e.attempt_nr, e.status, e.exit_code, e.error_diag FROM job_events e "
    "JOIN jobs j ON j.job_id = e.job_id JOIN panda_tasks p ON p.task_id = j.task_id "
    "WHERE e.attempt_id = ? AND p.jedi_task_id = ? ORDER BY e.number"
)
_GIVEN_BACK = (
    "SELECT e.job_id, e.number, MAX(e.attempt_nr) FROM job_events e JOIN jobs j ON j.job_id = e.job_id "
    "JOIN panda_tasks p ON p.task_id = j.task_id WHERE e.job_id = ? AND p.jedi_task_id = ? "
    "GROUP BY e.number HAVING SUM(e.status = 'finished') = 0 ORDER BY e.number"
)
