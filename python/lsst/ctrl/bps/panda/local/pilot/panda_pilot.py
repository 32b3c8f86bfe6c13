# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Our executor as a pilot of the real panda-server: the real pilot API around the one job-running core.

`PandaPilot` does what pilot3 does for a DOMA job, through `pilot_api.PilotApi`:

* ``acquire_jobs`` at its queue; for each job ``update_job(starting)``, then the payload is run
  by `executor.Executor` (the same core the other engines use: memory and wall-time limits,
  process groups), then ``update_job(running)``;
* a heartbeat (``update_job(running)`` with the peak RSS) every `HEARTBEAT` seconds; a
  ``tobekilled`` command in the reply kills the payload;
* the end: ``finished`` with the report of the job's log file (``log.tgz`` of its work
  directory, copied to the queue's storage: the adder needs size and adler32), or ``failed`` with
  the payload's exit code (``trans_exit_code``, ``exe_error_code``) and, for a kill, the pilot's
  error code (``pilot_error_code`` 1235 above the memory limit, 1213 past the wall time, 1144
  killed on the server's command).

The payload is the job's ``jobPars``: base64 of the command line when the transformation is one
of DOMA's ``bash-c-enc`` wrappers (``encJobParams``), else the command line itself.  Its memory
limit is the job's ``minRamCount`` (MB), its wall time ``maxWalltime`` (s).
"""

from __future__ import annotations

import base64
import datetime
import logging
import shlex
import tarfile
import time
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import PilotApiError
from .attempts import PANDA_KILL, AttemptEnd, LaunchSpec, Outcome
from .executor import Executor
from .pilot_api import PilotApi

__all__ = ["HEARTBEAT", "PandaPilot", "job_command", "launch_spec"]

_LOG = logging.getLogger(__name__)

HEARTBEAT = 30.0
"""Seconds between two heartbeats of a running job (pilot3: 30 min; a test loop wants less)."""

KILL_COMMAND = "tobekilled"
"""``update_job``'s command to the pilot when the job is to be killed."""


def job_command(job: dict[str, Any]) -> str:
    """Return the command line of an acquired job.

    Parameters
    ----------
    job : `dict` [`str`, `typing.Any`]
        The job as ``acquire_jobs`` hands it out.
    """
    parameters = str(job.get("jobPars") or "")
    if "-enc" in str(job.get("transformation", "")).rsplit("/", 1)[-1]:
        return base64.b64decode(parameters).decode()
    words = shlex.split(parameters)
    return words[0] if len(words) == 1 else parameters


def launch_spec(job: dict[str, Any], workdir: Path, queue: str) -> LaunchSpec:
    """Return the executor's spec of an acquired job.

    Parameters
    ----------
    job : `dict` [`str`, `typing.Any`]
        The job as ``acquire_jobs`` hands it out.
    workdir : `pathlib.Path`
        Its work directory.
    queue : `str`
        The queue it was acquired at.
    """
    return LaunchSpec(
        attempt_id=int(job["PandaID"]),
        workload_id=int(job["taskID"]),
        command=job_command(job),
        workdir=workdir,
        rss_limit=int(job.get("minRamCount") or 0) or None,
        walltime=int(job.get("maxWalltime") or 0) or None,
        cores=int(job.get("coreCount") or 1),
        queue=queue,
    )


def _utc(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _adler32(path: Path) -> str:
    value = 1
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            value = zlib.adler32(chunk, value)
    return f"{value:08x}"


@dataclass
class _Job:
    description: dict[str, Any]
    started: float
    last_beat: float
    events: list[str] = field(default_factory=list)


class PandaPilot:
    """Acquire, run and report the jobs of one queue of a real panda-server.

    Parameters
    ----------
    api : `PilotApi`
        The server's pilot API.
    executor : `Executor`
        The job-running core, owned by this pilot (`tend` reports every end it reaps).
    queue : `str`
        The PanDA queue the pilot serves.
    work_root : `pathlib.Path`
        Where each job gets its work directory (``<PandaID>/``).
    storage : `pathlib.Path`, optional
        The queue's storage directory, where job logs are copied (default: none copied).
    heartbeat : `float`, optional
        Seconds between two heartbeats of a running job.
    """

    def __init__(
        self,
        api: PilotApi,
        executor: Executor,
        queue: str,
        work_root: Path,
        storage: Path | None = None,
        heartbeat: float = HEARTBEAT,
    ) -> None:
        self.heartbeat = heartbeat
        self.api = api
        self.executor = executor
        self.queue = queue
        self.work_root = Path(work_root)
        self.storage = storage
        self.jobs: dict[int, _Job] = {}
        self.reports: list[dict[str, Any]] = []
        """Every ``update_job`` made: job id, state, arguments, the reply's data (for recordings)."""

    def _update(self, job_id: int, state: str, **fields: Any) -> dict[str, Any]:
        data = self.api.update_job(job_id, state, site_name=self.queue, node="127.0.0.1", **fields)
        self.reports.append({"job_id": job_id, "state": state, "fields": fields, "reply": data})
        return data

    def acquire(self, n_jobs: int = 1) -> list[int]:
        """Acquire up to ``n_jobs`` jobs and start them; return their PanDA ids.

        Parameters
        ----------
        n_jobs : `int`, optional
            Most jobs to take.
        """
        started = []
        for job in self.api.acquire_jobs(self.queue, n_jobs=n_jobs, node="127.0.0.1"):
            job_id = int(job["PandaID"])
            now = time.time()
            self._update(job_id, "starting", attempt_nr=job.get("attemptNr"))
            self.executor.launch(launch_spec(job, self.work_root / str(job_id), self.queue))
            self.jobs[job_id] = _Job(job, now, now)
            self._update(job_id, "running", attempt_nr=job.get("attemptNr"), start_time=_utc(now))
            started.append(job_id)
        return started

    def tend(self) -> list[AttemptEnd]:
        """Enforce limits, beat the heart of running jobs, report the jobs that ended; return their ends."""
        self.executor.enforce_limits()
        now = time.time()
        for job_id, job in list(self.jobs.items()):
            if now - job.last_beat < self.heartbeat:
                continue
            job.last_beat = now
            reply = self._update(job_id, "running", attempt_nr=job.description.get("attemptNr"))
            if reply.get("command") == KILL_COMMAND:
                self.executor.kill(
                    job_id, Outcome.CANCELLED, "This job was killed by panda server", PANDA_KILL
                )
        ends = self.executor.poll()
        for end in ends:
            self.report_end(end)
        return ends

    def report_end(self, end: AttemptEnd) -> None:
        """Report one job's end with ``update_job``, as pilot3 does.

        Parameters
        ----------
        end : `AttemptEnd`
            How the payload ended.
        """
        job = self.jobs.pop(end.attempt_id, None)
        if job is None:
            return
        description = job.description
        fields: dict[str, Any] = {
            "attempt_nr": description.get("attemptNr"),
            "start_time": _utc(job.started),
            "end_time": _utc(end.ended_at),
            "trans_exit_code": end.exit_code if end.exit_code is not None else None,
            "core_count": int(description.get("coreCount") or 1),
        }
        if end.peak_rss_mb is not None:
            fields["max_rss"] = int(end.peak_rss_mb * 1024)  # kB, as pilot3's memory monitor
        fields["job_output_report"] = self._log_report(description)
        if end.outcome == Outcome.OK:
            self._update(end.attempt_id, "finished", **fields)
            return
        if end.error_code is not None:
            fields["pilot_error_code"] = end.error_code
            fields["pilot_error_diag"] = end.error_diag
        elif end.exit_code:
            fields["exe_error_code"] = end.exit_code
            fields["exe_error_diag"] = f"payload exited with {end.exit_code}"
        try:
            self._update(end.attempt_id, "failed", **fields)
        except PilotApiError as exc:
            _LOG.warning("Reporting the end of PanDA job %d failed: %s", end.attempt_id, exc)

    def _log_report(self, description: dict[str, Any]) -> str:
        """Pack the work directory as the job's log file; return the output report (JSON)."""
        import json

        job_id = int(description["PandaID"])
        lfn = str(description.get("logFile") or "log.tgz")
        workdir = self.work_root / str(job_id)
        target = (self.storage or workdir) / str(job_id) / lfn
        target.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(target, "w:gz") as archive:
            for path in sorted(workdir.iterdir()) if workdir.exists() else []:
                archive.add(path, arcname=path.name)
        guid = str(description.get("logGUID") or uuid.uuid4())
        entry = {
            "guid": guid,
            "fsize": target.stat().st_size,
            "adler32": _adler32(target),
            "surl": f"file://{target}",
        }
        return json.dumps({lfn: entry})

    def run_until_idle(self, timeout: float, poll: float = 0.5) -> None:
        """Acquire and run jobs until none runs and none is handed out, or ``timeout`` seconds pass.

        Parameters
        ----------
        timeout : `float`
            Longest run, in seconds.
        poll : `float`, optional
            Seconds between two acquisitions.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.acquire(n_jobs=4)
            self.tend()
            if not self.jobs and not self.executor.running:
                return
            self.executor.wait_for_exit(poll)
