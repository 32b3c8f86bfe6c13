# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Runs read as the campaign manager (lsst-dm/cm-service) reads them, from submit to the end.

Each `WatchedRun` is a small shell workflow with a final job, submitted through `PanDAService` and
read through ``PanDAService(config={})`` on both of cm-service's paths at every poll; every verdict
read is kept, per path and per phase, so that a test can assert that nothing but ``running`` was
seen before the expected final verdict.
"""

import dataclasses
import shlex
import time
from pathlib import Path

from lsst.ctrl.bps import GenericWorkflowExec, GenericWorkflowJob
from lsst.ctrl.bps.panda import PanDAService
from lsst.ctrl.bps.panda.testing.campaign_verdicts import FINAL_VERDICTS, read_verdict

from support.bps_configs import make_config
from support.service_runs import LOCAL_SITE, shell_workflow

PATHS = ("v2", "older")


def workflow_with_final_job(name: str, commands: dict, parents: dict | None = None):
    """A shell workflow (see `shell_workflow`) plus ctrl_bps's ``finalJob`` running ``true``."""
    gw = shell_workflow(name, commands, parents)
    shell = GenericWorkflowExec("sh", "/bin/sh", False)
    final = GenericWorkflowJob("finalJob", label="finalJob", executable=shell, arguments="-c true")
    final.number_of_retries = 0
    gw.add_final(final)
    return gw


@dataclasses.dataclass
class WatchedRun:
    """One run, its phases (``submit``, then ``restart``) and the verdicts read in each."""

    case: str
    submit_dir: Path
    expected: dict[str, dict[str, str]]
    """Per phase, the final verdict each path must reach."""
    phase: str = "submit"
    seen: dict[str, dict[str, list[str]]] = dataclasses.field(default_factory=dict)
    started: float = dataclasses.field(default_factory=time.monotonic)
    phase_seconds: dict[str, float] = dataclasses.field(default_factory=dict)

    def read(self, service: PanDAService) -> None:
        """Read the run on every path that has not reached a final verdict in this phase."""
        verdicts = self.seen.setdefault(self.phase, {path: [] for path in PATHS})
        for path in PATHS:
            if verdicts[path] and verdicts[path][-1] in FINAL_VERDICTS:
                continue
            verdicts[path].append(read_verdict(service, str(self.submit_dir), path))

    def phase_done(self) -> bool:
        """Whether both paths reached a final verdict in this phase."""
        verdicts = self.seen.get(self.phase, {})
        return all(verdicts.get(path) and verdicts[path][-1] in FINAL_VERDICTS for path in PATHS)

    def next_phase(self, phase: str) -> None:
        """Close this phase (its duration kept) and start ``phase``."""
        self.phase_seconds[self.phase] = time.monotonic() - self.started
        self.phase, self.started = phase, time.monotonic()


def submit_case(case: str, submit_root: Path, commands: dict, parents: dict | None, expected: dict):
    """Submit a case's workflow into its own submit directory; return its `WatchedRun`."""
    submit_dir = submit_root / case
    config = make_config(str(submit_dir), site=LOCAL_SITE)
    service = PanDAService(config)
    name = f"cm_{case}_{int(time.time() * 1000) % 10**8}"
    prepared = service.prepare(config, workflow_with_final_job(name, commands, parents), str(submit_dir))
    service.submit(prepared)
    return WatchedRun(case, submit_dir, expected)


def campaign_cases(root: Path) -> list[WatchedRun]:
    """Submit the three runs: a success, a failure then restart, a cancel (see the test module)."""
    marker = root / "fixed"
    started = root / "sleeper_started"
    return [
        submit_case(
            "success",
            root,
            {"first": ("a", "true"), "second": ("b", "true")},
            {"second": ["first"]},
            {"submit": {"v2": "accepted", "older": "accepted"}},
        ),
        submit_case(
            "failure_then_restart",
            root,
            {
                "ok": ("a", "true"),
                "flaky": ("a", f"test -e {shlex.quote(str(marker))} || exit 3"),
                "child": ("b", "true"),
            },
            {"child": ["flaky"]},
            {
                "submit": {"v2": "failed", "older": "accepted"},
                "restart": {"v2": "accepted", "older": "accepted"},
            },
        ),
        submit_case(
            "cancel",
            root,
            {"sleeper": ("a", f"touch {shlex.quote(str(started))}; sleep 300"), "after": ("b", "true")},
            {"after": ["sleeper"]},
            {"submit": {"v2": "failed", "older": "reviewable"}},
        ),
    ]


def drive(runs: list[WatchedRun], root: Path, poll: float, timeout: float) -> None:
    """Poll every run until each phase of each ended; cancel and restart when the cases say."""
    service = PanDAService(config={})
    marker, started = root / "fixed", root / "sleeper_started"
    cancelled = False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run in runs:
            if run.phase == "done":
                continue
            run.read(service)
            if run.case == "cancel" and not cancelled and started.exists():
                ok, message = service.cancel(str(run.submit_dir))
                assert ok, message
                cancelled = True
            if not run.phase_done():
                continue
            if run.case == "failure_then_restart" and run.phase == "submit":
                marker.touch()
                restarted, _, message = service.restart(str(run.submit_dir))
                assert restarted is not None, message
                run.next_phase("restart")
                run.read(service)  # at once, as a script polling right after `bps restart` does
            else:
                run.next_phase("done")
        if all(run.phase == "done" for run in runs):
            return
        time.sleep(poll)
    unfinished = {run.case: (run.phase, run.seen) for run in runs if run.phase != "done"}
    raise AssertionError(f"runs still going after {timeout} s: {unfinished}")
