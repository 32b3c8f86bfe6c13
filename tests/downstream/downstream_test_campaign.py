# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The campaign manager's verdicts on runs, once on the iDDS double and once on the local PanDA."""

import pytest
from campaign_runs import SCENARIOS, shell_workflow, submit, wait_for
from lsst.ctrl.bps import WmsStates
from lsst.ctrl.bps.panda import PanDAService

FINAL_VERDICTS = {
    # scenario: (v2 path, older path allowed)
    "success": ("accepted", {"accepted"}),
    "failure_with_final_job": ("failed", {"accepted"}),  # report lists the final job, which succeeded
    "cancel": ("failed", {"reviewable"}),  # never accepted
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_campaign_manager_verdict(scenario, panda, bps_config, campaign_verdict, verdict_log):
    backend, double = panda
    commands, story = SCENARIOS[scenario]
    if backend == "idds_double" and story is not None:
        double.expect_submit(story)
    run = submit(bps_config, shell_workflow(f"kit_{scenario}", commands))
    seen = [campaign_verdict(run)]
    assert seen[0] == {"v2": "running", "older": "running"}  # a fresh run is never failed
    if scenario == "cancel":
        wait_for(run, states={WmsStates.RUNNING})
        assert campaign_verdict(run)["older"] == "running"
        cancelled, message = PanDAService({}).cancel(run)
        assert cancelled, message
    wait_for(run)
    verdict = campaign_verdict(run)
    verdict_log.setdefault(scenario, {})[backend] = {**verdict, "first": seen[0]}

    v2, older = FINAL_VERDICTS[scenario]
    assert verdict["v2"] == v2
    assert verdict["older"] in older


def test_the_double_answers_an_unknown_run_as_iDDS_does(idds_double):
    state, message = PanDAService({}).get_status("987654")
    assert state == WmsStates.UNKNOWN and "987654" in message
