# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Scenarios run against the real PanDA stack (``make real-panda``), for the recording and live tests.

`PandaSession` drives the unmodified ``pandaclient`` (the caller points it at a server before it
is imported) and captures every HTTP exchange it makes (endpoint, request, the reply's envelope).
`RealPandaSession` adds pilots: our executor through the real pilot API (`PandaPilot`); against
our own PanDA layer the engine runs the jobs itself.  Each scenario of `SCENARIOS` submits one
DOMA task as ``DomaPanDAWork`` builds it and follows it, sampling the task's status and its
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


class PandaSession:
    """The client and the captured exchanges of one run of scenarios (no pilots: the server runs jobs)."""

    def __init__(self) -> None:
        from pandaclient import Client

        self.client = Client
        self.exchanges: list[dict[str, Any]] = []
        self._originals: dict[str, Any] = {}
        self._capture()

    def _capture(self) -> None:
        http = self.client._HttpClient
        exchanges = self.exchanges
        for verb in ("get", "post"):
            original = getattr(http, verb)
            self._originals[verb] = original

            def captured(client, url, data, *args, _original=original, _verb=verb, **kwargs):
                status, output = _original(client, url, data, *args, **kwargs)
                endpoint = url.split("/api/v1/", 1)[-1]
                exchanges.append(
                    {"endpoint": endpoint, "method": _verb.upper(), "request": data, "reply": output}
                )
                return status, output

            setattr(http, verb, captured)

    def close(self) -> None:
        """Stop capturing (the client's methods are restored)."""
        for verb, original in self._originals.items():
            setattr(self.client._HttpClient, verb, original)

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
        trace["running"] = False
        if ids:
            code, jobs = self.client.getJobStatus(ids)
            for job in jobs or []:
                if job is None:
                    continue
                trace["running"] |= job.jobStatus == "running"
                row = trace["jobs"].setdefault(str(job.PandaID), [])
                _append(
                    row,
                    [
                        job.jobStatus,
                        job.attemptNr,
                        job.minRamCount,
                        job.computingSite,
                        job.pilotErrorCode,
                        job.transExitCode,
                    ],
                )
        return status if code == 0 else None

    def step(self, task_id: int, trace: dict[str, Any]) -> None:
        """Let the jobs move (pilots acquire, run and report them); nothing when the server runs them."""

    def wait(self) -> None:
        """Pause between two samples."""
        time.sleep(POLL / 4)

    def follow(
        self,
        task_id: int,
        until: tuple[str, ...] = TERMINAL,
        timeout: float = 300.0,
        on_sample: Any = None,
        leaving: str | None = None,
    ) -> dict[str, Any]:
        """Let the jobs move and sample the task until its status is in ``until``; return the trace.

        With ``leaving``, the task's status must first differ from it (a command JEDI takes a few
        seconds later: a retried task reads ``failed`` until then).
        """
        trace: dict[str, Any] = {"task": [], "jobs": {}}
        deadline = time.monotonic() + timeout
        left = leaving is None
        while time.monotonic() < deadline:
            self.step(task_id, trace)
            status = self.sample(task_id, trace)
            if on_sample is not None:
                on_sample(status, trace)
            left = left or status != leaving
            if left and status in until:
                break
            self.wait()
        else:
            trace["timeout"] = True
        trace.pop("running", None)
        trace["attempts"] = self.attempts(task_id)
        return trace

    def attempts(self, task_id: int) -> list[list[Any]]:
        """Return every PanDA job of the task (each attempt), oldest first, as it ended."""
        code, ids = self.client.getPandaIDsWithTaskID(task_id)
        if code != 0 or not ids:
            return []
        code, jobs = self.client.getFullJobStatus(sorted(ids))
        return [
            [
                job.jobStatus,
                job.attemptNr,
                job.minRamCount,
                job.computingSite,
                job.pilotErrorCode,
                job.transExitCode,
            ]
            for job in jobs or []
            if job is not None
        ]

    def drain(self, seconds: float = 10.0) -> None:
        """Let the pilots report whatever still runs (after a kill)."""


class RealPandaSession(PandaSession):
    """A session against the real stack, with our executor as the pilot of every queue.

    Parameters
    ----------
    url : `str`
        ``http://127.0.0.1:PORT`` of the stack's front.
    work : `pathlib.Path`
        Where the jobs' work directories and logs go.
    """

    def __init__(self, url: str, work: Path) -> None:
        super().__init__()
        api = PilotApi(url)
        self.pilots = {  # a pilot owns its executor: it reports the ends it reaps
            queue: PandaPilot(
                api,
                Executor(dict(os.environ), sample_interval=0.1),
                queue,
                work / "jobs",
                work / "storage",
                heartbeat=3.0,
            )
            for queue in QUEUES
        }

    def step(self, task_id: int, trace: dict[str, Any]) -> None:
        started = [pilot.acquire(n_jobs=4) for pilot in self.pilots.values()]
        if any(started):
            self.sample(task_id, trace)  # the jobs just started: running
        for pilot in self.pilots.values():
            pilot.tend()

    def wait(self) -> None:
        time.sleep(POLL / 2)

    def drain(self, seconds: float = 10.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and any(p.jobs for p in self.pilots.values()):
            for pilot in self.pilots.values():
                pilot.tend()
            time.sleep(0.5)


# -- the scenarios --------------------------------------------------------------------------------
def success(session: PandaSession, name: str) -> tuple[int, dict[str, Any]]:
    """Two jobs that succeed; then every read DomaPanDAWork makes."""
    task_id = session.submit(name, ["a+n:1", "b+n:2"], "echo job ${IN/L}", task_rss=500, maxattempt=2)
    trace = session.follow(task_id)
    ids = [int(i) for i in trace["jobs"]]
    client = session.client
    client.getFullJobStatus(ids)
    client.get_files_in_datasets(task_id)
    client.get_events_status([{"task_id": task_id, "panda_id": i} for i in ids])
    client.getPandaIDsWithTaskID(task_id)
    client.getJobIDsJediTasksInTimeRange("2020-01-01 00:00:00", task_type="managed")
    return task_id, trace


def failure_with_retries(session: PandaSession, name: str) -> tuple[int, dict[str, Any]]:
    """One job that fails at each of its three attempts."""
    task_id = session.submit(name, ["a+f:1"], "echo failing ${IN/L}; exit 3", task_rss=500, maxattempt=3)
    return task_id, session.follow(task_id)


def _command_when_running(session: PandaSession, name: str, command: Any) -> tuple[int, dict[str, Any]]:
    task_id = session.submit(name, ["a+c:1", "b+c:2"], "sleep 600 # ${IN/L}", task_rss=500, maxattempt=2)
    sent: list[Any] = []

    def when_running(status: str | None, trace: dict[str, Any]) -> None:
        if status == "running" and not sent and trace.get("running"):
            sent.append(command(task_id))

    # JEDI ends a killed task minutes later (aborting, then toabort at its next kill pass, then aborted)
    trace = session.follow(task_id, on_sample=when_running, timeout=720)
    session.drain()
    return task_id, trace


def cancel(session: PandaSession, name: str) -> tuple[int, dict[str, Any]]:
    """Two running jobs; the task is killed."""
    return _command_when_running(session, name, session.client.killTask)


def finish(session: PandaSession, name: str) -> tuple[int, dict[str, Any]]:
    """Two running jobs; the task is finished (hard)."""
    return _command_when_running(
        session, name, lambda task_id: session.client.finishTask(task_id, soft=False)
    )


def retry_of_done_task(session: PandaSession, name: str) -> tuple[int, dict[str, Any]]:
    """A done task is retried (JEDI refuses)."""
    task_id, trace = success(session, name)
    session.client.retryTask(task_id, newParams={})
    trace["after_retry"] = session.follow(task_id, timeout=30)["task"]
    return task_id, trace


def retry_of_failed_task(session: PandaSession, name: str) -> tuple[int, dict[str, Any]]:
    """A failed task is retried: its job fails three more times."""
    task_id, trace = failure_with_retries(session, name)
    session.client.retryTask(task_id, newParams={})
    after = session.follow(task_id, timeout=600, leaving="failed")
    trace["after_retry"] = after["task"]
    trace["jobs_after_retry"] = after["jobs"]
    return task_id, trace


def memory_escalation(session: PandaSession, name: str) -> tuple[int, dict[str, Any]]:
    """A job above its memory: killed (pilot error 1235) and retried with more memory."""
    hog = "python3 -c 'import time; b = bytearray(400 * 2**20); time.sleep(3)' # ${IN/L}"
    task_id = session.submit(
        name, ["a+m:1"], hog, task_rss=200, task_rss_retry_step=600, task_rss_max=4000, maxattempt=3
    )
    return task_id, session.follow(task_id)


def brokerage_by_ram(session: PandaSession, name: str) -> tuple[int, dict[str, Any]]:
    """A task without a queue asking 8000 MB: JEDI brokers it to the queue of that memory class."""
    task_id = session.submit(name, ["a+b:1"], "echo ${IN/L}", task_rss=8000, maxattempt=1, task_queue=None)
    return task_id, session.follow(task_id)


SCENARIOS = {
    scenario.__name__: scenario
    for scenario in (
        success,
        failure_with_retries,
        cancel,
        finish,
        retry_of_done_task,
        retry_of_failed_task,
        memory_escalation,
        brokerage_by_ram,
    )
}
