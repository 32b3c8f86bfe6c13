# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Writing and reading a prepared workflow."""

import json

import pytest
from lsst.ctrl.bps.panda import PandaBpsWmsWorkflow, PanDAService
from lsst.ctrl.bps.panda.errors import PandaPrepareError
from lsst.ctrl.bps.panda.prepare.prepared_workflow import IDDS_WORKFLOW_FILE, MANIFEST_FILE, SUMMARY_FILE
from support.bps_configs import make_config
from support.dag_check import payload_dag, read_job_name_map, rebuild_job_dag, works_of
from support.synthetic import make_drp_workflow


def test_prepare_writes_idds_json_manifest_and_summary_that_read_back(tmp_path):
    gw = make_drp_workflow(300, submit_dir=str(tmp_path))
    submit = tmp_path / "submit"
    prepared = PanDAService({}).prepare(make_config(str(submit), enableCompactJobNames=True), gw, str(submit))
    assert {p.name for p in submit.iterdir()} >= {IDDS_WORKFLOW_FILE, MANIFEST_FILE, SUMMARY_FILE}
    text = (submit / IDDS_WORKFLOW_FILE).read_text()
    assert "pickle" not in text and json.loads(text)["class"] == "Workflow"
    summary = (submit / SUMMARY_FILE).read_text().splitlines()
    assert len(summary) == len(prepared.tasks) + 2
    assert any("assembleCoadd" in line and "EXTRA_HIMEM_NON_PREEMPT" in line for line in summary)

    again = PandaBpsWmsWorkflow.read(str(submit))
    assert again.tasks == prepared.tasks
    assert again.files_to_stage == {
        f"{gw.name}.qg": str(tmp_path / f"{gw.name}.qg"),
        "final_job.bash": str(tmp_path / "final_job.bash"),
        "job_names": str(submit / "job_names"),
    }
    name_map = read_job_name_map(submit / "job_names")
    assert (
        rebuild_job_dag(again.idds_workflow, name_map)[1]
        == rebuild_job_dag(prepared.idds_workflow, name_map)[1]
    )


def test_job_name_map_gives_compact_names_that_resolve_to_every_job(tmp_path):
    gw = make_drp_workflow(2500, submit_dir=str(tmp_path))
    submit = tmp_path / "submit"
    config = make_config(str(submit), maxJobsPerTask=1500, enableCompactJobNames=True)
    prepared = PanDAService({}).prepare(config, gw, str(submit))
    names = [e["name"] for w in works_of(prepared.idds_workflow).values() for e in w.dependency_map]
    assert all(name.startswith("@") and len(name) <= 12 for name in names)
    for work in works_of(prepared.idds_workflow).values():
        assert [e["name"].split(".")[1] for e in work.dependency_map] == [
            str(e["order_id"]) for e in work.dependency_map
        ]
    name_map = read_job_name_map(submit / "job_names")
    assert set(name_map) == set(names)
    dag, _ = rebuild_job_dag(prepared.idds_workflow, name_map)
    expected = payload_dag(gw)
    expected.add_node("finalJob")
    assert set(dag.edges) == set(expected.edges) and set(dag.nodes) == set(expected.nodes)


def test_job_name_map_can_be_turned_off(tmp_path):
    gw = make_drp_workflow(100, submit_dir=str(tmp_path))
    submit = tmp_path / "submit"
    prepared = PanDAService({}).prepare(
        make_config(str(submit), enableCompactJobNames=False), gw, str(submit)
    )
    assert "job_names" not in prepared.files_to_stage
    assert not (submit / "job_names").exists()
    assert rebuild_job_dag(prepared.idds_workflow)[0].number_of_nodes() == gw.number_of_nodes() + 1


def test_failed_prepare_writes_nothing(tmp_path):
    gw = make_drp_workflow(100)
    gw.get_job("isr_0_0").request_memory = 10**7
    submit = tmp_path / "submit"
    with pytest.raises(PandaPrepareError, match="isr_0_0"):
        PanDAService({}).prepare(make_config(str(submit)), gw, str(submit))
    assert not submit.exists()


def test_read_of_a_directory_without_workflow_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="No prepared PanDA workflow"):
        PandaBpsWmsWorkflow.read(str(tmp_path))
