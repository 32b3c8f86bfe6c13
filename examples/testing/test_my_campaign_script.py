# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""A downstream package's test of its own code (here: `needs_attention`) against a scripted iDDS.

Run it:  pytest examples/testing   (from the repository root, or copy the folder anywhere).
"""

from lsst.ctrl.bps import WmsStates
from lsst.ctrl.bps.panda import PanDAService
from lsst.ctrl.bps.panda.testing.idds_double import Failure
from lsst.ctrl.bps.panda.testing.run_story import RunStory


def needs_attention(run_id):
    """Say what a person should look at in a run, from `bps report`'s view (the code under test)."""
    reports, message = PanDAService({}).report(run_id, return_exit_codes=True)
    if not reports:
        return f"cannot read run {run_id}: {message}"
    report = reports[0]
    if report.state != WmsStates.FAILED:
        return ""
    failed = {label: codes for label, codes in report.exit_code_summary.items() if codes}
    return f"failed jobs: {failed}"


def test_a_failed_quantum_is_reported_with_its_exit_code(idds_double):
    run_id = idds_double.add_run(
        RunStory("u_me_step1", jobs={"isr": 5, "calibrate": 5})
        .then("New", polls=2)
        .then("Transforming", done={"isr": 3}, running={"isr": 2})
        .then("SubFinished", done={"isr": 4, "calibrate": 4}, failed={"isr": [3]}, missing={"calibrate": 1})
    )
    assert needs_attention(str(run_id)) == ""  # New
    assert needs_attention(str(run_id)) == ""  # New
    assert needs_attention(str(run_id)) == ""  # Transforming
    assert needs_attention(str(run_id)) == "failed jobs: {'isr': [3]}"


def test_a_refused_token_is_said_not_hidden(idds_double):
    idds_double.fail(Failure.REFUSED_TOKEN)
    assert needs_attention("1").startswith("cannot read run 1: ")
