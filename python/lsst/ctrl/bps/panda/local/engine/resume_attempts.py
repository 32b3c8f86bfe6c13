# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Take over, at start, the attempts a previous server left running.

An attempt that ended while no server ran is recorded from the exit code its wrapper wrote; one
whose process still lives is watched again (found by its recorded pid, else by its launch token);
only one of which no process remains is recorded lost, so that its job runs again.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..pilot.attempts import AttemptEnd, LaunchSpec, Outcome
from ..pilot.executor import Executor, with_input
from ..pilot.launch_faults import find_launched
from ..pilot.process_tree import read_exit_code
from ..state.store import Store
from .held_records import HeldRecords
from .scheduler import Scheduler

__all__ = ["resume_attempts"]

_LOG = logging.getLogger(__name__)


def resume_attempts(
    store: Store, scheduler: Scheduler, executor: Executor, work_dir: Path, held: HeldRecords
) -> None:
    """Record, adopt or rerun each attempt the store has as running.

    Parameters
    ----------
    store : `Store`
        Where the running attempts are read.
    scheduler : `Scheduler`
        Records the ends of those that ended or were lost.
    executor : `Executor`
        Watches again those whose process lives.
    work_dir : `pathlib.Path`
        The attempts' directory when the store has none for one.
    held : `HeldRecords`
        Holds the pid of an attempt found by its launch token, to be recorded.
    """
    for row in store.running_attempts():
        spec = LaunchSpec(
            attempt_id=row["attempt_id"],
            workload_id=row["workload_id"],
            command=with_input(row["executable"], row["name"]),
            workdir=Path(row["workdir"] or work_dir),
            rss_limit=row["rss_limit"],
            walltime=row["walltime"],
            cores=row["core_count"],
            queue=row["queue"],
        )
        code = read_exit_code(spec.workdir) if row["workdir"] else None
        if code is None and not _still_runs(executor, spec, row, held):
            # Read again: the process may have ended between the first read and the search.
            code = read_exit_code(spec.workdir) if row["workdir"] else None
        elif code is None:
            continue
        if code is not None:
            outcome = Outcome.OK if code == 0 else Outcome.FAILED
            diag = None if code == 0 else f"Payload exited with code {code}"
            _LOG.info("Attempt %d ended while the server was down (exit code %d)", row["attempt_id"], code)
            scheduler.finish_attempt(AttemptEnd(row["attempt_id"], outcome, code, None, None, diag))
        else:
            _LOG.info(
                "Attempt %d was lost with the previous server: running the job again", row["attempt_id"]
            )
            scheduler.finish_attempt(
                AttemptEnd(row["attempt_id"], Outcome.LOST, None, None, None, "Lost with the previous server")
            )


def _still_runs(executor: Executor, spec: LaunchSpec, row: Any, held: HeldRecords) -> bool:
    """Watch a previous server's attempt again if a process of it lives; return whether one does."""
    if row["pid"] and executor.adopt(spec, row["pid"], row["pid_started"], row["started_at"]):
        _LOG.info("Attempt %d still runs (pid %d): watching it again", row["attempt_id"], row["pid"])
        return True
    found = find_launched(executor.launch_tag, row["attempt_id"])
    if found and executor.adopt(spec, found[0], found[1], row["started_at"]):
        _LOG.info(
            "Attempt %d still runs (pid %d, found by its launch token): watching it again",
            row["attempt_id"],
            found[0],
        )
        held.keep_pid(row["attempt_id"], *found)
        held.record()
        return True
    return False
