# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""PanDAService verbs against the local PanDA, through the real PanDA client and the bps CLI."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lsst.ctrl.bps import WmsStates
from lsst.ctrl.bps.panda import PanDAService
from lsst.ctrl.bps.panda.errors import AlreadySubmittedError, PandaEnvironmentError, TaskTooLargeError
from lsst.ctrl.bps.panda.remote_build.build_submission import hand_back
from lsst.ctrl.bps.panda.wms.submission import REQUEST_FILE
from support.bps_configs import make_config
from support.service_runs import LOCAL_SITE, shell_workflow, submit, wait_for

pytestmark = pytest.mark.real_servers


@pytest.fixture
def config(tmp_path):
    return make_config(str(tmp_path / "submit"), site=LOCAL_SITE)


def test_submit_report_restart_and_list(local_panda, config, tmp_path):
    marker = tmp_path / "fixed"
    gw = shell_workflow(
        "wf",
        {
            "ok": ("a", "true"),
            "flaky": ("a", f"test -e {marker} || exit 3"),
            "child": ("b", "true"),
        },
        parents={"child": ["flaky"]},
    )
    service, prepared = submit(config, gw, tmp_path / "submit")
    request_id = prepared.run_id
    assert request_id and int(request_id) > 0

    with pytest.raises(AlreadySubmittedError, match=f"request {request_id}"):
        service.submit(prepared)

    assert wait_for(service, request_id) == WmsStates.FAILED  # SubFinished: one failed, one pruned
    (report,), message = service.report(request_id, return_exit_codes=True)
    assert "no submit directory record of this request was found" in message  # a bare id
    assert report.state == WmsStates.FAILED
    assert report.job_summary["a"][WmsStates.SUCCEEDED] == 1
    assert report.job_summary["a"][WmsStates.FAILED] == 1
    assert report.job_summary["b"][WmsStates.PRUNED] == 1
    assert report.exit_code_summary["a"] == [3]
    assert report.exit_code_summary["b"] == []
    assert report.total_number_jobs == 3

    # The submit directory works as an id too.
    (by_path,), _ = service.report(str(tmp_path / "submit"))
    assert by_path.wms_id == request_id and by_path.path == str(tmp_path / "submit")

    assert request_id in PanDAService({}).list_submitted_jobs()
    assert PanDAService({}).list_submitted_jobs(wms_id=request_id) == [request_id]

    marker.touch()
    submit_dir = str(tmp_path / "submit")
    restarted_id, run_name, message = PanDAService(config={}).restart(submit_dir)
    assert (restarted_id, run_name, message) == (request_id, "wf", "")
    (command,) = json.loads((tmp_path / "submit" / REQUEST_FILE).read_text())["commands"]
    assert (command["verb"], command["status"]) == ("restart", "SubFinished")
    # Read at once after the restart: never the old FAILED.
    assert PanDAService(config={}).get_status(submit_dir)[0] in (WmsStates.RUNNING, WmsStates.SUCCEEDED)
    assert wait_for(service, submit_dir) == WmsStates.SUCCEEDED
    (report,), message = PanDAService(config={}).report(submit_dir)
    assert message == "" and report.job_state_counts[WmsStates.SUCCEEDED] == 3


def test_restart_of_a_successful_run_says_there_is_nothing_to_do(local_panda, config, tmp_path):
    service, prepared = submit(config, shell_workflow("wf", {"ok": ("a", "true")}), tmp_path / "submit")
    assert wait_for(service, prepared.run_id) == WmsStates.SUCCEEDED
    assert PanDAService({}).restart(prepared.run_id) == (
        None,
        None,
        f"Request {prepared.run_id} finished successfully; nothing to restart",
    )


def test_cancel_stops_a_running_request(local_panda, config, tmp_path):
    service, prepared = submit(config, shell_workflow("wf", {"slow": ("a", "sleep 60")}), tmp_path / "submit")
    wait_for(service, prepared.run_id, states={WmsStates.RUNNING})
    deleted, message = PanDAService({}).cancel(str(tmp_path / "submit"))
    assert deleted, message
    assert wait_for(service, prepared.run_id, timeout=30) == WmsStates.DELETED
    (command,) = json.loads((tmp_path / "submit" / REQUEST_FILE).read_text())["commands"]
    assert command["verb"] == "cancel"


