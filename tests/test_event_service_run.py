# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""A workflow with enableEventService on the local PanDA's embedded engine (one job per payload).

The embedded engine plays iDDS itself and runs each payload of an event-service label as a job of its
own; reports and restarts are per payload as with the real iDDS (``test_event_service_engines.py``
runs the same on the ``idds`` engine, where the payloads run in fine-grained PanDA jobs).
"""

import pytest
from lsst.ctrl.bps import GenericWorkflow, GenericWorkflowExec, GenericWorkflowJob, WmsStates
from lsst.ctrl.bps.panda import PanDAService
from support.bps_configs import make_config
from support.service_runs import LOCAL_SITE, submit, wait_for

pytestmark = [pytest.mark.real_servers, pytest.mark.timeout(300)]


def payload_workflow(script, jobs, parents):
    """Jobs of one shape per label (one task each), told apart by their qgraphNodeId value."""
    gw = GenericWorkflow("es")
    shell = GenericWorkflowExec("sh", "/bin/sh", False)
    for name, label in jobs.items():
        job = GenericWorkflowJob(name, label=label, executable=shell, arguments=f"{script} {{qgraphNodeId}}")
        job.cmdvals = {"qgraphNodeId": name}
        job.number_of_retries = 0
        gw.add_job(job, parent_names=parents.get(name))
    return gw


def test_event_service_run_with_one_failing_payload_recovers_through_restart(local_panda, tmp_path):
    marker = tmp_path / "fixed"
    ledger = tmp_path / "ledger"
    script = tmp_path / "payload.sh"
    script.write_text(f'[ "$1" != a_3 ] || [ -e {marker} ] || exit 3\necho "$1" >> {ledger}\n')
    jobs = {f"a_{i}": "a" for i in range(5)} | {"b_0": "b"}
    gw = payload_workflow(script, jobs, parents={"b_0": ["a_3"]})
    config = make_config(str(tmp_path / "submit"), site=LOCAL_SITE, enableEventService="a:2")
    service, prepared = submit(config, gw, tmp_path / "submit")
    (work_a,) = [w for w in prepared.idds_workflow.get_all_works() if w.es]
    assert list(work_a.es_files) == ["a:eventservice_0^2", "a:eventservice_2^2", "a:eventservice_4^1"]

    assert wait_for(service, prepared.run_id) == WmsStates.FAILED
    (report,), _ = service.report(prepared.run_id, return_exit_codes=True)
    # Reports count payloads (events), not PanDA jobs.
    assert report.job_summary["a"][WmsStates.SUCCEEDED] == 4
    assert report.job_summary["a"][WmsStates.FAILED] == 1
    assert report.job_summary["b"][WmsStates.PRUNED] == 1
    assert report.exit_code_summary["a"] == [3]
    assert sorted(ledger.read_text().split()) == ["a_0", "a_1", "a_2", "a_4"]

    marker.touch()
    assert PanDAService({}).restart(prepared.run_id)[0] == prepared.run_id
    assert wait_for(service, prepared.run_id) == WmsStates.SUCCEEDED
    (report,), _ = service.report(prepared.run_id)
    assert report.job_state_counts[WmsStates.SUCCEEDED] == 6
    # Only the failed payload ran again (then its child).
    assert sorted(ledger.read_text().split()) == ["a_0", "a_1", "a_2", "a_3", "a_4", "b_0"]
