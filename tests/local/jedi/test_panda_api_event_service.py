# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Fine-grained PanDA jobs of the local PanDA, read by iDDS's own code through the real PanDA client.

An event-service ``DomaPanDAWork`` made by prepare builds its PanDA task parameters
(``create_processing``: ``fineGrainedProc``, ``pfnList`` of ``<label>:eventservice_<start>^<n>``),
which go to the local PanDA's ``task/submit`` as the iDDS daemons send them; the jobs run their
events one after another; then ``DomaPanDAWork.poll_panda_jobs`` and ``get_event_job`` — the code
the iDDS daemons run — read jobs and events back through ``pandaclient``.  No iDDS daemon runs
here (a stand-in stack); the full chain is in the idds-engine suite.
"""

import time

import pytest
from idds.common.constants import ContentStatus
from lsst.ctrl.bps import GenericWorkflow, GenericWorkflowExec, GenericWorkflowJob
from lsst.ctrl.bps.panda import PanDAService
from lsst.ctrl.bps.panda.wms.staging import stage_files
from support.bps_configs import make_config
from support.loopback import TEST_PANDA_PORT
from support.service_runs import LOCAL_SITE

pytestmark = [pytest.mark.real_servers, pytest.mark.timeout(180)]


class NoIddsStack:
    """Stands in for the iDDS stack: the PanDA API is served, no daemon calls it."""

    rest_url = "http://127.0.0.1:1/idds"

    def __init__(self, state):
        pass

    def start(self, panda_url, notifier_url, token, **options):
        pass

    def stop(self):
        pass

    def client_env(self):
        return {}


@pytest.fixture
def panda_api_server(tmp_path, monkeypatch):
    from lsst.ctrl.bps.panda.local.idds.idds_engine import IddsEngine
    from lsst.ctrl.bps.panda.local.server import LocalPandaServer
    from lsst.ctrl.bps.panda.local.state.state_dir import StateDir

    server = LocalPandaServer(
        StateDir(tmp_path / "state"),
        port=TEST_PANDA_PORT,
        engine=IddsEngine(stack_factory=NoIddsStack),
        max_cores=2,
        sample_interval=0.05,
    )
    server.start_in_thread()
    monkeypatch.setenv("PANDA_AUTH_ID_TOKEN", server.token)
    yield server
    server.close(kill_running=True)


def event_service_work(tmp_path, jobs=5, payloads=2):
    """Prepare and stage label ``a`` of ``jobs`` payloads, run by the decoder; ``a_1`` fails (no marker)."""
    script = tmp_path / "payload.sh"
    script.write_text(
        f'echo "$1" >> {tmp_path}/ledger\n[ "$1" != a_1 ] || [ -e {tmp_path}/fixed ] || exit 3\n'
    )
    gw = GenericWorkflow("es")
    shell = GenericWorkflowExec("sh", "/bin/sh", False)
    for i in range(jobs):
        job = GenericWorkflowJob(
            f"a_{i}", label="a", executable=shell, arguments=f"{script} {{qgraphNodeId}}"
        )
        job.cmdvals = {"qgraphNodeId": f"a_{i}"}
        job.number_of_retries = 0
        gw.add_job(job)
    config = make_config(str(tmp_path / "submit"), site=LOCAL_SITE, enableEventService=f"a:{payloads}")
    prepared = PanDAService({}).prepare(config, gw, str(tmp_path / "submit"))
    stage_files(prepared.files_to_stage, prepared.end_point)
    (work,) = prepared.idds_workflow.get_all_works()
    return work


def submit_task(work):
    from pandaclient import Client

    processing = work.create_processing()
    params = processing.processing_metadata["task_param"]
    status, output = Client.insertTaskParams(params)
    assert status == 0, output
    assert output[0] == 0, output
    return params, int(output[1].rsplit("=", 1)[1])  # "succeeded. new jediTaskID=<id>", as iDDS reads it


def wait_for_jobs(task_id, count, timeout=90):
    from pandaclient import Client

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, panda_ids = Client.getPandaIDsWithTaskID(task_id)
        if panda_ids and len(panda_ids) >= count:
            _, jobs = Client.getJobStatus(sorted(panda_ids))
            if all(job.jobStatus in ("finished", "failed") for job in jobs):
                return jobs
        time.sleep(0.2)
    raise AssertionError(f"task {task_id}: jobs did not end in {timeout} s")


def test_task_parameters_idds_submits_for_an_event_service_work(tmp_path):
    work = event_service_work(tmp_path)
    params = work.create_processing().processing_metadata["task_param"]
    assert params["fineGrainedProc"] is True
    assert params["pfnList"] == ["a:eventservice_0^2", "a:eventservice_2^2", "a:eventservice_4^1"]


def test_events_run_in_fine_grained_jobs_and_idds_reads_which_payload_failed(panda_api_server, tmp_path):
    work = event_service_work(tmp_path)
    params, task_id = submit_task(work)
    jobs = wait_for_jobs(task_id, 3)
    by_file = {job.Files[0].lfn.split(":", 1)[1]: job for job in jobs}
    assert sorted(by_file) == ["a:eventservice_0", "a:eventservice_2", "a:eventservice_4"]
    assert {job.eventService for job in jobs} == {6}
    partial = by_file["a:eventservice_0"]
    assert (partial.jobStatus, partial.jobSubStatus) == ("finished", "fg_partial")
    assert {
        (by_file[f].jobStatus, by_file[f].jobSubStatus) for f in ("a:eventservice_2", "a:eventservice_4")
    } == {("finished", "fg_done")}
    # Each event ran its own payload through the decoder and the order-id map.
    assert sorted((tmp_path / "ledger").read_text().split()) == [f"a_{i}" for i in range(5)]

    # What the iDDS daemons read: the job of each pseudo input, and for the partial one its events.
    status_info = work.poll_panda_jobs([job.PandaID for job in jobs])
    assert status_info["a:eventservice_0"]["status"] == ContentStatus.FinalSubAvailable
    assert status_info["a:eventservice_2"]["status"] == ContentStatus.Available
    (partial_job,) = status_info["a:eventservice_0"]["jobs"]
    events = [
        work.get_event_job(sub_map_id, [partial_job], status_info["a:eventservice_0"]["job_set_events"])[0]
        for sub_map_id in range(2)
    ]
    assert [(e["status"], e["error_code"]) for e in events] == [("finished", None), ("failed", 3)]


def test_retry_of_the_task_runs_only_the_failed_event_in_a_new_panda_job(panda_api_server, tmp_path):
    from pandaclient import Client

    work = event_service_work(tmp_path)
    _, task_id = submit_task(work)
    first = wait_for_jobs(task_id, 3)
    (tmp_path / "fixed").touch()
    status, output = Client.retryTask(task_id)
    assert status == 0 and output[0] == 0, output
    jobs = wait_for_jobs(task_id, 4)
    (retried,) = [job for job in jobs if job.PandaID not in {j.PandaID for j in first}]
    assert retried.Files[0].lfn.endswith(":a:eventservice_0")
    assert (retried.jobStatus, retried.jobSubStatus, retried.attemptNr) == ("finished", "fg_done", 2)
    ledger = (tmp_path / "ledger").read_text().split()
    assert sorted(ledger) == ["a_0", "a_1", "a_1", "a_2", "a_3", "a_4"]  # only the failed event again
    status_info = work.poll_panda_jobs([job.PandaID for job in jobs])
    assert status_info["a:eventservice_0"]["status"] == ContentStatus.Available
