# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause

"""A downstream package's fixtures: only the public kit (idds_double, local_panda, bps_config).

The campaign manager's rules (cm-service, restated: issue 23) decide a verdict from what
`PanDAService({})` says.  ``campaign_verdict`` restates them here until the clients issue's helper
(``lsst.ctrl.bps.panda.testing.campaign_verdicts``) is merged; then it returns that helper.
"""

import json
import os

import pytest
from lsst.ctrl.bps import WmsStates

FAILED_ON_OLDER_PATH = {
    WmsStates.UNKNOWN,
    WmsStates.MISFIT,
    WmsStates.PRUNED,
    WmsStates.UNREADY,
    WmsStates.READY,
    WmsStates.HELD,
    WmsStates.PENDING,
}


def _older_path(report):
    """cm-service's status_from_bps_report: the verdict of one `report(wms_workflow_id=...)`."""
    if report.state == WmsStates.RUNNING:
        return "running"
    if report.state == WmsStates.SUCCEEDED:
        return "accepted"
    if report.state in FAILED_ON_OLDER_PATH:
        return "failed"
    final_ok = any(job.name == "finalJob" and job.state == WmsStates.SUCCEEDED for job in report.jobs)
    return "accepted" if final_ok else "reviewable"


def _v2_path(state):
    """cm-service v2 (group.py): get_status(<submit dir>); FAILED stops the group as failed."""
    return {WmsStates.SUCCEEDED: "accepted", WmsStates.FAILED: "failed"}.get(state, "running")


@pytest.fixture
def campaign_verdict():
    """Return verdict(service, run) -> {"v2": ..., "older": ...}, as cm-service reads a run."""

    def verdict(service, run):
        state, _ = service.get_status(run)
        reports, message = service.report(wms_workflow_id=run)
        assert reports, message
        return {"v2": _v2_path(state), "older": _older_path(reports[0])}

    return verdict


@pytest.fixture(params=["idds_double", "local_panda"])
def panda(request):
    """The PanDA the run goes to: the iDDS double (scripted) or the embedded local PanDA (real jobs)."""
    return request.param, request.getfixturevalue(request.param)


@pytest.fixture(scope="session")
def verdict_log():
    """Collect verdicts by scenario and backend; written to $KIT_VERDICTS_FILE at the end."""
    log = {}
    yield log
    if os.environ.get("KIT_VERDICTS_FILE"):
        with open(os.environ["KIT_VERDICTS_FILE"], "w") as out:
            json.dump(log, out, indent=1, sort_keys=True)
