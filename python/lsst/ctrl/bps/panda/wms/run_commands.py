# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The operator's commands (restart, cancel) recorded in a run's submit directory.

iDDS takes a command asynchronously: after ``bps restart`` returns, the
request keeps its old terminal status until iDDS's clerk takes the retry,
seconds to minutes later; after ``bps cancel`` on the idds engine the request
may end SubFinished with its final job run.  So that reads right after a
command mean what the operator did, the command is recorded next to the
request id, in the submit directory's request record (``panda_request.json``,
key ``commands``), with the request's status and ``updated_at`` as iDDS had
them just before.  `run_reading` turns the last command into the run state.

The record is found from the id as ``bps report`` finds the submit directory:
the id is the submit directory, or a request id that ctrl_bps's id link
(``makeIdLink: true``, ``{idLinkPath}/<id>``, by default ``./bps_links/<id>``)
points to a submit directory of.
"""

from __future__ import annotations

import dataclasses
import datetime
import email.utils
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..atomic_file import write_atomically
from ..states import status_name
from .submission import REQUEST_FILE, recorded_request

__all__ = ["RunCommand", "as_utc", "last_command", "note_command", "record_command", "submit_dir_of"]

_LOG = logging.getLogger(__name__)

ID_LINK_DIR = "bps_links"
"""ctrl_bps's default ``idLinkPath`` under the working directory."""

_VERBS = ("restart", "cancel")


@dataclasses.dataclass(frozen=True, slots=True)
class RunCommand:
    """A command registered with iDDS for a run, as the submit directory records it."""

    verb: str
    """``restart`` or ``cancel``."""
    at: datetime.datetime
    """When iDDS registered it (this machine's clock, UTC)."""
    status: str
    """The request's status name just before."""
    updated_at: datetime.datetime | None
    """The request's ``updated_at`` just before (iDDS's clock, UTC), when iDDS gave one."""


def as_utc(value: Any) -> datetime.datetime | None:
    """Return an iDDS time (a `datetime.datetime`, or a string as iDDS-JSON writes it) in UTC.

    Parameters
    ----------
    value : `datetime.datetime`, `str` or `None`
        ``"Mon, 07 Dec 2026 10:22:23 UTC"`` (iDDS-JSON), an ISO string, or a datetime (naive: UTC).

    Returns
    -------
    time : `datetime.datetime` or `None`
        Aware, in UTC; `None` if ``value`` is not a time.
    """
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        try:
            parsed = datetime.datetime.fromisoformat(value.replace(" ", "T"))
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def submit_dir_of(wms_id: Any, request_id: int) -> Path | None:
    """Return the submit directory whose request record holds ``request_id``, if one is found.

    Parameters
    ----------
    wms_id : `int` or `str`
        What the caller passed as the run's id: a submit directory, or a request id.
    request_id : `int`
        The request id it stands for.

    Returns
    -------
    submit_dir : `pathlib.Path` or `None`
        The submit directory, or `None` when there is none to be found.
    """
    text = str(wms_id).strip()
    candidates = [Path(text)] if os.path.isdir(text) else [Path.cwd() / ID_LINK_DIR / text]
    for candidate in candidates:
        try:
            record = recorded_request(candidate)
        except (OSError, ValueError):
            record = None
        if record is not None and str(record.get("request_id")) == str(request_id):
            return candidate
    return None


def record_command(submit_dir: Path, verb: str, request: Mapping[str, Any]) -> None:
    """Append a command just registered with iDDS to the submit directory's request record.

    Parameters
    ----------
    submit_dir : `pathlib.Path`
        The run's submit directory (holds `REQUEST_FILE`).
    verb : `str`
        ``restart`` or ``cancel``.
    request : `~collections.abc.Mapping`
        The request's record as iDDS gave it just before the command.

    Raises
    ------
    OSError
        Raised if the record cannot be read or written.
    ValueError
        Raised for an unknown verb, or a record that is not JSON.
    """
    if verb not in _VERBS:
        raise ValueError(f"unknown run command {verb!r}; expected one of {_VERBS}")
    path = submit_dir / REQUEST_FILE
    record = json.loads(path.read_text())
    updated = as_utc(request.get("updated_at"))
    record.setdefault("commands", []).append(
        {
            "verb": verb,
            "at": datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds"),
            "status": status_name(request.get("status")),
            "updated_at": updated.isoformat() if updated else None,
        }
    )
    write_atomically(path, json.dumps(record, indent=1))


def last_command(submit_dir: Path) -> RunCommand | None:
    """Return the last command recorded for the run, or `None`.

    Parameters
    ----------
    submit_dir : `pathlib.Path`
        The run's submit directory.
    """
    try:
        record = recorded_request(submit_dir) or {}
        entry = (record.get("commands") or [None])[-1]
    except (OSError, ValueError, AttributeError) as error:
        _LOG.warning("Unreadable command record in %s ignored: %s", submit_dir / REQUEST_FILE, error)
        return None
    at = as_utc(entry.get("at")) if isinstance(entry, dict) else None
    if at is None or entry.get("verb") not in _VERBS:
        return None
    return RunCommand(
        verb=str(entry["verb"]),
        at=at,
        status=str(entry.get("status") or ""),
        updated_at=as_utc(entry.get("updated_at")),
    )


def note_command(wms_id: Any, request_id: int, verb: str, request: Mapping[str, Any]) -> str:
    """Record a command just registered with iDDS, if the run's submit directory is found.

    Parameters
    ----------
    wms_id : `int` or `str`
        What the caller passed as the run's id (a submit directory, or a request id).
    request_id : `int`
        The request.
    verb : `str`
        ``restart`` or ``cancel``.
    request : `~collections.abc.Mapping`
        The request's record as iDDS gave it just before the command.

    Returns
    -------
    problem : `str`
        Empty when recorded; otherwise why not (also logged): reads right after the command then
        show iDDS's status as it is.
    """
    submit_dir = submit_dir_of(wms_id, request_id)
    if submit_dir is None:
        problem = (
            f"the {verb} of request {request_id} is not recorded: no submit directory record was found "
            f"for {wms_id!r} (pass the submit directory as the id)"
        )
        _LOG.info("%s", problem)
        return problem
    try:
        record_command(submit_dir, verb, request)
    except (OSError, ValueError) as error:
        problem = f"the {verb} of request {request_id} could not be recorded in {submit_dir}: {error}"
        _LOG.warning("%s", problem)
        return problem
    return ""
