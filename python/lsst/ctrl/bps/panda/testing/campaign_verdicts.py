# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The verdicts Rubin's campaign manager (lsst-dm/cm-service) reaches on a run.

cm-service builds the service as ``PanDAService(config={})`` and reads a run
on one of two code paths.  The rules below are written from what it does, for
tests that must reach the same verdicts; they are not its code.

Older path (``report(wms_workflow_id=...)``, `verdict_from_report`):

- RUNNING → ``running``; SUCCEEDED → ``accepted``;
- FAILED or DELETED → ``accepted`` when ``report.jobs`` holds a job named
  ``finalJob`` that SUCCEEDED, else ``reviewable``;
- any other state (UNKNOWN, MISFIT, PRUNED, UNREADY, READY, HELD, PENDING, or
  none) → ``failed``.

v2 path (``get_status(<submit dir>)``, then ``report(<submit dir>)`` unless
RUNNING, `verdict_from_status`):

- RUNNING → ``running``;
- FAILED or DELETED → ``failed``;
- any other state → the older path's verdict of the report.

``running`` is the only verdict that is not final: a campaign manager polls
again; on any other it stops (``accepted``: done; ``reviewable``: a person
looks; ``failed``: the run is failed).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from lsst.ctrl.bps import WmsRunReport, WmsStates

__all__ = [
    "ACCEPTED",
    "FAILED",
    "FINAL_JOB_NAME",
    "FINAL_VERDICTS",
    "REVIEWABLE",
    "RUNNING",
    "read_verdict",
    "verdict_from_report",
    "verdict_from_status",
    "wrong_verdicts",
]

_LOG = logging.getLogger(__name__)

RUNNING = "running"
"""Still running: poll again."""
ACCEPTED = "accepted"
"""Done, its outputs taken."""
FAILED = "failed"
"""Failed: the campaign manager stops the run's node."""
REVIEWABLE = "reviewable"
"""Ended in a way a person must look at."""

FINAL_VERDICTS = frozenset({ACCEPTED, FAILED, REVIEWABLE})
"""The verdicts after which a campaign manager stops polling."""

FINAL_JOB_NAME = "finalJob"
"""The job whose success makes a failed or deleted run acceptable."""

_ENDED_BADLY = frozenset({WmsStates.FAILED, WmsStates.DELETED})


def verdict_from_report(report: WmsRunReport | None) -> str:
    """Return the older path's verdict on a run's report.

    Parameters
    ----------
    report : `lsst.ctrl.bps.WmsRunReport` or `None`
        The first report ``report(wms_workflow_id=...)`` returned; `None` when it returned none
        (the campaign manager cannot go on: ``failed``).

    Returns
    -------
    verdict : `str`
        `RUNNING`, `ACCEPTED`, `REVIEWABLE` or `FAILED`.
    """
    state = report.state if report is not None else None
    if state == WmsStates.RUNNING:
        return RUNNING
    if state == WmsStates.SUCCEEDED:
        return ACCEPTED
    if report is not None and state in _ENDED_BADLY:
        final_succeeded = any(
            job.name == FINAL_JOB_NAME and job.state == WmsStates.SUCCEEDED for job in report.jobs or ()
        )
        return ACCEPTED if final_succeeded else REVIEWABLE
    return FAILED


def verdict_from_status(state: WmsStates, report: WmsRunReport | None = None) -> str:
    """Return the v2 path's verdict from ``get_status``'s state (and the report, when not RUNNING).

    Parameters
    ----------
    state : `lsst.ctrl.bps.WmsStates`
        What ``get_status(<submit dir>)`` returned.
    report : `lsst.ctrl.bps.WmsRunReport`, optional
        The first report of ``report(<submit dir>)``; needed unless ``state`` is RUNNING,
        FAILED or DELETED.

    Returns
    -------
    verdict : `str`
        `RUNNING`, `ACCEPTED`, `REVIEWABLE` or `FAILED`.
    """
    if state == WmsStates.RUNNING:
        return RUNNING
    if state in _ENDED_BADLY:
        return FAILED
    return verdict_from_report(report)


def read_verdict(service: Any, run_id: str, path: str = "v2") -> str:
    """Read a run through a WMS service as the campaign manager does, and return its verdict.

    Parameters
    ----------
    service : `lsst.ctrl.bps.BaseWmsService`
        The service, built as ``PanDAService(config={})``.
    run_id : `str`
        The submit directory (v2 path) or the run id the older path keeps.
    path : `str`, optional
        ``"v2"`` (``get_status``, then ``report`` unless RUNNING) or ``"older"`` (``report``).

    Returns
    -------
    verdict : `str`
        `RUNNING`, `ACCEPTED`, `REVIEWABLE` or `FAILED`.
    """
    if path not in ("v2", "older"):
        raise ValueError(f"path must be 'v2' or 'older', got {path!r}")
    if path == "v2":
        state, message = service.get_status(run_id)
        if message:
            _LOG.info("get_status(%s): %s", run_id, message)
        if state == WmsStates.RUNNING or state in _ENDED_BADLY:
            return verdict_from_status(state)
    reports, message = service.report(wms_workflow_id=run_id)
    if message:
        _LOG.info("report(%s): %s", run_id, message)
    report = reports[0] if reports else None
    return verdict_from_status(state, report) if path == "v2" else verdict_from_report(report)


def wrong_verdicts(seen: Sequence[str], final: str) -> list[tuple[int, str]]:
    """Return the verdicts of a polled run that should not have been seen.

    A run read from its first second to its end must read `RUNNING` until it reads ``final``;
    any other verdict on the way (and anything after ``final``) is wrong.

    Parameters
    ----------
    seen : `~collections.abc.Sequence` [`str`]
        The verdicts, in the order they were read.
    final : `str`
        The verdict the run must end with.

    Returns
    -------
    wrong : `list` [`tuple` [`int`, `str`]]
        Position and verdict of each wrong one; empty when the run read as it should, and
        ``[(len(seen), "<missing final>")]`` when it never reached ``final``.
    """
    wrong = [(index, verdict) for index, verdict in enumerate(seen[:-1]) if verdict != RUNNING]
    if not seen or seen[-1] != final:
        wrong.append((len(seen), "<missing final>" if not seen else seen[-1]))
    return wrong
