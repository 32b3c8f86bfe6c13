# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""``conf_example/``: the submit YAMLs the published docs name, loaded and prepared as ``bps submit`` does.

Each example goes through ctrl_bps's own ``init_submission`` (the plugin's defaults, the includes by
their EUPS path, the submit directory under ``${PWD}``), then the plugin prepares a synthetic
DRP-shaped workflow with the configuration it made.
"""

from pathlib import Path

import pytest
from lsst.ctrl.bps.initialize import init_submission
from lsst.ctrl.bps.panda import PanDAService
from support.dag_check import works_of
from support.demo_repo import PACKAGE_DIR
from support.paths import REPO_ROOT
from support.synthetic import make_drp_workflow

EXAMPLES = REPO_ROOT / "python/lsst/ctrl/bps/panda/conf_example"
# The files of the published 30.0.0 plugin's conf_example/, which its docs point at.
PUBLISHED_EXAMPLES = [
    "example_panda_SLAC.yaml",
    "pipelines_check_idf.yaml",
    "test_idf.yaml",
    "test_sdf.yaml",
    "test_usdf.yaml",
]
# The site each example is written for: computeSite, its queues' prefix and its merge queue. The
# synthetic jobs carry no queue of their own (ctrl_bps copies a YAML's ``queue`` into its jobs), so
# each goes to its memory class's queue.
SITES = {
    "example_panda_SLAC.yaml": ("SLAC", "SLAC_Rubin_", "SLAC_Rubin_Merge"),
    "pipelines_check_idf.yaml": ("LSST", "DOMA_LSST_GOOGLE_", "DOMA_LSST_GOOGLE_MERGE"),
    "test_idf.yaml": ("LSST", "DOMA_LSST_GOOGLE_", "DOMA_LSST_GOOGLE_MERGE"),
    "test_sdf.yaml": ("SLAC", "SLAC_Rubin_", "SLAC_Rubin_Merge"),
    "test_usdf.yaml": ("SLAC", "SLAC_Rubin_", "SLAC_Rubin_Merge"),
}


def test_every_published_example_is_shipped_under_its_name_and_reachable_from_a_pip_install():
    assert sorted(p.name for p in EXAMPLES.glob("*.yaml")) == PUBLISHED_EXAMPLES
    # A pip install's CTRL_BPS_PANDA_DIR is the package's resources/ (panda_local env).
    pip_layout = REPO_ROOT / "python/lsst/ctrl/bps/panda/resources/python/lsst/ctrl/bps/panda/conf_example"
    assert sorted(p.name for p in pip_layout.glob("*.yaml")) == PUBLISHED_EXAMPLES


@pytest.mark.parametrize("with_eups_dir", [True, False])
@pytest.mark.parametrize("name", PUBLISHED_EXAMPLES)
def test_each_example_loads_as_bps_submit_does_and_prepares_a_drp_workflow(
    name, with_eups_dir, tmp_path, monkeypatch
):
    if with_eups_dir:
        monkeypatch.setenv("CTRL_BPS_PANDA_DIR", str(PACKAGE_DIR))
    else:  # the includes resolve to the package's resources (eups://ctrl_bps_panda/config/...)
        monkeypatch.delenv("CTRL_BPS_PANDA_DIR", raising=False)
    monkeypatch.delenv("LSST_RUN_TEMP_SPACE", raising=False)
    monkeypatch.setenv("PWD", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    config = init_submission(str(EXAMPLES / name))
    submit_path = config[".bps_defined.submitPath"]
    assert Path(submit_path).is_relative_to(tmp_path / "submit")
    assert config["wmsServiceClass"] == "lsst.ctrl.bps.panda.PanDAService"

    workflow = make_drp_workflow(120, submit_dir=submit_path)
    prepared = PanDAService(config).prepare(config, workflow, submit_path)
    works = works_of(prepared.idds_workflow)
    jobs = len(workflow) + 1  # and the final job
    assert sum(len(w.dependency_map) for w in works.values()) == prepared.job_count == jobs
    site, queue_prefix, merge_queue = SITES[name]
    for work in works.values():
        assert "${IN/L}" in work.executable and "_cmd_line_" not in work.executable
        assert work.task_site == site and work.task_queue.startswith(queue_prefix), (
            work.task_name,
            work.task_queue,
        )
    # The stack the jobs set up is the one the example names (cvmfs weekly, or the image).
    assert all("w_2026_40" in w.executable for w in works.values())
    assert {w.task_queue for w in works.values() if "_finalJob_" in w.task_name} == {merge_queue}
