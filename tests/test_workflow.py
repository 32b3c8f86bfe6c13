"""Writing and reading a prepared workflow."""

import json

import pytest
from bps_configs import make_config
from dag_check import rebuild_job_dag
from lsst.ctrl.bps.panda import PanDAService, PandaBpsWmsWorkflow
from lsst.ctrl.bps.panda.errors import PandaPrepareError
from lsst.ctrl.bps.panda.synthetic import make_drp_workflow
from lsst.ctrl.bps.panda.workflow import IDDS_WORKFLOW_FILE, MANIFEST_FILE, SUMMARY_FILE


def test_prepare_writes_idds_json_manifest_and_summary_that_read_back(tmp_path):
    gw = make_drp_workflow(300, submit_dir=str(tmp_path))
    submit = tmp_path / "submit"
    prepared = PanDAService({}).prepare(make_config(str(submit)), gw, str(submit))
    assert {p.name for p in submit.iterdir()} >= {IDDS_WORKFLOW_FILE, MANIFEST_FILE, SUMMARY_FILE}
    text = (submit / IDDS_WORKFLOW_FILE).read_text()
    assert "pickle" not in text and json.loads(text)["class"] == "Workflow"
    summary = (submit / SUMMARY_FILE).read_text().splitlines()
    assert len(summary) == len(prepared.tasks) + 2
    assert any("assembleCoadd" in line and "EXTRA_HIMEM_NON_PREEMPT" in line for line in summary)

    again = PandaBpsWmsWorkflow.read(str(submit))
    assert again.tasks == prepared.tasks
    assert again.files_to_stage == {f"{gw.name}.qg": str(tmp_path / f"{gw.name}.qg"),
                                    "final_job.bash": str(tmp_path / "final_job.bash")}
    assert rebuild_job_dag(again.idds_workflow)[1] == rebuild_job_dag(prepared.idds_workflow)[1]


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
