# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause

"""The campaign manager's verdicts on runs, once on the iDDS double and once on the local PanDA."""

import pytest
from campaign_runs import SCENARIOS, shell_workflow, submit, wait_for
from lsst.ctrl.bps import WmsStates
from lsst.ctrl.bps.panda import PanDAService


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_campaign_manager_verdict(scenario, panda, bps_config, campaign_verdict, verdict_log):
    backend, double = panda
    commands, story = SCENARIOS[scenario]
    if backend == "idds_double" and story is not None:
        double.expect_submit(story)
    run = submit(bps_config, shell_workflow(f"kit_{scenario}", commands))
    if scenario == "cancel":
        wait_for(run, states={WmsStates.RUNNING})
        assert campaign_verdict(PanDAService({}), run)["older"] == "running"
        cancelled, message = PanDAService({}).cancel(run)
        assert cancelled, message
    wait_for(run)
    verdict = campaign_verdict(PanDAService({}), run)
    verdict_log.setdefault(scenario, {})[backend] = verdict

    expected_v2 = {"success": "accepted", "failure_with_final_job": "failed"}
    assert verdict["v2"] == expected_v2.get(scenario, verdict["v2"])
    if scenario == "success":
        assert verdict["older"] == "accepted"
    elif scenario == "cancel":
        assert verdict["older"] == "reviewable"  # never accepted
    else:
        # accepted once report lists finalJob (issue 23); never failed or running
        assert verdict["older"] in {"accepted", "reviewable"}


def test_the_double_answers_an_unknown_run_as_iDDS_does(idds_double):
    state, message = PanDAService({}).get_status("987654")
    assert state == WmsStates.UNKNOWN and "987654" in message
