# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The pilot: environment, working directories, logs, memory and wall-time limits."""

import json
import os
import sys
import time
from pathlib import Path

import lsst.ctrl.bps.panda.edgenode
import lsst.ctrl.bps.panda.local.pilot.executor
import pytest
from lsst.ctrl.bps.panda.local.core.installation import DECODER_PATH, installation_environment
from lsst.ctrl.bps.panda.local.pilot.executor import (
    PAYLOAD_EXCEEDED_MEMORY,
    REACHED_MAX_TIME,
    Executor,
    LaunchSpec,
    Outcome,
    with_input,
)

pytestmark = [pytest.mark.real_servers, pytest.mark.timeout(120)]

ALLOCATE_200_MB = "python3 -c \"import time; block = b'x' * (200 * 1024 * 1024); time.sleep(1.5)\""


def _jobs(idds_api, unwrap, request_id):
    grouped = unwrap(idds_api.get_contents_output_ext(request_id=request_id))
    return {job["name"]: job for jobs in grouped.values() for job in jobs}


def test_in_placeholder_is_replaced_by_the_pseudo_input_name():
    assert (
        with_input("run ${IN/L} --x ${IN/L}", "job+qgraphNodeId:1")
        == "run job+qgraphNodeId:1 --x job+qgraphNodeId:1"
    )


def test_installation_environment_points_at_this_checkout_and_venv():
    env = installation_environment()
    assert (Path(env["CTRL_BPS_PANDA_DIR"]) / "config" / "bps_local.yaml").is_file()
    assert (
        Path(env["CTRL_BPS_PANDA_DIR"]) / "python/lsst/ctrl/bps/panda/edgenode/cmd_line_decoder.py"
    ).is_file()
    assert (Path(env["CTRL_MPEXEC_DIR"]) / "bin" / "pipetask").exists()
    assert (Path(env["DAF_BUTLER_DIR"]) / "bin" / "butler").exists()
    assert env["PANDA_LOCAL_PYTHON"] == sys.executable


def test_payload_sees_panda_variables_in_a_fresh_directory_per_attempt(
    local_panda, idds_api, unwrap, wait_request, shell_dag, tmp_path
):
    dump = (
        "python3 -c \"import json, os; json.dump({k: os.environ.get(k) for k in ['PANDAID', 'PanDA_TaskID', "
        "'REALTIME_LOGFILES', 'CTRL_MPEXEC_DIR', 'DAF_BUTLER_DIR', 'CTRL_BPS_PANDA_DIR', "
        "'PANDA_AUTH_ID_TOKEN']} | {'cwd': os.getcwd(), 'arg': '${IN/L}'}, open('env.json', 'w'))\";"
        " echo to-stdout; echo to-stderr >&2;"
        f" test -e {tmp_path}/failed_once || {{ touch {tmp_path}/failed_once leftover; exit 1; }}"
    )
    dag = shell_dag("env")
    dag.task("t", {"job+qgraphNodeId:42": []}, dump, maxattempt=2)
    request_id = unwrap(idds_api.submit(dag.workflow))
    assert wait_request(request_id)["status"].name == "Finished"
    job = _jobs(idds_api, unwrap, request_id)["job+qgraphNodeId:42"]
    workdir = Path(job["path"]).parent
    seen = json.loads((workdir / "env.json").read_text())
    task = unwrap(idds_api.get_requests(request_id=request_id, with_detail=True))[0]
    assert seen["PANDAID"] == str(job["panda_id"]) and seen["PanDA_TaskID"] == str(
        task["transform_workload_id"]
    )
    assert seen["REALTIME_LOGFILES"] == "payload-log.json" and seen["arg"] == "job+qgraphNodeId:42"
    assert seen["CTRL_BPS_PANDA_DIR"] and seen["CTRL_MPEXEC_DIR"] and seen["DAF_BUTLER_DIR"]
    assert seen["PANDA_AUTH_ID_TOKEN"] is None
    assert Path(seen["cwd"]) == workdir and job["attempt_nr"] == 2
    # The first attempt failed in its own directory: the second does not see what it left.
    assert not (workdir / "leftover").exists()
    log = Path(job["path"]).read_text()
    assert "to-stdout" in log and "to-stderr" in log


