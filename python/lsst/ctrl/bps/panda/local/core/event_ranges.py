# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The events of an event-service job: their ranges, the command that runs them, their outcomes.

iDDS gives PanDA one pseudo input ``<label>:eventservice_<start>^<n>`` per job of
``n`` events (task parameter ``fineGrainedProc``); PanDA marks the job
fine-grained (``eventService`` 6) and the pilot runs event ``k`` (1..n) with
``${IN/L}`` replaced by ``<label>:eventservice_<start>^<k>``, which the decoder
reads as order id ``start + k - 1`` in the order-id map.  The pilot reports each
event as ``finished`` or ``failed`` (with the payload's exit code and a
diagnostic); at the job's end PanDA counts them (``check_fine_grained_processing``):

- every event finished: ``jobStatus`` finished, ``jobSubStatus`` ``fg_done``;
- some finished: finished, ``fg_partial``; the others go back to the job set for
  the next attempt, which runs only those;
- none finished: the job failed (``fg_stumble``).

Event range ids are PanDA's ``<jediTaskID>-<PandaID>-<fileID>-<k>-<attemptNr>``;
iDDS reads ``k - 1`` as the job's ``sub_map_id``.  Here a job's events run in one
bash script (`fine_grained_command`), each in its own subdirectory and subshell,
which appends ``<k> <exit code>`` to `EVENTS_FILE` after each event, so the
outcome of every event survives a job killed half-way (`read_event_outcomes`).
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from ...edgenode.job_contract import IN_PLACEHOLDER

__all__ = [
    "EVENTS_FILE",
    "FINE_GRAINED_FLAG",
    "EventRange",
    "EventStatus",
    "FineGrainedEnd",
    "event_range_id",
    "event_ranges",
    "fine_grained_command",
    "fine_grained_end",
    "read_event_outcomes",
]

EVENTS_FILE = "panda_events.txt"
"""In an attempt's working directory: one ``<k> <exit code>`` line per event run."""

FINE_GRAINED_FLAG = 6
"""``eventService`` of a fine-grained PanDA job (PanDA's ``fineGrainedFlagNumber``)."""

_ES_PSEUDO_INPUT = re.compile(r"(?P<base>[^:+^]+:eventservice_[0-9]+)\^(?P<count>[0-9]+)")
_OUTCOME_LINE = re.compile(r"(?P<number>[0-9]+) (?P<code>-?[0-9]+)")


class EventStatus(enum.StrEnum):
    """Status of one event, as PanDA's event table names it."""

    READY = "ready"
    """Not run yet, or given back to the job set for the next attempt."""
    FINISHED = "finished"
    """The payload exited 0."""
    FAILED = "failed"
    """The payload exited non-zero."""


@dataclasses.dataclass(frozen=True, slots=True)
class EventRange:
    """One event of a fine-grained job."""

    number: int
    """``k``, from 1 (PanDA's ``job_processID``; iDDS's ``sub_map_id`` + 1)."""
    argument: str
    """What replaces ``${IN/L}`` for it: ``<label>:eventservice_<start>^<k>``."""


def event_ranges(pseudo_input: str) -> list[EventRange]:
    """Return the events of a fine-grained job's pseudo input ``<label>:eventservice_<start>^<n>``.

    Parameters
    ----------
    pseudo_input : `str`
        Pseudo input name of the job.

    Raises
    ------
    ValueError
        Raised if ``pseudo_input`` is not an event-service pseudo input.
    """
    match = _ES_PSEUDO_INPUT.fullmatch(pseudo_input)
    if match is None or int(match["count"]) < 1:
        raise ValueError(
            f"{pseudo_input!r} is not an event-service pseudo input <label>:eventservice_<start>^<n>"
        )
    return [EventRange(k, f"{match['base']}^{k}") for k in range(1, int(match["count"]) + 1)]


