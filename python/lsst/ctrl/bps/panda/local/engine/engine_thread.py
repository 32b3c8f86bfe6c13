# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The local PanDA's engine: one thread that schedules, launches and reaps.

`LocalPanda` ties the store, the scheduling rules and the pilot together
and offers the verbs the relay serves (submit, abort, retry).  One lock
orders the engine thread and the commands, so that an abort that returns
has killed every running attempt of its request.  On start it takes over
what a previous server left running (`resume_attempts`); a stop leaves
running attempts to run, and the next start adopts them.

An attempt's pid and end are held in memory until recorded (`HeldRecords`):
while the storage fails (disk full), the engine keeps them, starts nothing
new, reports the fault (`LocalPanda.fault`, logged once) and records them as
soon as the storage works again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

import psutil

from ..core.request_plan import plan_request, step_batches
from ..pilot.attempts import AttemptEnd, Outcome
from ..pilot.executor import Executor
from ..pilot.job_environment import job_environment
from ..pilot.launch_faults import is_storage_error
from ..state.state_dir import StateDir
from ..state.store import Store
from .held_records import HeldRecords
from .resume_attempts import resume_attempts
from .retry import retry_request
from .scheduler import Scheduler
from .slot_policy import SlotPolicy

__all__ = ["LocalPanda"]

_LOG = logging.getLogger(__name__)

_IDLE_POLL = 0.5
"""Seconds between scheduling passes while nothing runs."""

