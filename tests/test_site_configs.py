# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The shipped site configurations route by memory as their sites expect."""

import pytest
from lsst.ctrl.bps import BpsConfig
from lsst.ctrl.bps.bps_config import BPS_DEFAULTS, BPS_SEARCH_ORDER
from lsst.ctrl.bps.panda.prepare.settings import SettingsReader, config_dir


def site_config(name, tmp_path, monkeypatch):
    monkeypatch.setenv("LSST_RUN_TEMP_SPACE", str(tmp_path))
    submit_yaml = tmp_path / "submit.yaml"
    submit_yaml.write_text(
        f"includeConfigs: [{config_dir() / name}]\nsubmitPath: {tmp_path}\noperator: me\nuniqProcName: run1\n"
        "LSST_VERSION: w_2026_40\nsw_image: lsstsqre/centos:7-stack-lsst_distrib-w_2026_40\n"
    )
    return BpsConfig(
        str(submit_yaml),
        search_order=BPS_SEARCH_ORDER,
        defaults=BPS_DEFAULTS,
        wms_service_class_fqn="lsst.ctrl.bps.panda.PanDAService",
    )


@pytest.mark.parametrize(
    ("request_mb", "preemptible", "queue"),
    [
        (3000, True, "DOMA_LSST_GOOGLE_TEST"),
        (10000, True, "DOMA_LSST_GOOGLE_TEST_HIMEM"),
        (10000, False, "DOMA_LSST_GOOGLE_TEST_HIMEM_NON_PREEMPT"),
        (100000, False, "DOMA_LSST_GOOGLE_TEST_EXTRA_HIMEM_NON_PREEMPT"),
    ],
)
def test_idf_classes_follow_dmtn_168(tmp_path, monkeypatch, request_mb, preemptible, queue):
    settings = SettingsReader(site_config("bps_idf.yaml", tmp_path, monkeypatch)).label("isr", None)
    choice = settings.router.choose(
        job_name="j", label="isr", request_mb=request_mb, explicit_queue=None, preemptible=preemptible
    )
    assert choice.queue == queue
    assert settings.router.merge_queue == "DOMA_LSST_GOOGLE_MERGE"
    assert "_cmd_line_" in settings.runner_command


def test_usdf_has_4gb_steps_extra_himem_and_merge(tmp_path, monkeypatch):
    config = site_config("bps_usdf.yaml", tmp_path, monkeypatch)
    settings = SettingsReader(config).label("isr", None)
    queues = [mc.queue for mc in settings.router.classes]
    assert queues[:8] == [f"SLAC_Rubin_{4 * i}G" for i in range(1, 9)]
    assert queues[-1] == "SLAC_Rubin_Extra_Himem" and settings.router.merge_queue == "SLAC_Rubin_Merge"
    assert SettingsReader(config).workflow().end_point.startswith(str(tmp_path))
