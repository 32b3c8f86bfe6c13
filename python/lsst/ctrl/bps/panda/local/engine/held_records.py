# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""What the engine knows of its attempts but has not recorded yet, and the storage fault that holds it.

An attempt's pid (once launched) and its end (once reaped) are held here until the scheduler's
transaction that records them commits.  When the storage fails (disk full), they stay held,
`HeldRecords.fault` says why, the engine starts nothing new, and the next `HeldRecords.record`
commits them as soon as the storage works again.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from ..pilot.attempts import AttemptEnd
from ..pilot.launch_faults import probe_storage
from ..state.store import Store
from .scheduler import Scheduler

__all__ = ["HeldRecords"]

_LOG = logging.getLogger(__name__)


class HeldRecords:
    """Pids and ends of attempts held in memory until they are recorded.

    Parameters
    ----------
    scheduler : `Scheduler`
        Records them (``record_process``, ``finish_attempt``).
    store : `Store`
        The store (its write-ahead log is checkpointed on a fault).
    root : `pathlib.Path`
        The state directory, probed for writes while a fault lasts.
    """

    def __init__(self, scheduler: Scheduler, store: Store, root: Path) -> None:
        self.scheduler = scheduler
        self.store = store
        self.root = root
        self.ends: dict[int, AttemptEnd] = {}
        """Ends reaped and not yet recorded, by attempt id."""
        self.pids: dict[int, tuple[int, float]] = {}
        """``(pid, process start time)`` of launched attempts not yet recorded, by attempt id."""
        self.fault: str | None = None
        """What keeps the engine from recording or starting jobs now (`None` when healthy)."""
        self.faults_seen = 0
        """Storage faults met since the engine started."""

    def keep_end(self, end: AttemptEnd) -> None:
        """Hold an attempt's end (the executor no longer watches that attempt).

        Parameters
        ----------
        end : `AttemptEnd`
            How the attempt ended.
        """
        self.ends[end.attempt_id] = end

    def keep_pid(self, attempt_id: int, pid: int, created: float) -> None:
        """Hold a launched attempt's process.

        Parameters
        ----------
        attempt_id : `int`
            The attempt.
        pid : `int`
            Its process.
        created : `float`
            The process's start time (tells it from a later process with the same pid).
        """
        self.pids[attempt_id] = (pid, created)

    def record(self) -> bool:
        """Record what is held; return whether the storage works again after a fault.

        On a storage failure what was not recorded stays held and `fault` says why.
        """
        try:
            for attempt_id, (pid, created) in list(self.pids.items()):
                self.scheduler.record_process(attempt_id, pid, created)
                del self.pids[attempt_id]
            for attempt_id, end in list(self.ends.items()):
                self.scheduler.finish_attempt(end)
                del self.ends[attempt_id]
        except (sqlite3.Error, OSError) as exc:
            self.set_fault(exc)
            return False
        if self.fault is None:
            return False
        try:
            probe_storage(self.root)
        except OSError as exc:
            self.set_fault(exc)
            return False
        _LOG.warning("Storage works again: every attempt's end is recorded; starting jobs again")
        self.fault = None
        return True

    def set_fault(self, exc: BaseException) -> None:
        """Report a storage failure (logged once until the storage works again).

        Parameters
        ----------
        exc : `BaseException`
            The failure, named in `fault`.
        """
        message = (
            f"The local PanDA cannot write its state ({exc}) under {self.root}; "
            f"{len(self.ends)} finished attempts are held in memory and no job starts "
            "until it can (free space there; it resumes by itself)"
        )
        if self.fault is None:
            _LOG.error("%s", message)
            self.faults_seen += 1
        self.fault = message
        # A write-ahead log that grew to fill the disk would never shrink by itself.
        self.store.checkpoint()