def test_a_run_reads_running_from_its_first_second(local_panda, config, tmp_path):
    # Right after submit the request is New: a live run, RUNNING (cm-service fails PENDING runs).
    gw = shell_workflow("wf", {"slow": ("a", "sleep 30")})
    service, prepared = submit(config, gw, tmp_path / "submit")
    assert PanDAService(config={}).get_status(str(tmp_path / "submit")) == (WmsStates.RUNNING, "")
    (report,), message = PanDAService(config={}).report(str(tmp_path / "submit"))
    assert (report.state, message) == (WmsStates.RUNNING, "")
    assert PanDAService({}).cancel(prepared.run_id)[0]


def test_unknown_request_is_reported_not_invented(local_panda):
    service = PanDAService({})
    state, message = service.get_status("987654")
    assert state == WmsStates.UNKNOWN and "987654" in message
    assert service.report("987654")[0] == []
    assert service.cancel("987654")[0] is False
    assert service.restart("987654")[0] is None
    assert service.list_submitted_jobs(wms_id="987654") == []


def test_ping_and_submission_checks(local_panda):
    assert PanDAService({}).ping(None) == (0, "")
    PanDAService({}).run_submission_checks()


def test_submission_checks_name_what_is_missing(monkeypatch):
    monkeypatch.delenv("PANDA_URL_SSL")
    with pytest.raises(PandaEnvironmentError, match="PANDA_URL_SSL"):
        PanDAService({}).run_submission_checks()


def bps(*args, timeout=120):
    env = dict(os.environ, BPS_WMS_SERVICE_CLASS="lsst.ctrl.bps.panda.PanDAService")
    bps_exe = Path(sys.executable).parent / "bps"
    return subprocess.run([str(bps_exe), *args], env=env, capture_output=True, text=True, timeout=timeout)


def test_bps_cli_verbs(local_panda, config, tmp_path):
    service, prepared = submit(
        config, shell_workflow("clirun", {"slow": ("a", "sleep 60")}), tmp_path / "submit"
    )
    request_id = prepared.run_id
    wait_for(service, request_id, states={WmsStates.RUNNING})

    ping = bps("ping")
    assert ping.returncode == 0, ping.stderr

    status = bps("status", "--id", request_id)
    assert status.returncode == WmsStates.RUNNING.value, status.stdout + status.stderr

    report = bps("report", "--id", request_id)
    assert report.returncode == 0, report.stderr
    assert "clirun" in report.stdout and "RUNNING" in report.stdout

    cancel = bps("cancel", "--id", request_id)
    assert cancel.returncode == 0, cancel.stderr
    assert wait_for(service, request_id, timeout=30) == WmsStates.DELETED

    # A cancelled run is restarted: its job runs again.
    restart = bps("restart", "--id", request_id)
    assert restart.returncode == 0, restart.stderr
    assert wait_for(service, request_id, states={WmsStates.RUNNING}) == WmsStates.RUNNING
    assert PanDAService({}).cancel(request_id)[0]


def test_large_request_goes_in_idds_steps_and_runs(local_panda, tmp_path):
    commands = {f"j{i}": ("a" if i < 30 else "b", "true") for i in range(40)}
    gw = shell_workflow("stepped", commands, parents={f"j{i}": [f"j{i - 30}"] for i in range(30, 40)})
    config = make_config(str(tmp_path / "submit"), site=LOCAL_SITE, maxRequestLength=600, maxJobsPerTask=10)
    service, prepared = submit(config, gw, tmp_path / "submit")
    assert (tmp_path / "submit" / "idds_request_cache").is_dir()  # iDDS wrote its step files there
    assert wait_for(service, prepared.run_id) == WmsStates.SUCCEEDED
    (report,), _ = service.report(prepared.run_id)
    assert report.job_state_counts[WmsStates.SUCCEEDED] == 40


def test_task_too_large_for_one_request_step_is_refused_before_submitting(local_panda, tmp_path):
    gw = shell_workflow("big", {f"j{i}": ("a", "true") for i in range(200)})
    config = make_config(str(tmp_path / "submit"), site=LOCAL_SITE, maxRequestLength=300)
    with pytest.raises(TaskTooLargeError, match=r"Task big_01_a_01 needs \d+ bytes.*maxJobsPerTask"):
        submit(config, gw, tmp_path / "submit")
    assert not (tmp_path / "submit" / "panda_request.json").exists()


