# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Drop-in: submit YAMLs and site files written for the published plugin (30.x) work unchanged.

Every config file the published plugin ships is loaded the way ``bps submit`` loads it and a
workflow is prepared with it; a user YAML of the kind Rubin users keep goes through ctrl_bps's
own ``prepare_driver`` on the demo pipeline, and the tasks carry the values production PanDA
receives today.
"""

import os
import sys
from pathlib import Path

import pytest
from lsst.ctrl.bps import BpsConfig
from lsst.ctrl.bps.bps_config import BPS_DEFAULTS, BPS_SEARCH_ORDER
from lsst.ctrl.bps.drivers import prepare_driver
from lsst.ctrl.bps.panda import PanDAService
from lsst.ctrl.bps.panda.errors import PandaConfigError
from lsst.ctrl.bps.panda.prepare.prepared_workflow import PandaBpsWmsWorkflow
from lsst.ctrl.bps.panda.prepare.settings import config_dir
from support.dag_check import works_of
from support.demo_repo import PACKAGE_DIR, _load_make_repo
from support.synthetic import make_drp_workflow

PUBLISHED_CONFIG_FILES = [
    "bps_panda.yaml",
    "bps_usdf.yaml",
    "bps_idf.yaml",
    "bps_frdf.yaml",
    "bps_ukdf.yaml",
    "bps_panda_DF.yaml",
    "bps_panda_cmd.yaml",
    "bps_remote.yaml",
    "bps_panda_eventservice.yaml",
    "bps_panda_orderid_map.yaml",
    "bps_panda_qnode_map.yaml",
]

# What a user adds to a site file: bps_panda_DF.yaml needs --compute-site, bps_idf.yaml an image.
EXTRA = {
    "bps_panda_DF.yaml": "computeSite: CC-IN2P3\n",
    "bps_idf.yaml": 'sw_image: "{dockerImageLocation}lsstsqre/centos:7-stack-lsst_distrib-w_2026_40"\n',
}


# Feature files name no plugin or site: users include them after a site file.
FEATURE_FILES = {
    n for n in PUBLISHED_CONFIG_FILES if n.startswith(("bps_panda_", "bps_remote")) and "DF" not in n
}


def load_as_bps_submit(name, tmp_path, monkeypatch, extra="", user_values=True):
    """Return the BpsConfig of a submit YAML that includes ``name`` by its published path."""
    monkeypatch.setenv("LSST_RUN_TEMP_SPACE", str(tmp_path / "scratch"))
    submit_yaml = tmp_path / "submit.yaml"
    includes = ["bps_usdf.yaml", name] if name in FEATURE_FILES else [name]
    submit_yaml.write_text(
        "includeConfigs:\n"
        + "".join(f"  - ${{CTRL_BPS_PANDA_DIR}}/config/{include}\n" for include in includes)
        + f"submitPath: {tmp_path}/submit\noperator: me\nuniqProcName: run1\nLSST_VERSION: w_2026_40\n"
        + (EXTRA.get(name, "") if user_values else "")
        + extra
    )
    return BpsConfig(str(submit_yaml), search_order=BPS_SEARCH_ORDER, defaults=BPS_DEFAULTS)


def test_every_published_config_file_is_shipped_under_its_name():
    assert {p.name for p in config_dir().glob("bps_*.yaml")} >= set(PUBLISHED_CONFIG_FILES)


@pytest.mark.parametrize("with_eups_dir", [True, False])
@pytest.mark.parametrize("name", [n for n in PUBLISHED_CONFIG_FILES if n != "bps_panda_eventservice.yaml"])
def test_each_shipped_config_file_loads_as_bps_submit_does_and_prepares(
    name, with_eups_dir, tmp_path, monkeypatch
):
    # With EUPS ${CTRL_BPS_PANDA_DIR} names the package; without it the include resolves to the
    # package's resources (eups://ctrl_bps_panda/config/...).
    if with_eups_dir:
        monkeypatch.setenv("CTRL_BPS_PANDA_DIR", str(PACKAGE_DIR))
    else:
        monkeypatch.delenv("CTRL_BPS_PANDA_DIR", raising=False)
    config = load_as_bps_submit(name, tmp_path, monkeypatch)
    assert config["wmsServiceClass"] == "lsst.ctrl.bps.panda.PanDAService"
    gw = make_drp_workflow(200, submit_dir=str(tmp_path))
    prepared = PanDAService({}).prepare(config, gw, str(tmp_path / "submit"))
    works = works_of(prepared.idds_workflow)
    assert sum(len(w.dependency_map) for w in works.values()) == prepared.job_count
    for work in works.values():
        assert "${IN/L}" in work.executable and "_cmd_line_" not in work.executable
        assert work.vo == "wlcg" and work.task_type == "test" and work.prodSourceLabel == "managed"


def test_event_service_file_runs_its_labels_as_events_on_the_order_id_map(tmp_path, monkeypatch):
    monkeypatch.setenv("CTRL_BPS_PANDA_DIR", str(PACKAGE_DIR))
    config = load_as_bps_submit("bps_panda_eventservice.yaml", tmp_path, monkeypatch)
    gw = make_drp_workflow(50, submit_dir=str(tmp_path))
    prepared = PanDAService({}).prepare(config, gw, str(tmp_path / "submit"))
    assert "panda_order_id_map.json" in prepared.files_to_stage
    es_works = [w for w in works_of(prepared.idds_workflow).values() if w.es]
    assert es_works and {w.es_label for w in es_works} == {"isr"}
    # isr:20 in the file; without requestWalltime a job may run for maxWmsJobWalltime.
    assert all(w.max_events_per_job == 20 and w.maxWalltime == 21600 for w in es_works)


def test_remote_build_without_the_submission_config_stops_before_anything_is_submitted():
    # ctrl_bps skips prepare when remoteBuild.enabled is true and calls submit without a workflow,
    # passing config, remote_build and config_file; without the config nothing can be packed.
    with pytest.raises(PandaConfigError, match=r"remote build needs the submission config.*nothing was"):
        PanDAService({}).submit(None, remote_build={"enabled": True}, config_file="submit.yaml")


def test_order_id_map_file_switches_on_the_published_map(tmp_path, monkeypatch):
    monkeypatch.setenv("CTRL_BPS_PANDA_DIR", str(PACKAGE_DIR))
    config = load_as_bps_submit("bps_panda_orderid_map.yaml", tmp_path, monkeypatch)
    gw = make_drp_workflow(100, submit_dir=str(tmp_path))
    prepared = PanDAService({}).prepare(config, gw, str(tmp_path / "submit"))
    assert "panda_order_id_map.json" in prepared.files_to_stage
    for work in works_of(prepared.idds_workflow).values():
        assert "orderIdMapFilename:panda_order_id_map.json" in work.executable
        assert f"RUBIN_ES_MAP_FILE={prepared.end_point}panda_order_id_map.json" in work.executable


def test_unset_runner_variable_is_named_at_prepare(tmp_path, monkeypatch):
    monkeypatch.setenv("CTRL_BPS_PANDA_DIR", str(PACKAGE_DIR))
    config = load_as_bps_submit("bps_idf.yaml", tmp_path, monkeypatch, user_values=False)
    gw = make_drp_workflow(20, submit_dir=str(tmp_path))
    with pytest.raises(PandaConfigError, match=r"\{sw_image\}"):
        PanDAService({}).prepare(config, gw, str(tmp_path / "submit"))


def test_event_service_keys_without_labels_change_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("CTRL_BPS_PANDA_DIR", str(PACKAGE_DIR))
    config = load_as_bps_submit(
        "bps_usdf.yaml", tmp_path, monkeypatch, extra="maxPayloadsPerPandaJob: 5\nmaxWmsJobWalltime: 3600\n"
    )
    gw = make_drp_workflow(20, submit_dir=str(tmp_path))
    prepared = PanDAService({}).prepare(config, gw, str(tmp_path / "submit"))
    assert not any(w.es for w in works_of(prepared.idds_workflow).values())


# A user's submit YAML written for the published plugin at the USDF.
USER_YAML = """\
includeConfigs:
  - ${{CTRL_BPS_PANDA_DIR}}/config/bps_usdf.yaml
