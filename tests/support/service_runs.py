# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Runs of small shell workflows through `PanDAService` on the local PanDA."""

import shlex
import sys
import time

from lsst.ctrl.bps import GenericWorkflow, GenericWorkflowExec, GenericWorkflowJob
from lsst.ctrl.bps.panda import PanDAService
from lsst.ctrl.bps.panda.edgenode import cmd_line_decoder
from lsst.ctrl.bps.panda.states import TERMINAL_REQUEST_STATES

LOCAL_SITE = {
    "runnerCommand": f"{shlex.quote(sys.executable)} {shlex.quote(cmd_line_decoder.__file__)} _cmd_line_",
    "memoryClasses": [{"name": "conventional", "maxMemory": 4000, "queue": "LOCAL_CONVENTIONAL"}],
    "mergeQueue": "LOCAL_MERGE",
}


def shell_workflow(name, commands, parents=None):
    """A GenericWorkflow whose jobs run shell commands; ``commands`` maps job name -> (label, command)."""
    gw = GenericWorkflow(name)
    shell = GenericWorkflowExec("sh", "/bin/sh", False)
    for job_name, (label, command) in commands.items():
        job = GenericWorkflowJob(
            job_name, label=label, executable=shell, arguments=f"-c {shlex.quote(command)}"
        )
        job.number_of_retries = 0
        gw.add_job(job, parent_names=(parents or {}).get(job_name))
    return gw


def submit(service_config, gw, submit_dir):
    service = PanDAService(service_config)
    prepared = service.prepare(service_config, gw, str(submit_dir))
    service.submit(prepared)
    return service, prepared


def wait_for(service, request_id, states=TERMINAL_REQUEST_STATES, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state, _ = service.get_status(request_id)
        if state in states:
            return state
        time.sleep(0.2)
    raise AssertionError(f"request {request_id} still {state} after {timeout} s")
