# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Runs against the real PanDA relay and iDDS REST server: the site, workflows, the bps command."""

import os
import subprocess
import sys
from pathlib import Path

from lsst.ctrl.bps import GenericWorkflow, GenericWorkflowExec, GenericWorkflowJob

SITE = {
    "runnerCommand": "/bin/true _cmd_line_",
    "memoryClasses": [{"name": "conventional", "maxMemory": 4000, "queue": "TEST_QUEUE"}],
    "mergeQueue": "TEST_MERGE",
}


def shell_workflow(name, jobs=3):
    """A GenericWorkflow of ``jobs`` chained shell jobs in two labels."""
    gw = GenericWorkflow(name)
    shell = GenericWorkflowExec("sh", "/bin/sh", False)
    previous = None
    for number in range(jobs):
        job = GenericWorkflowJob(
            f"job{number}", label="a" if number < jobs - 1 else "b", executable=shell, arguments="-c true"
        )
        gw.add_job(job, parent_names=[previous] if previous else None)
        previous = job.name
    return gw


def bps(real_servers, *args, cwd=None, panda_url=None, extra_env=None, timeout=180):
    """Run the ``bps`` command line against the real relay, as the user with the test proxy."""
    url = panda_url or real_servers.panda_url
    env = dict(
        os.environ,
        BPS_WMS_SERVICE_CLASS="lsst.ctrl.bps.panda.PanDAService",
        PANDA_URL=url,
        PANDA_URL_SSL=url,
        PANDACACHE_URL=url,
        **(extra_env or {}),
    )
    bps_exe = Path(sys.executable).parent / "bps"
    return subprocess.run(
        [str(bps_exe), *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=cwd
    )
