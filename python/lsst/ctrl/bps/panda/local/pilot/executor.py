# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The pilot of the local PanDA: run attempts, watch their memory and time.

Each attempt runs the task's ``executable`` (``${IN/L}`` replaced by the
job's pseudo input name) through ``bash`` in its own working directory and
process group, stdout and stderr going to a per-attempt log.  A small bash
wrapper writes the payload's exit code next to it, so that a server that
was killed and restarted can still learn how an attempt it had started
ended; the file exists (holding a placeholder) before the payload starts,
so that the code is written in place even on a full disk.  Every attempt
carries a launch token in its environment (``PANDA_LOCAL_LAUNCH``) from the
moment it exists, so that a restarted server finds it even when it was
killed before recording its pid (`find_launched`).  The pilot samples the
resident memory of each attempt's process tree (psutil) and kills the whole
group when it exceeds the job's memory or its wall time, recording the
error codes a PanDA pilot would.  It waits on the attempts' exit through
pid file descriptors instead of polling.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import select
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import psutil

from ...edgenode.job_contract import IN_PLACEHOLDER, REALTIME_LOG_FILE
from .attempts import PAYLOAD_EXCEEDED_MEMORY, REACHED_MAX_TIME, AttemptEnd, LaunchSpec, Outcome
from .launch_faults import LAUNCH_TOKEN_ENV, launch_token
from .process_tree import EXIT_CODE_FILE, kill_group, pidfd, read_exit_code, tree_rss_mb

__all__ = [
    "EXIT_CODE_FILE",
    "IN_PLACEHOLDER",
    "PAUSE_AFTER_LAUNCH_ENV",
    "PAYLOAD_EXCEEDED_MEMORY",
    "REACHED_MAX_TIME",
    "AttemptEnd",
    "Executor",
    "LaunchSpec",
    "Outcome",
    "with_input",
]

_LOG = logging.getLogger(__name__)


LOG_FILE = "payload.log"
"""Name of an attempt's stdout/stderr log in its working directory."""

PAUSE_AFTER_LAUNCH_ENV = "PANDA_LOCAL_TEST_PAUSE_AFTER_LAUNCH"
"""Test hook: a directory; the first launch of a server writes ``paused-<PANDAID>`` there and
pauses before the pid is recorded (so that a test can kill the server inside that window)."""

_EXIT_CODE_PLACEHOLDER = "running" + " " * 8 + "\n"
"""Written before the payload starts; the wrapper overwrites it in place (no allocation)."""

# One shell runs the payload (eval) and, on exit, writes its exit code over the placeholder
# (1<> opens without truncating, so no new disk block is needed) for a restarted server.
_WRAPPER = (
    f"__panda_local_payload=$1; __panda_local_exit=$PWD/{EXIT_CODE_FILE}; set --; "
    'trap \'printf "%-15s\\n" "$?" 1<> "$__panda_local_exit"\' EXIT; '
    'eval "$__panda_local_payload"'
)


@dataclasses.dataclass(slots=True)
class _Running:
    spec: LaunchSpec
    pid: int
    started: float
    popen: subprocess.Popen | None
    """`None` for an attempt adopted after a restart (not our child)."""
    pidfd: int | None = None
    """Readable once the process has exited (`None` where pid file descriptors are missing)."""
    peak_rss_mb: float = 0.0
    kill_reason: Outcome | None = None
    kill_diag: str | None = None
    kill_code: int | None = None


