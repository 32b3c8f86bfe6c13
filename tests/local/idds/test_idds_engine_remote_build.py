# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Remote build on the local PanDA's real iDDS engine.

``bps submit`` puts the archive in the local PanDA's cache and makes a build request on the
real iDDS (through the relay); the real daemons submit the build task to the local PanDA's
task/job API, whose job command carries the ``IDDS_BUILD_REQUEST_ID``/``IDDS_BUIL_SIGNATURE``
exports ``DomaPanDAWork`` writes; the build job hands the workflow back with
``update_build_request`` (forwarded to the real iDDS), and the real iDDS runs it under the same
request id.
"""

import getpass
import json
import re
import sys

import pytest
from support.remote_build_runs import DEMO, bps_submit, demo_work, request_statuses

pytestmark = [
    pytest.mark.real_idds,
    pytest.mark.idds_engine,
    pytest.mark.real_servers,
    pytest.mark.slow,
    pytest.mark.timeout(1200),
]


def test_remote_build_of_the_demo_on_the_real_idds(idds_panda, idds_api, tmp_path):  # noqa: F811
    work = demo_work(tmp_path)
    result = bps_submit(work)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    request_id = int(re.search(r"^Run Id: (\d+)$", result.stdout, re.M).group(1))

    seen = request_statuses(idds_api, request_id, timeout=600)
    assert seen[-1] == "Finished", seen
    assert "Building" in seen and seen.index("Building") < seen.index("Finished")

    # The build task's job ran the command real iDDS gives it: its exports, then the decoder.
    (params,) = (
        idds_panda.engine.store.connection()
        .execute(
            "SELECT params FROM panda_tasks WHERE idds_request_id = ? ORDER BY jedi_task_id", (request_id,)
        )
        .fetchmany(1)
    )
    command = json.loads(params[0])["jobParameters"][0]["value"]
    assert command.startswith(f"export IDDS_BUILD_REQUEST_ID={request_id};export IDDS_BUIL_SIGNATURE=")
    assert "build_cmd_line_decoder" in command

    from lsst.ctrl.bps import WmsStates
    from lsst.ctrl.bps.panda import PanDAService

    (report,), message = PanDAService({}).report(str(request_id))
    assert message == "" and report.state == WmsStates.SUCCEEDED, (message, report)
    succeeded = {label: counts[WmsStates.SUCCEEDED] for label, counts in report.job_summary.items()}
    print(f"\nstatuses {seen}; jobs {succeeded}")
    # The real iDDS reports the build task with no jobs once the built workflow replaced it
    # (the embedded engine counts its one job SUCCEEDED).
    assert sum(report.job_summary.get("build_task", {}).values()) == 0
    for label in ("pipetaskInit", "step1", "step2", "step3", "finalJob"):
        assert succeeded.get(label) == 1, succeeded

    sys.path.insert(0, str(DEMO))
    try:
        from make_repo import verify_outputs
    finally:
        sys.path.remove(str(DEMO))
    assert verify_outputs(work / "repo" / "butler.yaml", f"u/{getpass.getuser()}/demo") == []