LSST_VERSION: w_2026_40
custom_lsst_setup: "setup -j -r /sdf/home/s/someone/repos/pipe_tasks;"
pipelineYaml: {work}/pipeline.yaml
project: dev
campaign: DM-12345
submitPath: {work}/submit/{{outputRun}}
payload:
  payloadName: dropin
  butlerConfig: {work}/repo/butler.yaml
  inCollection: demo/inputs
  dataQuery: "instrument = 'DemoCam'"
  output: "u/{{operator}}/{{payloadName}}"
requestMemory: 2048
numberOfRetries: 3
memoryMultiplier: 2
pipetask:
  step2:
    requestMemory: 18000
finalJob:
  requestCpus: 2
  requestMemory: 4000
"""


@pytest.fixture(scope="module")
def user_run(tmp_path_factory):
    """Prepare the demo pipeline with a user YAML that includes bps_usdf.yaml, through ctrl_bps."""
    make_repo = _load_make_repo()
    work = tmp_path_factory.mktemp("dropin")
    make_repo.make_repo(work, detectors=1)
    submit_yaml = work / "submit.yaml"
    submit_yaml.write_text(USER_YAML.format(work=work))
    venv = Path(sys.executable).parent.parent
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CTRL_BPS_PANDA_DIR", str(PACKAGE_DIR))
        patch.setenv("LSST_RUN_TEMP_SPACE", str(work / "scratch"))
        patch.setenv("DEMO_WORK_DIR", str(work))
        for name in ("CTRL_MPEXEC_DIR", "DAF_BUTLER_DIR"):
            if not os.environ.get(name):
                patch.setenv(name, str(venv))
        patch.chdir(work)
        _, wms_workflow = prepare_driver(str(submit_yaml), runWmsSubmissionChecks=False)
    return make_repo, PandaBpsWmsWorkflow.read(wms_workflow.submit_path)


def test_user_yaml_tasks_carry_production_values_and_usdf_queues(user_run):
    make_repo, workflow = user_run
    labels = {task.name: task.label for task in workflow.tasks}
    works = works_of(workflow.idds_workflow)
    assert set(labels.values()) >= {"pipetaskInit", "finalJob", *make_repo.LABELS}
    for name, work in works.items():
        label = labels[name]
        assert (work.vo, work.task_type, work.prodSourceLabel) == ("wlcg", "test", "managed")
        assert (work.task_cloud, work.task_site, work.task_priority) == ("US", "SLAC", 500)
        assert work.working_group is None
        assert work.maxAttempt == 4  # numberOfRetries + 1
        if label == "finalJob":
            assert (work.task_queue, work.processingType) == ("SLAC_Rubin_Merge", "Rubin_Merge")
            assert work.task_rss_max == 512000
        elif label == "step2":
            assert (work.task_queue, work.task_rss, work.task_rss_max) == ("SLAC_Rubin_20G", 18000, 20000)
            assert work.task_rss_retry_step == 36000
        else:
            assert (work.task_queue, work.task_rss, work.task_rss_max) == ("SLAC_Rubin_4G", 2048, 4000)


def test_user_yaml_runner_sets_up_the_stack_the_custom_setup_and_prmon(user_run):
    _, workflow = user_run
    for work in works_of(workflow.idds_workflow).values():
        runner = work.executable
        assert "source /cvmfs/sw.lsst.eu/almalinux-x86_64/lsst_distrib/w_2026_40/loadLSST.bash" in runner
        assert "setup -j -r /sdf/home/s/someone/repos/pipe_tasks;" in runner
        assert "prmon -i 5" in runner and "rm -fr EXEC_REPO-*;" in runner
        assert runner.index("loadLSST.bash") < runner.index("setup -j -r") < runner.index("cmd_line_decoder")


def test_user_yaml_pipetask_jobs_write_the_real_time_log(user_run):
    _, workflow = user_run
    for work in works_of(workflow.idds_workflow).values():
        hex_line = work.executable.split("cmd_line_decoder.py ", 1)[1].split()[0]
        command = bytes.fromhex(hex_line).decode()
        if "pipetask" in command:
            assert "--log-file payload-log.json" in command
