# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause

"""A downstream package's fixtures: only the public kit (idds_double, local_panda, bps_config).

The campaign manager's rules (lsst-dm/cm-service, restated by issue 23) give a verdict on a run
from what ``PanDAService(config={})`` says, on its two code paths.  ``read_verdict`` is the clients
issue's helper, ``lsst.ctrl.bps.panda.testing.campaign_verdicts``; until that is merged, the same
rules are restated here.
"""

import json
import os

import pytest
from lsst.ctrl.bps import WmsStates

try:
    from lsst.ctrl.bps.panda.testing.campaign_verdicts import read_verdict
except ImportError:  # issue 23's helper not merged yet: the same rules

    def _from_report(report):
        state = report.state if report is not None else None
        if state == WmsStates.RUNNING:
            return "running"
        if state == WmsStates.SUCCEEDED:
            return "accepted"
        if state in (WmsStates.FAILED, WmsStates.DELETED):
            final = [job for job in report.jobs or () if job.name == "finalJob"]
            return "accepted" if any(job.state == WmsStates.SUCCEEDED for job in final) else "reviewable"
        return "failed"

    def read_verdict(service, run_id, path="v2"):
        reports, _ = service.report(wms_workflow_id=run_id)
        report = reports[0] if reports else None
        if path == "older":
            return _from_report(report)
        state, _ = service.get_status(run_id)
        if state == WmsStates.RUNNING:
            return "running"
        return "failed" if state in (WmsStates.FAILED, WmsStates.DELETED) else _from_report(report)


@pytest.fixture
def campaign_verdict():
    """Return verdict(run) -> {"v2": ..., "older": ...}: the campaign manager's reading of a run."""
    from lsst.ctrl.bps.panda import PanDAService

    def verdict(run):
        return {path: read_verdict(PanDAService(config={}), run, path) for path in ("v2", "older")}

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
