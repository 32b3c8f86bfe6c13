# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause

"""Scenarios run against the real PanDA stack (``make real-panda``), for the recording and live tests.

`RealPandaSession` points the unmodified ``pandaclient`` at a running stack (the caller sets the
stack's client environment before ``pandaclient`` is imported: see ``record_real_panda.py``),
captures every HTTP exchange the client makes (endpoint, request, the reply's envelope), and
plays pilot with our executor through the real pilot API (`PandaPilot`).  Each scenario submits
one DOMA task as ``DomaPanDAWork`` builds it and follows it, sampling the task's status and its
jobs' states at every step; the samples become state sequences (consecutive repeats dropped).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from lsst.ctrl.bps.panda.local.pilot.executor import Executor
from lsst.ctrl.bps.panda.local.pilot.panda_pilot import PandaPilot
from lsst.ctrl.bps.panda.local.pilot.pilot_api import PilotApi
from lsst.ctrl.bps.panda.prepare.task_work import task_log
from support.panda_api_calls import doma_task_params

QUEUES = ("LOCAL_CONVENTIONAL", "LOCAL_HIMEM", "LOCAL_EXTRA_HIMEM", "LOCAL_MERGE")
TERMINAL = ("done", "finished", "failed", "broken", "aborted", "exhausted")
POLL = 2.0


def _append(sequence: list, value: Any) -> None:
    if not sequence or sequence[-1] != value:
        sequence.append(value)


class RealPandaSession:
    """The client, the pilots and the captured exchanges of one recording.

    Parameters
    ----------
    url : `str`
        ``http://127.0.0.1:PORT`` of the stack's front.
    work : `pathlib.Path`
        Where the jobs' work directories and logs go.
    """

    def __init__(self, url: str, work: Path) -> None:
        from pandaclient import Client

        self.client = Client
        self.url = url
        self.exchanges: list[dict[str, Any]] = []
        self._capture()
        executor = Executor(dict(os.environ), sample_interval=0.1)
        api = PilotApi(url)
        self.pilots = {queue: PandaPilot(api, executor, queue, work / "jobs", work / "storage", heartbeat=3.0) for queue in QUEUES}
        self.executor = executor

    def _capture(self) -> None:
        http = self.client._HttpClient
        exchanges = self.exchanges
        for verb in ("get", "post"):
            original = getattr(http, verb)

            def captured(client, url, data, *args, _original=original, _verb=verb, **kwargs):
                status, output = _original(client, url, data, *args, **kwargs)
                endpoint = url.split("/api/v1/", 1)[-1]
                exchanges.append({"endpoint": endpoint, "method": _verb.upper(), "request": data, "reply": output})
                return status, output

            setattr(http, verb, captured)

    # -- a task's life ---------------------------------------------------------------------------
    def submit(self, name: str, pfns: list[str], command: str, **options: Any) -> int:
        """Submit a DOMA task as ``DomaPanDAWork`` builds it; return its jediTaskID."""
        defaults = dict(task_log=task_log(), prodSourceLabel="managed", task_cloud="US", task_site="LOCAL")
        params = doma_task_params(name, pfns, command, **{**defaults, **options})
        status, reply = self.client.insertTaskParams(params)
        assert status == 0 and reply[0] == 0, reply
        return int(reply[1].rsplit("=", 1)[1])

    def sample(self, task_id: int, trace: dict[str, Any]) -> str | None:
        """Read the task's status and its jobs' states once; add them to ``trace``; return the status."""
        code, status = self.client.getTaskStatus(task_id)
        _append(trace["task"], status if code == 0 else f"<{code}>")
        code, details = self.client.getJediTaskDetails({"jediTaskID": task_id}, True, True)
        ids = sorted(details.get("PandaID") or []) if code == 0 and details else []
        if ids:
            code, jobs = self.client.getJobStatus(ids)
            for job in jobs or []:
                if job is None:
                    continue
                row = trace["jobs"].setdefault(str(job.PandaID), [])
                _append(row, [job.jobStatus, job.attemptNr, job.minRamCount, job.computingSite,
                              job.pilotErrorCode, job.transExitCode])
        return status if code == 0 else None

    def follow(self, task_id: int, until: tuple[str, ...] = TERMINAL, timeout: float = 300.0,
               on_sample: Any = None) -> dict[str, Any]:
        """Run the pilots and sample the task until its status is in ``until``; return the trace."""
        trace: dict[str, Any] = {"task": [], "jobs": {}}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            started = [pilot.acquire(n_jobs=4) for pilot in self.pilots.values()]
            if any(started):
                self.sample(task_id, trace)  # the jobs just started: running
            for pilot in self.pilots.values():
                pilot.tend()
            status = self.sample(task_id, trace)
            if on_sample is not None:
                on_sample(status)
            if status in until:
                return trace
            self.executor.wait_for_exit(POLL)
        trace["timeout"] = True
        return trace

    def drain(self, seconds: float = 10.0) -> None:
        """Let the pilots report whatever still runs (after a kill)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and any(p.jobs for p in self.pilots.values()):
            for pilot in self.pilots.values():
                pilot.tend()
            self.executor.wait_for_exit(0.5)