def test_memory_kill_escalates_rss_and_succeeds(local_panda, idds_api, unwrap, wait_request, shell_dag):
    dag = shell_dag("memory")
    dag.task(
        "hungry",
        {"h1": []},
        ALLOCATE_200_MB,
        maxattempt=3,
        task_rss=100,
        task_rss_retry_step=300,  # times 3 at each memory kill, as JEDI's increase_memory_xtimes
        task_rss_max=1000,
    )
    request_id = unwrap(idds_api.submit(dag.workflow))
    assert wait_request(request_id)["status"].name == "Finished"
    job = _jobs(idds_api, unwrap, request_id)["h1"]
    assert job["attempt_nr"] == 2 and job["min_ram_count"] == 300
    assert job["max_rss"] > 200 * 1024  # KB, as PanDA reports it
    attempts = local_panda.engine.store.attempts(job["content_id"])
    assert [row["status"] for row in attempts] == [Outcome.MEMORY.value, Outcome.OK.value]
    assert attempts[0]["error_code"] == PAYLOAD_EXCEEDED_MEMORY and attempts[0]["rss_limit"] == 100
    assert "exceeded memory limit" in attempts[0]["error_diag"]


def test_memory_kill_without_attempts_left_reports_the_pilot_error(
    local_panda, idds_api, unwrap, wait_request, shell_dag
):
    dag = shell_dag("memory_fail")
    dag.task("hungry", {"h1": []}, ALLOCATE_200_MB, maxattempt=1, task_rss=100, task_rss_retry_step=0)
    request_id = unwrap(idds_api.submit(dag.workflow))
    assert wait_request(request_id)["status"].name == "Failed"
    job = _jobs(idds_api, unwrap, request_id)["h1"]
    assert job["status"] == "FinalFailed" and job["trans_exit_code"] == 137
    assert job["pilot_error_code"] == PAYLOAD_EXCEEDED_MEMORY


def test_walltime_kill_is_recorded_as_reached_max_time(
    local_panda, idds_api, unwrap, wait_request, shell_dag
):
    dag = shell_dag("walltime")
    dag.task("slow", {"s1": []}, "sleep 60", maxwalltime=1)
    start = time.monotonic()
    request_id = unwrap(idds_api.submit(dag.workflow))
    assert wait_request(request_id)["status"].name == "Failed"
    assert time.monotonic() - start < 10
    job = _jobs(idds_api, unwrap, request_id)["s1"]
    assert job["pilot_error_code"] == REACHED_MAX_TIME and "wall time" in job["pilot_error_diag"]


def test_executor_kills_the_whole_process_group(tmp_path):
    executor = Executor(dict(os.environ), sample_interval=0.0)
    spec = LaunchSpec(1, 1000, "sleep 60 & sleep 60 & wait", tmp_path / "a1", rss_limit=None, walltime=1)
    executor.launch(spec)
    deadline = time.monotonic() + 10
    ended = []
    while not ended and time.monotonic() < deadline:
        executor.enforce_limits()
        ended = executor.poll()
        time.sleep(0.05)
    assert ended and ended[0].outcome == Outcome.WALLTIME and ended[0].exit_code == 137
    assert (tmp_path / "a1" / "payload.log").exists()


def test_the_pip_layout_shipped_as_package_data_holds_the_decoder_and_config():
    # What CTRL_BPS_PANDA_DIR is in a pip install (package_root when not in a checkout).
    root = Path(lsst.ctrl.bps.panda.local.pilot.executor.__file__).resolve().parents[2] / "resources"
    decoder = root / DECODER_PATH
    assert (
        decoder.read_bytes()
        == (Path(lsst.ctrl.bps.panda.edgenode.__file__).parent / "cmd_line_decoder.py").read_bytes()
    )
    assert (root / "config" / "bps_local.yaml").is_file() and (root / "config" / "bps_panda.yaml").is_file()
