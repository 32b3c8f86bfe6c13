# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Remote-build runs of the demo: its work directory, ``bps submit`` and request statuses."""

import os
import subprocess
import sys
import time
from pathlib import Path

from support.local_panda import call_ok
from support.paths import DEMO_DIR, REPO_ROOT

DEMO = DEMO_DIR

BPS = Path(sys.executable).parent / "bps"

REMOTE_YAML = """\
includeConfigs:
  - ${{CTRL_BPS_PANDA_DIR}}/config/bps_local.yaml
  - ${{CTRL_BPS_PANDA_DIR}}/config/bps_remote.yaml
wmsServiceClass: lsst.ctrl.bps.panda.PanDAService
# Unpacked next to this file in the build job's working directory.
pipelineYaml: pipeline.yaml
remoteBuild:
  files: [{work}/pipeline.yaml]
  uploadBackoff: 0.2
project: ctrl_bps_panda
campaign: demo
payload:
  payloadName: demo
  butlerConfig: {work}/repo/butler.yaml
  inCollection: demo/inputs
  dataQuery: "instrument = 'DemoCam'"
  output: "u/{{operator}}/{{payloadName}}"
requestMemory: 2048
numberOfRetries: 1
pipetask:
  step2:
    requestMemory: 6000
"""


def demo_work(tmp_path, with_repo=True, submit_path=None):
    """Make the demo's work directory: its butler, pipeline and ``remote.yaml``.

    ``submit_path`` (a ``submitPath`` value) replaces ctrl_bps's default ``${PWD}/submit/{outputRun}``.
    """
    work = tmp_path / "demo"
    work.mkdir()
    if with_repo:
        subprocess.run(
            [sys.executable, str(DEMO / "make_repo.py"), "create", str(work), "--detectors", "1"],
            check=True,
            capture_output=True,
            timeout=300,
        )
    else:
        (work / "pipeline.yaml").write_text("description: never built\n")
    remote_yaml = REMOTE_YAML.format(work=work)
    if submit_path:
        remote_yaml += f"submitPath: {submit_path}\n"
    (work / "remote.yaml").write_text(remote_yaml)
    return work


def bps_submit(work):
    # ctrl_bps's default submitPath is ${PWD}/submit/...: PWD as a shell in ``work`` would have it.
    env = dict(os.environ, CTRL_BPS_PANDA_DIR=str(REPO_ROOT), PWD=str(work))
    return subprocess.run(
        [str(BPS), "submit", "remote.yaml"], cwd=work, env=env, capture_output=True, text=True, timeout=300
    )


def request_statuses(api, request_id, timeout):
    """Poll the request (bounded); return the status names it went through, in order."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (record,) = call_ok(api.get_requests(request_id=request_id))
        name = record["status"].name
        if not seen or seen[-1] != name:
            seen.append(name)
        if name in ("Finished", "SubFinished", "Failed", "Cancelled"):
            return seen
        time.sleep(0.2)
    raise AssertionError(f"request {request_id} did not end in {timeout} s: {seen}")
