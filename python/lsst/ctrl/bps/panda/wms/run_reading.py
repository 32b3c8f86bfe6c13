# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The run state ``bps status`` and ``bps report`` give, from iDDS and the last recorded command.

Without a recorded command the run state is the request status's (`states.REQUEST_STATES`).

After ``bps restart`` (the last command is a restart registered at ``T``, when
the request read ``S0`` with ``updated_at`` ``U0``):

- The request has *moved* once its ``updated_at`` is later than ``U0`` or its
  status is no longer ``S0`` (both on iDDS's clock, so this machine's clock
  does not matter).
- Until it has moved, the run reads RUNNING with a message that the restart
  is pending.
- Once it has moved, a live or SUCCEEDED request reads as iDDS has it.  A
  FAILED or DELETED one is believed only when iDDS wrote that status at least
  `SETTLE_SECONDS` after the restart (its ``updated_at``); before that it reads
  RUNNING.  iDDS writes the old terminal status again a few seconds after it
  takes a retry (it resumes the works, then re-evaluates them before they have
  run), and on the idds engine, under load, the request then kept that status
  for over a minute while the jobs ran again; a script polling right after the
  restart must never see it.  When the rerun ends iDDS writes the request
  again, so a rerun that fails again reads FAILED from then on, unless it ended
  within `SETTLE_SECONDS` of the restart: then it reads RUNNING until
  ``restartPendingTimeout``.
- ``restartPendingTimeout`` seconds after ``T`` the guard ends whatever
  happened: the run reads as iDDS has it, and, if the request never moved,
  with a message that iDDS has not taken the restart registered at ``T``.

After ``bps cancel`` (the last command is a cancel): a request that ended
FAILED reads DELETED (on the idds engine iDDS ends an aborted request
SubFinished), with a message saying so.

With no request record to be found (a bare request id without an id link),
a FAILED or DELETED run reads as iDDS has it, and the message says that a
restart just made could not be checked.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from typing import Any

from lsst.ctrl.bps import WmsStates

from ..states import request_state, status_name
from .run_commands import RunCommand, as_utc, last_command, submit_dir_of

__all__ = ["SETTLE_SECONDS", "RunReading", "read_run", "read_run_of"]

SETTLE_SECONDS = 60.0
"""How long after a restart iDDS must have written a FAILED (or DELETED) status for it to be believed.

iDDS writes the old terminal status again about 10 s after taking a retry (seen on the idds engine),
before the resumed works have run; several times that, and a few of the daemons' polling periods."""

_ENDED_BADLY = frozenset({WmsStates.FAILED, WmsStates.DELETED})


@dataclasses.dataclass(frozen=True, slots=True)
class RunReading:
    """The run state to report, and what to say about it."""

    state: WmsStates
    """Run state."""
    message: str = ""
    """Why the state is not simply iDDS's, or what could not be checked (empty: nothing to say)."""
    unchecked: bool = False
    """The message only says that no record was found to check a restart against: ``get_status``
    leaves it out, as the published plugin's ``get_status`` says nothing on a plain read."""


def _when(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def read_run(
    request: Mapping[str, Any],
    command: RunCommand | None,
    *,
    record_found: bool,
    pending_timeout: float,
    now: datetime.datetime | None = None,
) -> RunReading:
    """Return the run state of a request, given the last command recorded for it.

    Parameters
    ----------
    request : `~collections.abc.Mapping`
        The request's record from iDDS (``status``, ``updated_at``).
    command : `RunCommand` or `None`
        The last command recorded in the submit directory, if any.
    record_found : `bool`
        Whether the submit directory's request record was found (with or without commands).
    pending_timeout : `float`
        ``restartPendingTimeout``: seconds after a restart when its guard ends.
    now : `datetime.datetime`, optional
        The current time (UTC); now by default.

    Returns
    -------
    reading : `RunReading`
        The state and a message (see the module's rules).
    """
    name = status_name(request.get("status"))
    state = request_state(request.get("status"))
    if command is None:
        if not record_found and state in _ENDED_BADLY:
            return RunReading(
                state,
                f"read as iDDS has it ({name}): no submit directory record of this request was found, "
                "so a restart made just now could not be checked; use the submit directory as the id",
                unchecked=True,
            )
        return RunReading(state)
    if command.verb == "cancel":
        if state == WmsStates.FAILED:
            return RunReading(
                WmsStates.DELETED, f"cancelled at {_when(command.at)}; iDDS ended the request {name}"
            )
        return RunReading(state)
    return _after_restart(request, command, name, state, pending_timeout, now)


def _after_restart(
    request: Mapping[str, Any],
    command: RunCommand,
    name: str,
    state: WmsStates,
    pending_timeout: float,
    now: datetime.datetime | None,
) -> RunReading:
    """Apply the restart guard (see the module's rules)."""
    now = now or datetime.datetime.now(datetime.UTC)
    updated = as_utc(request.get("updated_at"))
    reference = command.updated_at or command.at
    moved = name != command.status or (updated is not None and updated > reference)
    registered = _when(command.at)
    timed_out = (now - command.at).total_seconds() >= pending_timeout
    if not moved:
        if timed_out:
            return RunReading(
                state,
                f"iDDS has not taken the restart registered at {registered}: the request still "
                f"reads {name} after {pending_timeout:.0f} s",
            )
        return RunReading(
            WmsStates.RUNNING, f"restart registered at {registered} is pending: iDDS still reads {name}"
        )
    if state not in _ENDED_BADLY or timed_out:
        return RunReading(state)
    ended = updated or now
    if (ended - command.at).total_seconds() >= SETTLE_SECONDS:
        return RunReading(state)
    return RunReading(
        WmsStates.RUNNING,
        f"restart registered at {registered} was taken; iDDS reads {name} since {_when(ended)}, "
        f"within {SETTLE_SECONDS:.0f} s of the restart, as it does while it resumes a run: read as "
        f"RUNNING until iDDS writes the request again or {pending_timeout:.0f} s have passed",
    )


def read_run_of(
    wms_id: Any, request_id: int, request: Mapping[str, Any], *, pending_timeout: float
) -> RunReading:
    """Return the run state of a request, with the last command its submit directory records.

    Parameters
    ----------
    wms_id : `int` or `str`
        What the caller passed as the run's id (a submit directory, or a request id).
    request_id : `int`
        The request.
    request : `~collections.abc.Mapping`
        The request's record from iDDS.
    pending_timeout : `float`
        ``restartPendingTimeout`` (seconds).

    Returns
    -------
    reading : `RunReading`
        As `read_run`.
    """
    submit_dir = submit_dir_of(wms_id, request_id)
    command = last_command(submit_dir) if submit_dir is not None else None
    return read_run(request, command, record_found=submit_dir is not None, pending_timeout=pending_timeout)
