# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""End to end: the demo flow through the real `bps` CLI on the local PanDA, with a restart.

One step2 quantum fails on its first run; `bps restart` recovers the run.  The test then checks
the butler outputs and the per-label report itself.
"""

import getpass
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.paths import REPO_ROOT

pytestmark = [pytest.mark.real_servers, pytest.mark.slow]

DEMO = REPO_ROOT / "examples" / "demo"


@pytest.mark.timeout(900)
def test_demo_with_one_failure_recovers_through_restart(tmp_path, server_process):
    work = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PANDA_", "BPS_"))}
    env["VENV_DIR"] = str(Path(sys.executable).parent.parent)
    result = subprocess.run(
        [
            "bash",
            str(DEMO / "run_demo.sh"),
            "--fail-one",
            "--detectors",
            "2",
            "--work",
            str(work),
            "--timeout",
            "600",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=850,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "DEMO OK" in output

    # The first run failed (one step2 job, its step3 child pruned); the restart ended it SUCCEEDED.
    assert re.search(r"run \d+: FAILED", output), output[-4000:]
    run_id = re.findall(r"DEMO OK: run (\d+) SUCCEEDED", output)[-1]

    # The report objects themselves, from the demo's state directory served again.
    server_process(state_dir=work / "state").start()
    from lsst.ctrl.bps import WmsStates
    from lsst.ctrl.bps.panda import PanDAService

    (report,), message = PanDAService({}).report(run_id)
    assert message == "" and report.state == WmsStates.SUCCEEDED
    succeeded = {label: counts[WmsStates.SUCCEEDED] for label, counts in report.job_summary.items()}
    assert succeeded == {"pipetaskInit": 1, "step1": 2, "step2": 2, "step3": 2, "finalJob": 1}
    assert report.total_number_jobs == 8
    assert report.job_state_counts[WmsStates.SUCCEEDED] == 8

    sys.path.insert(0, str(DEMO))
    try:
        from make_repo import verify_outputs
    finally:
        sys.path.remove(str(DEMO))
    collection = f"u/{getpass.getuser()}/demo"
    assert verify_outputs(work / "repo" / "butler.yaml", collection) == []