_MAX_BACKOFF = 30.0
"""Longest pause between engine passes while a fault persists."""


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
        self.executor = Executor(job_environment(state), sample_interval, launch_tag=str(state.root))
        available = psutil.virtual_memory().available // 1024**2
        self.policy = SlotPolicy(
            max_cores=max_cores or os.cpu_count() or 1,
            memory_mb=memory_mb or int(available),
            queue_slots=dict(queue_slots or {}),
        )
        self._lock = threading.RLock()
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self._stop = threading.Event()
        self._dirty = True
        self._thread: threading.Thread | None = None
        self.held = HeldRecords(self.scheduler, self.store, state.root)
        """Pids and ends not yet recorded, and the storage fault that holds them."""
        self._failures = 0
        self.pass_hooks: list[Callable[[], Any]] = []
        """Called in each scheduling pass, under the lock, before jobs are launched."""
        self._failing_hooks: set[Callable[[], Any]] = set()

    @property
    def fault(self) -> str | None:
        """What keeps the engine from recording or starting jobs now (`None` when healthy)."""
        return self.held.fault

    def health(self) -> dict[str, Any]:
        """Return the engine's condition for ``panda_local status``."""
        return {
            "fault": self.held.fault,
            "storage_faults": self.held.faults_seen,
            "unrecorded_ends": len(self.held.ends),
            "watched_attempts": len(self.executor.running),
        }

    # -- life cycle --------------------------------------------------------------------------------
    def start(self) -> None:
        """Resume the previous server's attempts and start the engine thread."""
        with self._lock:
            resume_attempts(self.store, self.scheduler, self.executor, self.state.work_dir, self.held)
        self._thread = threading.Thread(target=self._run, name="panda-local-engine", daemon=True)
        self._thread.start()
        _LOG.info(
            "Engine started: %d cores, %d MB for jobs, queue slots %s",
            self.policy.max_cores,
            self.policy.memory_mb,
            self.policy.queue_slots or "default",
        )

    def stop(self, kill_running: bool = False) -> None:
        """Stop the engine; ends already known are recorded, running attempts go on.

        Parameters
        ----------
        kill_running : `bool`, optional
            Kill the running attempts instead (recorded lost: they run again at the next start).
            Attempts that had already ended keep their exit code either way.
        """
        self._stop.set()
        self._poke()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self._lock:
            self._keep(self.executor.poll())
            if kill_running:
                for end in self.executor.kill_all(
                    Outcome.LOST, "Server stopped while the job ran; will run again"
                ):
                    if end.exit_code is None or end.outcome != Outcome.OK:
                        end.outcome = Outcome.LOST
                    self._keep([end])
            else:
                detached = self.executor.detach()
                if detached:
                    _LOG.info("%d running attempts go on; the next start adopts them", len(detached))
            self._record_pending()
            if self.held.ends:
                _LOG.error(
                    "Could not record the end of %d attempts (%s); the next start reads their exit "
                    "codes again",
                    len(self.held.ends),
                    self.held.fault,
                )
        self.store.close()
        # Pokes after this point must not write to a reused descriptor.
        wake_read, wake_write, self._wake_write = self._wake_read, self._wake_write, -1
        for fd in (wake_read, wake_write):
            os.close(fd)

    # -- the loop ----------------------------------------------------------------------------------
    def _run(self) -> None:
        last_pass = 0.0
        while not self._stop.is_set():
            try:
                with self._lock:
                    self._keep(self.executor.poll())
                    self._record_pending()
                    self.executor.enforce_limits()
                    now = time.monotonic()
                    if self.held.fault is None and (self._dirty or now - last_pass > _IDLE_POLL):
                        self._dirty = False
                        last_pass = now
                        self._run_hooks()
                        self._launch()
                self._failures = 0
            except Exception as exc:
                self._on_failure(exc)
            self._sleep()

    def _run_hooks(self) -> None:
        """Run the pass hooks; one that fails is logged (once until it works) and never stops a launch."""
        for hook in self.pass_hooks:
            try:
                hook()
            except Exception:
                if hook not in self._failing_hooks:
                    _LOG.exception("Pass hook %s failed (logged once until it works)", hook)
                self._failing_hooks.add(hook)
            else:
                self._failing_hooks.discard(hook)

    def _sleep(self) -> None:
        if self._failures or self.held.fault is not None:
            timeout = min(_IDLE_POLL * 2 ** min(self._failures, 6), _MAX_BACKOFF)
        elif self.executor.running:
            timeout = self.executor.sample_interval
        else:
            timeout = _IDLE_POLL
        self.executor.wait_for_exit(timeout, self._wake_read)
        try:
            while os.read(self._wake_read, 4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _on_failure(self, exc: Exception) -> None:
        self._failures += 1
        if self._failures == 1:
            _LOG.exception("Engine pass failed; retrying with back-off (logged once until it recovers)")
        elif self._failures in (10, 100, 1000):
            _LOG.error("Engine pass still failing after %d tries: %s", self._failures, exc)

    def _keep(self, ends: list[AttemptEnd]) -> None:
        """Hold ends until recorded (the executor no longer watches these attempts)."""
        for end in ends:
            self.held.keep_end(end)
            self._dirty = True

    def _record_pending(self) -> None:
        """Record the held pids and ends (`HeldRecords.record`); schedule again once storage works."""
        if self.held.record():
            self._dirty = True

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
                try:
                    spec = self.scheduler.start_attempt(job)
                except (sqlite3.Error, OSError) as exc:
                    self.held.set_fault(exc)
                    return
                if spec is None:
                    continue
                try:
                    pid, created = self.executor.launch(spec)
                except OSError as exc:
                    if is_storage_error(exc):
                        # Nothing started: the job runs again once the storage works.
                        self._keep([AttemptEnd(spec.attempt_id, Outcome.LOST, None, None, None, str(exc))])
                        self.held.set_fault(exc)
                        return
                    _LOG.error("Could not start attempt %d: %s", spec.attempt_id, exc)
                    self._keep(
                        [
                            AttemptEnd(
                                spec.attempt_id, Outcome.FAILED, 127, None, None, f"Could not start: {exc}"
                            )
                        ]
                    )
                    continue
                self.held.keep_pid(spec.attempt_id, pid, created)
                self._record_pending()
                running[spec.attempt_id] = spec
                per_queue[queue] = per_queue.get(queue, 0) + 1
                if self.held.fault is not None:
                    return

    # -- verbs -------------------------------------------------------------------------------------
    def submit(self, workflow: Any, username: str | None = None) -> int:
        """Create a request from a workflow, or keep a workflow step; return the request id (0 for a step).

        Parameters
        ----------
        workflow : `idds.workflowv2.workflow.Workflow`
            The iDDS workflow, or one step of a split workflow.
        username : `str`, optional
            User the request is created for.

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
        """Cancel a request: nothing new starts and its running attempts are killed before returning.

        Parameters
        ----------
        request_id : `int`
            The request.
        """
        with self._lock:
            if not self.scheduler.cancel(request_id):
                return
            attempts = [row["attempt_id"] for row in self.store.running_attempts(request_id)]
            for attempt_id in attempts:
                self.executor.kill(attempt_id, Outcome.CANCELLED, f"Request {request_id} was aborted")
            killed = set(attempts)
            # The wait reaps every attempt that ends meanwhile: only this request's are cancelled.
            for end in self.executor.wait(attempts):
                if end.attempt_id in killed:
                    end.outcome = Outcome.CANCELLED
                self._keep([end])
            self._record_pending()
        self._poke()

    def retry(self, request_id: int) -> int:
        """Run the failed, missing and cancelled jobs of an ended request again.

        Parameters
        ----------
        request_id : `int`
            The request, which must have ended.
        """
        with self._lock:
            count = retry_request(self.scheduler, request_id)
        self._poke()
        return count

    def exclusive(self) -> contextlib.AbstractContextManager[Any]:
        """Return the lock that orders the engine thread and the commands.

        Hold it to change jobs the engine must not launch in between.
        """
        return self._lock

    def wake(self) -> None:
        """Schedule now (jobs were released or added from outside the verbs)."""
        self._poke()

    def _poke(self) -> None:
        self._dirty = True
        if self._wake_write < 0:
            return
        try:
            os.write(self._wake_write, b"x")
        except (BlockingIOError, OSError):
            pass
