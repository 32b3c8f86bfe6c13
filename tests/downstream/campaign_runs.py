# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The downstream package's runs: small shell workflows submitted as `bps submit` would, then polled.

The same scenario runs on either PanDA: on the local PanDA the shell commands run; on the iDDS
double the story says what iDDS answers (the same outcome, scripted).
"""

import shlex
import time

from lsst.ctrl.bps import GenericWorkflow, GenericWorkflowExec, GenericWorkflowJob, WmsStates
from lsst.ctrl.bps.panda import PanDAService
from lsst.ctrl.bps.panda.testing.run_story import RunStory

ENDED = {WmsStates.SUCCEEDED, WmsStates.FAILED, WmsStates.DELETED}

SCENARIOS = {
    # name: (commands of label "a", story on the double; a campaign manager's reading of both paths
    # is 3 polls: get_requests for report, get_status, report)
    "success": (["true", "true"], None),
    "failure_with_final_job": (
        ["true", "exit 3"],
        RunStory(jobs={"a": 2, "finalJob": 1})
        .then("New", polls=3)
        .then("Transforming", polls=3, done={"a": 1}, running={"a": 1})
        .then("SubFinished", done={"a": 1, "finalJob": 1}, failed={"a": [3]}),
    ),
    "cancel": (
        ["sleep 60"],
        RunStory(jobs={"a": 1, "finalJob": 1})
        .then("New", polls=3)
        .then("Transforming", polls=10**6, running={"a": 1}),
    ),
}


def shell_workflow(name, commands):
    """Return a GenericWorkflow: one job per command (label ``a``) and a final job."""
    gw = GenericWorkflow(name)
    shell = GenericWorkflowExec("sh", "/bin/sh", False)
    for number, command in enumerate(commands):
        job = GenericWorkflowJob(
            f"a_{number}", label="a", executable=shell, arguments=f"-c {shlex.quote(command)}"
        )
        job.number_of_retries = 0
        gw.add_job(job)
    final = GenericWorkflowJob("finalJob", label="finalJob", executable=shell, arguments="-c true")
    final.number_of_retries = 0
    gw.add_final(final)
    return gw


def submit(config, gw):
    """Prepare and submit as `bps submit` does; return the submit directory (cm-service's run id)."""
    service = PanDAService(config)
    submit_dir = config["submitPath"]
    prepared = service.prepare(config, gw, submit_dir)
    service.submit(prepared)
    assert prepared.run_id
    return submit_dir


def wait_for(run, states=ENDED, timeout=120.0, poll=0.2):
    """Poll `get_status` as the campaign manager does, until ``states``; return the state."""
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        state, _ = PanDAService({}).get_status(run)
        if state in states:
            return state
        time.sleep(poll)
    raise AssertionError(f"run {run} still {state} after {timeout} s")