def test_a_remote_build_refuses_an_oversized_task_exactly_as_submit_does(local_panda, tmp_path):
    refusals = []
    for path in ("submit", "remote_build"):
        submit_dir = tmp_path / path
        config = make_config(str(submit_dir), site=LOCAL_SITE, maxRequestLength=300)
        service = PanDAService(config)
        gw = shell_workflow("big", {f"j{i}": ("a", "true") for i in range(200)})
        prepared = service.prepare(config, gw, str(submit_dir))
        with pytest.raises(TaskTooLargeError) as refusal:
            if path == "submit":
                service.submit(prepared)
            else:  # what the build job does with the workflow it prepared
                hand_back(prepared, 1, "signature", service.port)
        refusals.append(str(refusal.value))
        assert not (submit_dir / "idds_request_cache").exists()
    assert refusals[0] == refusals[1] and refusals[0].startswith("Task big_01_a_01 needs")
    assert service.port.get_requests(request_id=None, with_detail=False) == []


class RecordingClient:
    """An iDDS client of the caller's own: answers get_requests with a request in ``status``."""

    def __init__(self, status):
        self.status = status
        self.asked = []

    def get_requests(self, request_id, with_detail):
        self.asked.append(request_id)
        if self.status is None:
            return 0, [True, []]
        return 0, [True, [{"request_id": request_id, "status": {"attributes": {"_name_": self.status}}}]]


@pytest.mark.parametrize(
    ("status", "state"),
    [("Running", WmsStates.RUNNING), ("Transforming", WmsStates.RUNNING), ("Finished", WmsStates.SUCCEEDED)],
)
def test_the_service_reaches_idds_through_the_get_idds_client_of_its_module(monkeypatch, status, state):
    from lsst.ctrl.bps.panda import panda_service

    client = RecordingClient(status)
    service = panda_service.PanDAService({})
    monkeypatch.setattr(panda_service, "get_idds_client", lambda config: client)  # after the service exists
    assert service.get_status("1000") == (state, "")
    assert client.asked == ["1000"]


def test_an_unknown_id_reads_as_the_published_plugin_said_it(monkeypatch):
    from lsst.ctrl.bps.panda import panda_service

    monkeypatch.setattr(panda_service, "get_idds_client", lambda config: RecordingClient(None))
    service = panda_service.PanDAService({})
    message = "No records found for workflow id '9999'. Hint: double check the id"
    assert service.get_status("9999") == (WmsStates.UNKNOWN, message)
    assert service.report("9999") == ([], message)


def test_prepare_keeps_the_collector_paused_from_conversion_to_writing(tmp_path, monkeypatch):
    # Re-enabled between the two, the collector would walk every object conversion made (seconds at 1M jobs).
    import gc

    from lsst.ctrl.bps.panda.prepare.prepared_workflow import PandaBpsWmsWorkflow

    seen = []
    convert, write = PandaBpsWmsWorkflow.from_generic_workflow.__func__, PandaBpsWmsWorkflow.write

    def from_generic_workflow(cls, *args):
        workflow = convert(cls, *args)
        seen.append(("converted", gc.isenabled()))
        return workflow

    def recording_write(self, out_prefix):
        seen.append(("writing", gc.isenabled()))
        write(self, out_prefix)

    monkeypatch.setattr(PandaBpsWmsWorkflow, "from_generic_workflow", classmethod(from_generic_workflow))
    monkeypatch.setattr(PandaBpsWmsWorkflow, "write", recording_write)
    config = make_config(str(tmp_path / "submit"), site=LOCAL_SITE)
    gw = shell_workflow("gc", {"j0": ("a", "true"), "j1": ("a", "true")})
    assert gc.isenabled()
    PanDAService(config).prepare(config, gw, str(tmp_path / "submit"))
    assert seen == [("converted", False), ("writing", False)]
    assert gc.isenabled()


def test_what_prepare_builds_goes_to_the_collectors_oldest_generation(tmp_path):
    # Left young, the first allocation after prepare would start a collection walking all of it.
    import gc

    config = make_config(str(tmp_path / "submit"), site=LOCAL_SITE)
    gw = shell_workflow("gc", {f"j{i}": ("a", "true") for i in range(50)})
    gc.collect()
    prepared = PanDAService(config).prepare(config, gw, str(tmp_path / "submit"))
    work = next(iter(prepared.idds_workflow.template.works.values()))
    oldest = {id(thing) for thing in gc.get_objects(generation=2)}
    assert id(work) in oldest and id(work.dependency_map) in oldest
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_the_collector_pause_leaves_objects_the_program_froze_frozen():
    import gc

    from lsst.ctrl.bps.panda.gc_pause import gc_paused

    kept = [{"frozen": True}]
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with gc_paused(long_lived=True):
            built = [{"i": i} for i in range(1000)]
        assert gc.get_freeze_count() == frozen > 0
        assert built and kept
    finally:
        gc.unfreeze()
