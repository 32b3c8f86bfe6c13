# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause

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

from .events import (
    EventRange,
    EventStatus,
    FineGrainedEnd,
    event_range_id,
    event_ranges,
    fine_grained_end,
    read_event_outcomes,
)

__all__ = [
    "EVENTS_SCHEMA",
    "attempt_end",
    "event_range_statuses",
    "events_to_run",
    "is_fine_grained",
    "record_attempt_events",
]

EVENTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS job_events (
    job_id INTEGER NOT NULL, number INTEGER NOT NULL, attempt_id INTEGER NOT NULL,
    attempt_nr INTEGER NOT NULL, status TEXT NOT NULL, exit_code INTEGER, error_diag TEXT,
    PRIMARY KEY (attempt_id, number));
CREATE INDEX IF NOT EXISTS job_events_job ON job_events (job_id, status);
"""
"""One row per event given to an attempt (``attempt_id`` is the PanDA job's ``PandaID``)."""

_FINE_GRAINED_NAME = re.compile(r"[^:+^]+:eventservice_[0-9]+\^[0-9]+")


def is_fine_grained(pseudo_input: str) -> bool:
    """Return whether a job's pseudo input is an event-service one (``<label>:eventservice_<start>^<n>``)."""
    return _FINE_GRAINED_NAME.fullmatch(pseudo_input) is not None


def events_to_run(conn: sqlite3.Connection, job_id: int, pseudo_input: str) -> list[EventRange]:
    """Return the events of a job that no attempt finished, in order."""
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
    """Return how PanDA ended one fine-grained job (attempt) from its recorded events (`None`: none)."""
    rows = conn.execute(
        "SELECT number, status, exit_code FROM job_events WHERE attempt_id = ? ORDER BY number", (attempt_id,)
    ).fetchall()
    if not rows:
        return None
    outcomes = {row[0]: row[2] for row in rows if row[2] is not None}
    return fine_grained_end([row[0] for row in rows], outcomes)


def event_range_statuses(
    conn: sqlite3.Connection, task_id: int, panda_ids: Iterable[int], file_id_of: dict[int, int] | None = None
) -> dict[str, dict[str, dict[str, Any]]]:
    """Answer ``event/get_event_range_statuses`` for PanDA jobs of one task.

    Parameters
    ----------
    conn : `sqlite3.Connection`
        The store.
    task_id : `int`
        The jobs' ``jediTaskID`` (first field of each event range id).
    panda_ids : `~collections.abc.Iterable` [`int`]
        The PanDA jobs (attempt ids) asked about.
    file_id_of : `dict` [`int`, `int`], optional
        ``fileID`` by job id (default: the job id).

    Returns
    -------
    statuses : `dict`
        ``{"<PandaID>": {"<task>-<PandaID>-<fileID>-<k>-<attemptNr>": {"status", "error", "dialog"}}}``;
        a PanDA job without events maps to ``{}``.
    """
    answer: dict[str, dict[str, dict[str, Any]]] = {}
    for panda_id in panda_ids:
        events = {}
        for job_id, number, attempt_nr, status, code, diag in conn.execute(
            "SELECT job_id, number, attempt_nr, status, exit_code, error_diag FROM job_events "
            "WHERE attempt_id = ? ORDER BY number",
            (panda_id,),
        ):
            file_id = (file_id_of or {}).get(job_id, job_id)
            range_id = event_range_id(task_id, panda_id, file_id, number, attempt_nr)
            events[range_id] = {
                "status": status,
                "error": code if status == EventStatus.FAILED.value else None,
                "dialog": diag,
            }
        answer[str(panda_id)] = events
    return answer