def fine_grained_command(executable: str, events: Sequence[EventRange]) -> str:
    """Return the bash script that runs ``events`` one after another, as the pilot does.

    Each event runs in a subshell in ``event_<k>/`` (a payload's ``exit`` or
    ``cd`` stays its own) and its exit code is appended to `EVENTS_FILE`.  The
    script exits 0 when every event did, else with the first failing event's code.

    Parameters
    ----------
    executable : `str`
        The task's executable, with ``${IN/L}``.
    events : `~collections.abc.Sequence` [`EventRange`]
        The events this attempt runs (on a retry, those not finished before).
    """
    lines = [f'__fg_events="$PWD/{EVENTS_FILE}"; __fg_code=0; : >> "$__fg_events"']
    for event in events:
        command = executable.replace(IN_PLACEHOLDER, event.argument)
        lines += [
            f"echo 'pilot: event {event.number} ({event.argument})' >&2",
            f"mkdir -p event_{event.number} && (cd event_{event.number} || exit 70",
            command,
            ")",
            f'__fg_rc=$?; printf "%d %d\\n" {event.number} "$__fg_rc" >> "$__fg_events"',
            '[ "$__fg_code" -ne 0 ] || __fg_code=$__fg_rc',
        ]
    lines.append('exit "$__fg_code"')
    return "\n".join(lines)


def read_event_outcomes(workdir: Path) -> dict[int, int]:
    """Return the exit code of each event an attempt ran, by event number (events not reached: absent).

    Parameters
    ----------
    workdir : `pathlib.Path`
        Working directory of the attempt.
    """
    path = Path(workdir) / EVENTS_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    outcomes = {}
    for line in text.splitlines():
        if match := _OUTCOME_LINE.fullmatch(line.strip()):  # a line cut by a kill is left out
            outcomes[int(match["number"])] = int(match["code"])
    return outcomes


@dataclasses.dataclass(frozen=True, slots=True)
class FineGrainedEnd:
    """How PanDA ends a fine-grained job, from its events."""

    job_status: str
    """``finished`` or ``failed``."""
    job_sub_status: str
    """``fg_done``, ``fg_partial`` or ``fg_stumble``."""
    statuses: Mapping[int, EventStatus]
    """Status of each event the job was given."""
    remaining: tuple[int, ...]
    """Events given back to the job set for the next attempt."""


def fine_grained_end(events: Iterable[int], outcomes: Mapping[int, int]) -> FineGrainedEnd:
    """Return the end of a fine-grained job given its events and their exit codes.

    Parameters
    ----------
    events : `~collections.abc.Iterable` [`int`]
        The event numbers the job was given.
    outcomes : `~collections.abc.Mapping` [`int`, `int`]
        Exit code of each event it ran (`read_event_outcomes`).
    """
    statuses = {}
    for number in events:
        code = outcomes.get(number)
        statuses[number] = (
            EventStatus.READY if code is None else EventStatus.FINISHED if code == 0 else EventStatus.FAILED
        )
    remaining = tuple(number for number, status in statuses.items() if status is not EventStatus.FINISHED)
    done = len(statuses) - len(remaining)
    if not remaining:
        return FineGrainedEnd("finished", "fg_done", statuses, remaining)
    if done:
        return FineGrainedEnd("finished", "fg_partial", statuses, remaining)
    return FineGrainedEnd("failed", "fg_stumble", statuses, remaining)


def event_range_id(task_id: int, panda_id: int, file_id: int, number: int, attempt_nr: int) -> str:
    """Return PanDA's id of one event range: ``<jediTaskID>-<PandaID>-<fileID>-<k>-<attemptNr>``.

    Parameters
    ----------
    task_id : `int`
        The jediTaskID.
    panda_id : `int`
        The PandaID of the attempt.
    file_id : `int`
        JEDI's id of the job's input file.
    number : `int`
        The event's number within the job, from 1.
    attempt_nr : `int`
        The attempt's number.
    """
    return f"{task_id}-{panda_id}-{file_id}-{number}-{attempt_nr}"
