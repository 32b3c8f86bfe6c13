# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause

"""The local PanDA's engine: one thread that schedules, launches and reaps.

`LocalPanda` ties the store, the scheduling rules and the pilot together
and offers the verbs the relay serves (submit, abort, retry).  One lock
orders the engine thread and the commands, so that an abort that returns
has killed every running attempt of its request.  On start it resumes what
a previous server left: attempts that ended while it was down are recorded
from the exit code their wrapper wrote, attempts still running are watched
again, and attempts that vanished are run again as new attempts.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from .executor import (
    AttemptEnd,
    Executor,
    LaunchSpec,
    Outcome,
    installation_environment,
    read_exit_code,
    with_input,
)
from .intake import plan_request, step_batches
from .retry import retry_request
from .scheduler import Scheduler, SlotPolicy
from .statedir import StateDir
from .store import Store

__all__ = ["LocalPanda"]

_LOG = logging.getLogger(__name__)

_BUSY_POLL = 0.002
"""Seconds between checks for ended attempts while some run."""

_IDLE_POLL = 0.5
"""Seconds between scheduling passes while nothing runs."""


def job_environment(state: StateDir) -> dict[str, str]:
    """Return the environment of every attempt: the server's, plus the installation's roots."""
    env = {name: value for name, value in os.environ.items() if name != "PANDA_AUTH_ID_TOKEN"}
    for name, value in installation_environment().items():
        env.setdefault(name, value)
    python_bin = os.path.dirname(env["PANDA_LOCAL_PYTHON"])
    if env.get("PATH", "").split(os.pathsep)[0] != python_bin:
        env["PATH"] = os.pathsep.join([python_bin, env.get("PATH", "")])
    return env


class LocalPanda:
    """Scheduler thread plus the verbs of the local PanDA.

    Parameters
    ----------
    state : `StateDir`
        The state directory (database and attempt directories).
    max_cores : `int`, optional
        Cores for running jobs (``--max-jobs``; default: all).
    memory_mb : `int`, optional
        Memory for running jobs (default: memory available at start).
    queue_slots : `dict` [`str`, `int`], optional
        Jobs at most per queue.
    sample_interval : `float`, optional
        Seconds between memory samples.
    """

    def __init__(
        self,
        state: StateDir,
        max_cores: int | None = None,
        memory_mb: int | None = None,
        queue_slots: dict[str, int] | None = None,
        sample_interval: float = 0.2,
    ) -> None:
        state.ensure()
        self.state = state
        self.store = Store(state.db_path)
        self.scheduler = Scheduler(self.store, state.work_dir)
        self.executor = Executor(job_environment(state), sample_interval)
        available = psutil.virtual_memory().available // 1024**2
        self.policy = SlotPolicy(
            max_cores=max_cores or os.cpu_count() or 1,
            memory_mb=memory_mb or int(available),
            queue_slots=dict(queue_slots or {}),
        )
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._dirty = True
        self._thread: threading.Thread | None = None

    # -- life cycle --------------------------------------------------------------------------------
    def start(self) -> None:
        """Resume the previous server's attempts and start the engine thread."""
        with self._lock:
            self._resume()
        self._thread = threading.Thread(target=self._run, name="panda-local-engine", daemon=True)
        self._thread.start()
        _LOG.info(
            "Engine started: %d cores, %d MB for jobs, queue slots %s",
            self.policy.max_cores,
            self.policy.memory_mb,
            self.policy.queue_slots or "default",
        )

    def stop(self) -> None:
        """Stop the engine; running attempts are killed and will run again at the next start."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self._lock:
            for end in self.executor.kill_all(
                Outcome.LOST, "Server stopped while the job ran; will run again"
            ):
                end.outcome = Outcome.LOST
                self.scheduler.finish_attempt(end)
        self.store.close()

    def _resume(self) -> None:
        running = self.store.running_attempts()
        for row in running:
            spec = LaunchSpec(
                attempt_id=row["attempt_id"],
                workload_id=row["workload_id"],
                command=with_input(row["executable"], row["name"]),
                workdir=Path(row["workdir"] or self.state.work_dir),
                rss_limit=row["rss_limit"],
                walltime=row["walltime"],
                cores=row["core_count"],
                queue=row["queue"],
            )
            code = read_exit_code(spec.workdir) if row["workdir"] else None
            if code is not None:
                outcome = Outcome.OK if code == 0 else Outcome.FAILED
                diag = None if code == 0 else f"Payload exited with code {code}"
                _LOG.info(
                    "Attempt %d ended while the server was down (exit code %d)", row["attempt_id"], code
                )
                self.scheduler.finish_attempt(AttemptEnd(row["attempt_id"], outcome, code, None, None, diag))
            elif row["pid"] and self.executor.adopt(spec, row["pid"], row["pid_started"], row["started_at"]):
                _LOG.info("Attempt %d still runs (pid %d): watching it again", row["attempt_id"], row["pid"])
            else:
                _LOG.info(
                    "Attempt %d was lost with the previous server: running the job again", row["attempt_id"]
                )
                self.scheduler.finish_attempt(
                    AttemptEnd(
                        row["attempt_id"], Outcome.LOST, None, None, None, "Lost with the previous server"
                    )
                )

    # -- the loop ----------------------------------------------------------------------------------
    def _run(self) -> None:
        last_pass = 0.0
        while not self._stop.is_set():
            try:
                with self._lock:
                    for end in self.executor.poll():
                        self.scheduler.finish_attempt(end)
                        self._dirty = True
                    self.executor.enforce_limits()
                    now = time.monotonic()
                    if self._dirty or now - last_pass > _IDLE_POLL:
                        self._dirty = False
                        last_pass = now
                        self._launch()
            except Exception:
                _LOG.exception("Engine pass failed; going on")
                time.sleep(_IDLE_POLL)
            self._wake.wait(_BUSY_POLL if self.executor.running else _IDLE_POLL)
            self._wake.clear()

    def _launch(self) -> None:
        running = self.executor.running
        per_queue: dict[str, int] = {}
        for running_spec in running.values():
            per_queue[running_spec.queue] = per_queue.get(running_spec.queue, 0) + 1
        for queue in self.store.active_queues():
            free = self.policy.slots_of(queue) - per_queue.get(queue, 0)
            if free <= 0:
                continue
            for job in self.store.ready_jobs(queue, free):
                if not self.policy.admits(
                    running.values(), per_queue.get(queue, 0), queue, job["core_count"], job["rss"] or 0
                ):
                    break
                spec = self.scheduler.start_attempt(job)
                if spec is None:
                    continue
                try:
                    pid, created = self.executor.launch(spec)
                except OSError as exc:
                    _LOG.error("Could not start attempt %d: %s", spec.attempt_id, exc)
                    self.scheduler.finish_attempt(
                        AttemptEnd(
                            spec.attempt_id, Outcome.FAILED, 127, None, None, f"Could not start: {exc}"
                        )
                    )
                    continue
                self.scheduler.record_process(spec.attempt_id, pid, created)
                running[spec.attempt_id] = spec
                per_queue[queue] = per_queue.get(queue, 0) + 1

    # -- verbs -------------------------------------------------------------------------------------
    def submit(self, workflow: Any, username: str | None = None) -> int:
        """Create a request from a workflow, or keep a workflow step; return the request id (0 for a step).

        Raises
        ------
        IntakeError
            Raised if the workflow cannot run here (message says why).
        """
        if getattr(workflow, "is_workflow_step", False):
            internal_id, batches = step_batches(workflow)
            self.store.save_step(internal_id, batches)
            _LOG.info("Kept workflow step %s (%d task maps)", workflow.step_name, len(batches))
            return 0
        internal_id = str(workflow.get_internal_id())
        plan = plan_request(workflow, username, lambda name: self.store.step_map(internal_id, name))
        request_id, empty = self.store.add_request(plan)
        self.scheduler.settle_new_request(request_id, empty)
        self._poke()
        return request_id

    def abort(self, request_id: int) -> None:
        """Cancel a request: nothing new starts and its running attempts are killed before returning."""
        with self._lock:
            if not self.scheduler.cancel(request_id):
                return
            attempts = [row["attempt_id"] for row in self.store.running_attempts(request_id)]
            for attempt_id in attempts:
                self.executor.kill(attempt_id, Outcome.CANCELLED, f"Request {request_id} was aborted")
            for end in self.executor.wait(attempts):
                end.outcome = Outcome.CANCELLED
                self.scheduler.finish_attempt(end)
        self._poke()

    def retry(self, request_id: int) -> int:
        """Run the failed, missing and cancelled jobs of an ended request again."""
        with self._lock:
            count = retry_request(self.scheduler, request_id)
        self._poke()
        return count

    def _poke(self) -> None:
        self._dirty = True
        self._wake.set()
