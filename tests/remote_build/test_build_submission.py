# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Remote build end to end on the local PanDA, through the real ``bps submit`` and PanDA client.

The demo pipeline is built by the build job (``build_cmd_line_decoder.py``) on the local PanDA
and runs under the build request's id; a cache that refuses the archive stops ``bps submit``
after ``remoteBuild.uploadAttempts`` tries with nothing submitted.
"""

import getpass
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.local_panda import call_ok
from support.paths import REPO_ROOT
from support.remote_build_runs import DEMO, bps_submit, demo_work, request_statuses

pytestmark = [pytest.mark.real_servers, pytest.mark.slow]

DECODER = REPO_ROOT / "python/lsst/ctrl/bps/panda/edgenode/build_cmd_line_decoder.py"


@pytest.mark.timeout(900)
def test_remote_build_of_the_demo_runs_under_the_build_request_id(local_panda, idds_api, tmp_path):
    work = demo_work(tmp_path)
    result = bps_submit(work)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    request_id = int(re.search(r"^Run Id: (\d+)$", result.stdout, re.M).group(1))
    assert "Put jobO." in result.stderr and "in the PanDA cache (try 1 of 3)" in result.stderr

    # New (or already Building), Building while the job builds, then the run: same request id.
    seen = request_statuses(idds_api, request_id, timeout=600)
    assert seen[-1] == "Finished", seen
    assert "Building" in seen and seen.index("Building") < seen.index("Finished")

    from lsst.ctrl.bps import WmsStates
    from lsst.ctrl.bps.panda import PanDAService

    (report,), message = PanDAService({}).report(str(request_id))
    assert message == "" and report.state == WmsStates.SUCCEEDED
    succeeded = {label: counts[WmsStates.SUCCEEDED] for label, counts in report.job_summary.items()}
    expected = {"build_task": 1, "pipetaskInit": 1, "step1": 1, "step2": 1, "step3": 1, "finalJob": 1}
    assert succeeded == expected

    submit_dir = Path(re.search(r"^Submit dir: (.+)$", result.stdout, re.M).group(1))
    record = json.loads((submit_dir / "panda_request.json").read_text())
    assert record["request_id"] == request_id and record["remote_build"] is True
    # The build made the run the submit side announced (same outputRun, hence the same name).
    assert report.run == record["name"] == re.search(r"^Run Name: (.+)$", result.stdout, re.M).group(1)

    sys.path.insert(0, str(DEMO))
    try:
        from make_repo import verify_outputs
    finally:
        sys.path.remove(str(DEMO))
    assert verify_outputs(work / "repo" / "butler.yaml", f"u/{getpass.getuser()}/demo") == []

    # A second build job for the same request (a fresh archive, so its quantum graph is new): it
    # builds, but iDDS keeps the first workflow and refuses the second (exit 69).
    from lsst.ctrl.bps.panda.remote_build.build_archive import cache_url, pack_archive, upload_to_cache

    second = pack_archive(
        str(work / "remote.yaml"),
        (str(work / "pipeline.yaml"),),
        tmp_path,
        {"output_run": f"u/{getpass.getuser()}/demo/second"},
    )
    upload_to_cache(second, attempts=1, backoff=0)
    (signature,) = (
        local_panda.engine.store.connection()
        .execute("SELECT signature FROM builds WHERE request_id = ?", (request_id,))
        .fetchone()
    )
    again = tmp_path / "again"
    again.mkdir()
    from lsst.ctrl.bps.panda.local.pilot.job_environment import job_environment

    env = job_environment(local_panda.state)  # what the local PanDA gives its jobs
    env.update(IDDS_BUILD_REQUEST_ID=str(request_id), IDDS_BUIL_SIGNATURE=signature, PWD=str(again))
    rerun = subprocess.run(
        [sys.executable, str(DECODER), cache_url(second.name), "remote.yaml", "LOCAL"],
        cwd=again,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 69, rerun.stderr[-3000:]
    assert "'build_workflow'" in rerun.stderr and "Generating quantum graph" not in rerun.stderr
    (record_after,) = call_ok(idds_api.get_requests(request_id=request_id))
    assert record_after["status"].name == "Finished"
    assert PanDAService({}).report(str(request_id))[0][0].total_number_jobs == 6


@pytest.mark.timeout(900)
def test_a_remote_build_with_an_absolute_submit_path_builds_in_the_jobs_directory_and_succeeds(
    local_panda, idds_api, tmp_path
):
    # The build job runs on this host: the submitter's directory exists when it starts.
    submit_root = tmp_path / "submit_side"
    work = demo_work(tmp_path, submit_path=f"{submit_root}/{{outputRun}}")
    result = bps_submit(work)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    request_id = int(re.search(r"^Run Id: (\d+)$", result.stdout, re.M).group(1))
    submit_dir = Path(re.search(r"^Submit dir: (.+)$", result.stdout, re.M).group(1))
    assert submit_dir.is_relative_to(submit_root)

    seen = request_statuses(idds_api, request_id, timeout=600)
    assert seen[-1] == "Finished", seen
    from lsst.ctrl.bps import WmsStates
    from lsst.ctrl.bps.panda import PanDAService

    (report,), _ = PanDAService({}).report(str(request_id))
    assert report.state == WmsStates.SUCCEEDED
    sys.path.insert(0, str(DEMO))
    try:
        from make_repo import verify_outputs
    finally:
        sys.path.remove(str(DEMO))
    assert verify_outputs(work / "repo" / "butler.yaml", f"u/{getpass.getuser()}/demo") == []
    # The quantum graph was made in the build job's directory, not in the submitter's.
    run_dir = submit_dir.relative_to(submit_root)
    assert not [p for p in submit_dir.rglob("*") if p.suffix.startswith(".qg")]
    built = [p for p in local_panda.state.work_dir.rglob(f"submit/{run_dir}") if p.is_dir()]
    assert len(built) == 1 and [p for p in built[0].iterdir() if p.suffix.startswith(".qg")]


@pytest.mark.timeout(300)
def test_a_cache_that_refuses_the_archive_three_times_stops_submit_with_nothing_submitted(
    local_panda, idds_api, tmp_path
):
    # A fault of the server's disk: the cache directory cannot be made, so every upload is refused.
    (local_panda.state.root / "cache").write_text("not a directory")
    work = demo_work(tmp_path, with_repo=False)
    result = bps_submit(work)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-4000:]
    assert "refused the remote build archive" in output and "3 times" in output
    # ctrl_bps repeats the error message: count the tries it names, not the lines.
    assert set(re.findall(r"try (\d): status 0: ERROR: cannot write file", output)) == {"1", "2", "3"}
    assert "(try 2 of 3: status 0, ERROR: cannot write file); trying again in 0.4 s" in output
    assert "nothing was submitted" in output and "Run Id:" not in output
    assert call_ok(idds_api.get_requests()) == []
    assert list(work.glob("submit/**/jobO.*.tar.gz")) and not list(work.glob("submit/**/panda_request.json"))