class Executor:
    """Run, watch and kill attempts.

    Parameters
    ----------
    base_environment : `~collections.abc.Mapping` [`str`, `str`]
        Environment of every attempt (per-attempt variables are added).
    sample_interval : `float`, optional
        Seconds between memory samples of the running attempts.
    launch_tag : `str`, optional
        Tag of this local PanDA (its state directory), carried by every attempt in
        ``PANDA_LOCAL_LAUNCH`` so that a later server finds the attempt's process.
    """

    def __init__(
        self, base_environment: Mapping[str, str], sample_interval: float = 0.2, launch_tag: str = ""
    ) -> None:
        self.base_environment = dict(base_environment)
        self.sample_interval = sample_interval
        self.launch_tag = launch_tag
        self._running: dict[int, _Running] = {}
        self._last_sample = 0.0
        self._paused_once = False

    @property
    def running(self) -> dict[int, LaunchSpec]:
        """Specs of the running attempts, by attempt id."""
        return {attempt_id: run.spec for attempt_id, run in self._running.items()}

    def launch(self, spec: LaunchSpec) -> tuple[int, float]:
        """Start an attempt in a new process group.

        Parameters
        ----------
        spec : `LaunchSpec`
            The attempt.

        Returns
        -------
        pid : `int`
            Process id of the attempt's wrapper (and its process group id).
        started : `float`
            Its creation time, which identifies it after a restart.
        """
        spec.workdir.mkdir(parents=True, exist_ok=True)
        (spec.workdir / EXIT_CODE_FILE).write_text(_EXIT_CODE_PLACEHOLDER)
        env = dict(self.base_environment)
        env.update(PANDAID=str(spec.attempt_id), PanDA_TaskID=str(spec.workload_id))
        env["REALTIME_LOGFILES"] = REALTIME_LOG_FILE
        env[LAUNCH_TOKEN_ENV] = launch_token(self.launch_tag, spec.attempt_id)
        with open(spec.workdir / LOG_FILE, "ab") as log:
            popen = subprocess.Popen(
                ["bash", "-c", _WRAPPER, "panda_local_pilot", spec.command],
                cwd=spec.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            started = psutil.Process(popen.pid).create_time()
        except psutil.Error:
            started = time.time()
        self._running[spec.attempt_id] = _Running(spec, popen.pid, time.time(), popen, pidfd(popen.pid))
        self._pause_for_tests(spec.attempt_id)
        return popen.pid, started

    def _pause_for_tests(self, attempt_id: int) -> None:
        """Pause inside the launch window (process started, pid not recorded) once, if asked."""
        where = os.environ.get(PAUSE_AFTER_LAUNCH_ENV)
        if not where or self._paused_once:
            return
        self._paused_once = True
        (Path(where) / f"paused-{attempt_id}").write_text(str(os.getpid()))
        _LOG.warning("Test hook: pausing after the launch of attempt %d", attempt_id)
        time.sleep(120)

    def adopt(self, spec: LaunchSpec, pid: int, created: float, started_at: float) -> bool:
        """Watch an attempt started by a previous server, if it still runs.

        Parameters
        ----------
        spec : `LaunchSpec`
            What the attempt runs and its limits.
        pid : `int`
            Process id recorded for the attempt.
        created : `float`
            Creation time recorded for that process, which tells it from a later one with the same id.
        started_at : `float`
            When the attempt started (seconds since the epoch).

        Returns
        -------
        adopted : `bool`
            `False` when no process with this id and creation time runs.
        """
        try:
            alive = abs(psutil.Process(pid).create_time() - created) < 0.5
        except psutil.Error:
            alive = False
        if alive:
            self._running[spec.attempt_id] = _Running(spec, pid, started_at, None, pidfd(pid))
        return alive

    def kill(self, attempt_id: int, outcome: Outcome, diag: str, code: int | None = None) -> None:
        """Kill an attempt's process group; `poll` then reports it with ``outcome``.

        Parameters
        ----------
        attempt_id : `int`
            The attempt.
        outcome : `Outcome`
            How the attempt is reported to have ended.
        diag : `str`
            Why it was killed, for the job's error diagnostics.
        code : `int`, optional
            Pilot error code to report (the attempt's ``error_code``).
        """
        run = self._running.get(attempt_id)
        if run is None:
            return
        if run.kill_reason is None:
            run.kill_reason, run.kill_diag, run.kill_code = outcome, diag, code
            _LOG.info("Killing attempt %d (PANDAID): %s", attempt_id, diag)
        kill_group(run.pid)

    def enforce_limits(self, now: float | None = None) -> None:
        """Sample memory (at most every ``sample_interval``) and kill attempts over their limits.

        Parameters
        ----------
        now : `float`, optional
            Current time (seconds since the epoch); `None` reads the clock.
        """
        now = time.time() if now is None else now
        if now - self._last_sample < self.sample_interval:
            return
        self._last_sample = now
        for attempt_id, run in list(self._running.items()):
            if run.kill_reason is not None:
                continue
            spec = run.spec
            try:
                rss_mb, _ = tree_rss_mb(psutil.Process(run.pid))
            except psutil.Error:
                continue
            run.peak_rss_mb = max(run.peak_rss_mb, rss_mb)
            if spec.rss_limit and rss_mb > spec.rss_limit:
                self.kill(
                    attempt_id,
                    Outcome.MEMORY,
                    f"Payload exceeded memory limit: {rss_mb:.0f} MB RSS > {spec.rss_limit} MB",
                    PAYLOAD_EXCEEDED_MEMORY,
                )
            elif spec.walltime and now - run.started > spec.walltime:
                self.kill(
                    attempt_id,
                    Outcome.WALLTIME,
                    f"Payload reached its maximum wall time of {spec.walltime} s",
                    REACHED_MAX_TIME,
                )

    def poll(self) -> list[AttemptEnd]:
        """Reap the attempts that ended since the last call.

        The caller owns the ends returned: the attempts are no longer watched, so an end must be
        kept until it is recorded.
        """
        ended = []
        for attempt_id, run in list(self._running.items()):
            end = self._reap(run)
            if end is not None:
                del self._running[attempt_id]
                if run.pidfd is not None:
                    os.close(run.pidfd)
                ended.append(end)
        return ended

    def wait_for_exit(self, timeout: float, wake_fd: int | None = None) -> None:
        """Sleep until an attempt exits, ``wake_fd`` is readable, or ``timeout`` seconds pass.

        Without pid file descriptors (not Linux) this sleeps a short while instead.

        Parameters
        ----------
        timeout : `float`
            Longest sleep, in seconds.
        wake_fd : `int`, optional
            A descriptor that ends the sleep when readable (the engine's wake-up pipe).
        """
        fds = [run.pidfd for run in self._running.values()]
        if any(fd is None for fd in fds):
            timeout = min(timeout, 0.05)
        poller = select.poll()
        for fd in [*filter(None, fds), *([wake_fd] if wake_fd is not None else [])]:
            poller.register(fd, select.POLLIN)
        poller.poll(max(timeout, 0.0) * 1000)

    def detach(self) -> list[int]:
        """Stop watching every attempt, leaving it to run (a server that stops); return their ids."""
        ids = list(self._running)
        for run in self._running.values():
            if run.pidfd is not None:
                os.close(run.pidfd)
        self._running.clear()
        return ids

    def wait(self, attempt_ids: list[int], timeout: float = 10.0) -> list[AttemptEnd]:
        """Wait (bounded) for some attempts to end, typically after `kill`.

        Parameters
        ----------
        attempt_ids : `list` [`int`]
            The attempts.
        timeout : `float`, optional
            Longest wait, in seconds.
        """
        deadline = time.monotonic() + timeout
        ended: list[AttemptEnd] = []
        pending = set(attempt_ids) & set(self._running)
        while pending and time.monotonic() < deadline:
            for end in self.poll():
                ended.append(end)
                pending.discard(end.attempt_id)
            if pending:
                time.sleep(0.01)
        return ended

    def _reap(self, run: _Running) -> AttemptEnd | None:
        peak = run.peak_rss_mb
        code: int | None
        if run.popen is not None:
            try:
                pid, status = os.waitpid(run.pid, os.WNOHANG)
            except ChildProcessError:
                # Reaped elsewhere: the status is lost; only the wrapper's file can tell (never 0
                # by default).
                pid, status = run.pid, None
            if pid == 0:
                return None
            if status is None:
                code = read_exit_code(run.spec.workdir)
            else:
                code = os.waitstatus_to_exitcode(status)
                code = 128 - code if code < 0 else code
            run.popen.returncode = code
            # No ru_maxrss: a forked child counts the server's own pages until it execs; the peak
            # is the payload's process tree as sampled.
        else:
            try:
                alive = psutil.Process(run.pid).status() != psutil.STATUS_ZOMBIE
            except psutil.Error:
                alive = False
            if not alive:
                # A stopped in-process server may have left it as our child: reap the zombie.
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(run.pid, os.WNOHANG)
            if alive:
                return None
            code = read_exit_code(run.spec.workdir)
        # A payload's descendants may outlive it in the group: the attempt is over, end them.
        kill_group(run.pid)
        peak_rss = round(peak, 1) if peak else None
        if run.kill_reason is not None:
            return AttemptEnd(
                run.spec.attempt_id, run.kill_reason, code, peak_rss, run.kill_code, run.kill_diag
            )
        if code is None:
            return AttemptEnd(
                run.spec.attempt_id,
                Outcome.LOST,
                None,
                peak_rss,
                None,
                "Attempt ended and its exit status was lost (no exit code recorded)",
            )
        outcome = Outcome.OK if code == 0 else Outcome.FAILED
        diag = None if code == 0 else f"Payload exited with code {code}"
        return AttemptEnd(run.spec.attempt_id, outcome, code, peak_rss, None, diag)

    def kill_all(self, outcome: Outcome, diag: str) -> list[AttemptEnd]:
        """Kill every attempt and wait for them; attempts that had already ended keep their end.

        Parameters
        ----------
        outcome : `Outcome`
            How the attempts are reported to have ended.
        diag : `str`
            Why they were killed, for the jobs' error diagnostics.
        """
        ended = self.poll()
        ids = list(self._running)
        for attempt_id in ids:
            self.kill(attempt_id, outcome, diag)
        return ended + self.wait(ids)


def with_input(executable: str, pseudo_input: str) -> str:
    """Return a task executable with ``${IN/L}`` replaced by a job's pseudo input name.

    Parameters
    ----------
    executable : `str`
        The task's executable.
    pseudo_input : `str`
        Pseudo input name of the job.
    """
    return executable.replace(IN_PLACEHOLDER, pseudo_input)
