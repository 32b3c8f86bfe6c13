# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Our executor as a real panda-server's pilot: jobs as ``acquire_jobs`` gives them, ends as pilot3 reports.

The server side here is a recording pilot API (what `PilotApi` would send, and a job description of
the recorded shape); the calls against the real server are in ``tests/local/panda`` (make
test-real-panda).
"""

import base64
import json
import tarfile

import pytest
from lsst.ctrl.bps.panda.local.pilot.attempts import PANDA_KILL, PAYLOAD_EXCEEDED_MEMORY
from lsst.ctrl.bps.panda.local.pilot.executor import Executor
from lsst.ctrl.bps.panda.local.pilot.panda_pilot import PandaPilot, job_command, launch_spec

pytestmark = pytest.mark.timeout(120)


def acquired_job(panda_id, command, ram=500, encoded=True):
    """A job as panda-server 1.0.4's acquire_jobs hands it out (the keys our pilot reads)."""
    return {
        "PandaID": panda_id,
        "taskID": 7,
        "attemptNr": 1,
        "transformation": "https://example.invalid/bash-c-enc-new"
        if encoded
        else "http://127.0.0.1/cache/bash-c",
        "jobPars": base64.b64encode(command.encode()).decode() if encoded else f"'{command}'",
        "minRamCount": ram,
        "maxWalltime": 600,
        "coreCount": 1,
        "logFile": "log.tgz",
        "logGUID": "5ccb3450-e86f-4dc7-810b-5c120c5ca6ab",
    }


class RecordingApi:
    """The pilot API as the pilot sees it: jobs to hand out, every update kept."""

    def __init__(self, jobs, command=None):
        self.jobs = list(jobs)
        self.updates = []
        self.command = command

    def acquire_jobs(self, site_name, n_jobs=1, **options):
        taken, self.jobs = self.jobs[:n_jobs], self.jobs[n_jobs:]
        return taken

    def update_job(self, job_id, job_status, **fields):
        self.updates.append((job_id, job_status, fields))
        return {"command": self.command if job_status == "running" else "NULL"}


def run(pilot, timeout=60):
    pilot.run_until_idle(timeout, poll=0.1)
    return {(job_id, state): fields for job_id, state, fields in pilot.api.updates}


def test_job_command_decodes_doma_encoded_parameters():
    assert job_command(acquired_job(1, "echo a b")) == "echo a b"
    assert job_command(acquired_job(1, "echo a b", encoded=False)) == "echo a b"


def test_launch_spec_takes_memory_and_time_from_the_job(tmp_path):
    spec = launch_spec(acquired_job(12, "true", ram=450), tmp_path / "12", "LOCAL_HIMEM")
    assert (spec.attempt_id, spec.workload_id, spec.rss_limit, spec.walltime) == (12, 7, 450, 600)
    assert spec.queue == "LOCAL_HIMEM"


def test_jobs_are_started_run_and_reported_as_pilot3_does(tmp_path):
    api = RecordingApi([acquired_job(1, "echo fine"), acquired_job(2, "echo bad; exit 3")])
    pilot = PandaPilot(
        api, Executor({"PATH": "/usr/bin:/bin"}), "LOCAL_CONVENTIONAL", tmp_path, tmp_path / "rse"
    )
    updates = run(pilot)
    assert [state for job_id, state, _ in api.updates if job_id == 1] == ["starting", "running", "finished"]
    finished = updates[(1, "finished")]
    assert finished["trans_exit_code"] == 0 and "pilot_error_code" not in finished
    [(lfn, entry)] = json.loads(finished["job_output_report"]).items()
    assert lfn == "log.tgz" and entry["guid"] == "5ccb3450-e86f-4dc7-810b-5c120c5ca6ab"
    with tarfile.open(tmp_path / "rse" / "1" / "log.tgz") as archive:
        assert "payload.log" in archive.getnames()
    assert len(entry["adler32"]) == 8 and entry["fsize"] > 0
    failed = updates[(2, "failed")]
    assert (failed["trans_exit_code"], failed["exe_error_code"]) == (3, 3)


def test_memory_kill_is_reported_with_the_pilot_error_code(tmp_path):
    hog = "python3 -c 'import time; b = bytearray(300 * 2**20); time.sleep(5)'"
    api = RecordingApi([acquired_job(5, hog, ram=100)])
    pilot = PandaPilot(api, Executor({"PATH": "/usr/bin:/bin"}, sample_interval=0.05), "Q", tmp_path)
    failed = run(pilot)[(5, "failed")]
    assert failed["pilot_error_code"] == PAYLOAD_EXCEEDED_MEMORY
    assert "memory" in failed["pilot_error_diag"] and failed["max_rss"] > 100 * 1024


def test_kill_command_in_the_heartbeat_reply_kills_the_payload(tmp_path):
    api = RecordingApi([acquired_job(9, "sleep 300")], command="tobekilled")
    pilot = PandaPilot(api, Executor({"PATH": "/usr/bin:/bin"}), "Q", tmp_path, heartbeat=0.2)
    updates = run(pilot, timeout=30)
    assert updates[(9, "failed")]["pilot_error_code"] == PANDA_KILL
    assert [state for _, state, _ in api.updates][-1] == "failed"
