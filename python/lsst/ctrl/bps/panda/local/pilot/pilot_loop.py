# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The pilots of ``--engine panda``: one `PandaPilot` per queue of the real panda-server, in one thread.

Each queue has its pilot and its own `~lsst.ctrl.bps.panda.local.pilot.executor.Executor` (a
pilot reports the ends its executor reaps, so two pilots never share one).  The thread acquires
jobs while fewer than ``max_jobs`` run in all, tends the running ones (limits, heartbeats, a
server's kill command) and reports their ends, as pilot3 does on a worker node.  On `stop` the
payloads still running are killed and reported ``failed`` (a pilot that goes away loses its jobs;
JEDI retries them).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from ...errors import PilotApiError
from .attempts import Outcome
from .executor import Executor
from .panda_pilot import PandaPilot
from .pilot_api import PilotApi

__all__ = ["ACQUIRE_PERIOD", "PilotLoop"]

_LOG = logging.getLogger(__name__)

ACQUIRE_PERIOD = 2.0
"""Seconds between two rounds of ``acquire_jobs`` over the queues (a pass tends jobs more often)."""

HEARTBEAT = 10.0
"""Seconds between two heartbeats of a running job: how soon a killed task's payloads die."""


class PilotLoop:
    """Acquire, run and report the jobs of ``queues`` until stopped.

    Parameters
    ----------
    api : `PilotApi`
        The real server's pilot API.
    queues : `list` [`str`]
        The PanDA queues served.
    environment : `dict` [`str`, `str`]
        The payloads' environment (as the other engines' jobs get).
    work_root : `pathlib.Path`
        Where each job gets its work directory (``<queue>/<PandaID>/``).
    storage : `pathlib.Path`
        The queues' storage directory (job logs).
    max_jobs : `int`
        Jobs at most running at once, over all queues.
    """

    def __init__(
        self,
        api: PilotApi,
        queues: list[str],
        environment: dict[str, str],
        work_root: Path,
        storage: Path,
        max_jobs: int,
    ) -> None:
        self.max_jobs = max(1, max_jobs)
        self.pilots = [
            PandaPilot(
                api,
                Executor(environment, launch_tag=str(work_root)),
                queue,
                Path(work_root) / queue,
                storage=storage,
                heartbeat=HEARTBEAT,
            )
            for queue in queues
        ]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failures = 0
        """Passes that failed (the server did not answer); logged once until a pass works."""

    @property
    def running(self) -> int:
        """Jobs running now, over all queues."""
        return sum(len(pilot.jobs) for pilot in self.pilots)

    def start(self) -> None:
        """Start the thread."""
        self._thread = threading.Thread(target=self._run, name="panda-local-pilots", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread; kill and report the payloads still running."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        for pilot in self.pilots:
            for end in pilot.executor.kill_all(Outcome.LOST, "the local PanDA's pilot stopped"):
                try:
                    pilot.report_end(end)
                except PilotApiError as exc:
                    _LOG.warning("Could not report PanDA job %d lost: %s", end.attempt_id, exc)

    def run_pass(self, acquire: bool = True) -> None:
        """Tend every pilot's jobs, then (when ``acquire``) take jobs while slots are free.

        Parameters
        ----------
        acquire : `bool`, optional
            Whether to ask the queues for jobs in this pass.
        """
        for pilot in self.pilots:
            pilot.tend()
        if not acquire:
            return
        for pilot in self.pilots:
            free = self.max_jobs - self.running
            if free <= 0:
                return
            pilot.acquire(n_jobs=free)

    def _run(self) -> None:
        waited = ACQUIRE_PERIOD
        while not self._stop.is_set():
            try:
                self.run_pass(acquire=waited >= ACQUIRE_PERIOD)
                if self.failures:
                    _LOG.info("The pilots reach the PanDA server again")
                self.failures = 0
            except (PilotApiError, OSError) as exc:
                if not self.failures:
                    _LOG.warning("A pilot pass failed (logged once until one works): %s", exc)
                self.failures += 1
            waited = 0.0 if waited >= ACQUIRE_PERIOD else waited
            self._stop.wait(0.5)
            waited += 0.5
