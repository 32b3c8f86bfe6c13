# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""A downstream package's fixtures: only the public kit (idds_double, local_panda, bps_config).

The campaign manager's rules (lsst-dm/cm-service, restated by issue 23) give a verdict on a run
from what ``PanDAService(config={})`` says, on its two code paths: the kit's ``read_verdict``
(`lsst.ctrl.bps.panda.testing.campaign_verdicts`).
"""

import json
import os

import pytest
from lsst.ctrl.bps.panda.testing.campaign_verdicts import read_verdict


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
