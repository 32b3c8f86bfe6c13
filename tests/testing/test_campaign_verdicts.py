# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The campaign manager's verdicts, as pure functions (the runs themselves: test_campaign_manager_reads)."""

import pytest
from lsst.ctrl.bps import WmsJobReport, WmsRunReport, WmsStates
from lsst.ctrl.bps.panda.testing import campaign_verdicts as cm


def report(state, final=None):
    jobs = [] if final is None else [WmsJobReport(wms_id="1", name="finalJob", label="finalJob", state=final)]
    return WmsRunReport(wms_id="1", state=state, jobs=jobs)


@pytest.mark.parametrize(
    ("state", "final", "verdict"),
    [
        (WmsStates.RUNNING, None, cm.RUNNING),
        (WmsStates.SUCCEEDED, None, cm.ACCEPTED),
        (WmsStates.FAILED, WmsStates.SUCCEEDED, cm.ACCEPTED),
        (WmsStates.DELETED, WmsStates.SUCCEEDED, cm.ACCEPTED),
        (WmsStates.FAILED, WmsStates.FAILED, cm.REVIEWABLE),
        (WmsStates.FAILED, None, cm.REVIEWABLE),
        (WmsStates.DELETED, None, cm.REVIEWABLE),
        (WmsStates.PENDING, None, cm.FAILED),
        (WmsStates.HELD, None, cm.FAILED),
        (WmsStates.READY, None, cm.FAILED),
        (WmsStates.UNREADY, None, cm.FAILED),
        (WmsStates.PRUNED, None, cm.FAILED),
        (WmsStates.UNKNOWN, None, cm.FAILED),
        (WmsStates.MISFIT, None, cm.FAILED),
    ],
)
def test_older_path(state, final, verdict):
    assert cm.verdict_from_report(report(state, final)) == verdict


def test_older_path_without_a_report_fails():
    assert cm.verdict_from_report(None) == cm.FAILED


def test_a_job_of_another_name_does_not_make_a_failed_run_acceptable():
    other = WmsRunReport(
        state=WmsStates.FAILED,
        jobs=[WmsJobReport(wms_id="1", name="merge", label="finalJob", state=WmsStates.SUCCEEDED)],
    )
    assert cm.verdict_from_report(other) == cm.REVIEWABLE


@pytest.mark.parametrize(
    ("state", "verdict"),
    [
        (WmsStates.RUNNING, cm.RUNNING),
        (WmsStates.FAILED, cm.FAILED),
        (WmsStates.DELETED, cm.FAILED),
    ],
)
def test_v2_path_stops_on_failed_or_deleted_whatever_the_report(state, verdict):
    assert cm.verdict_from_status(state, report(WmsStates.FAILED, WmsStates.SUCCEEDED)) == verdict


def test_v2_path_otherwise_takes_the_report_verdict():
    assert cm.verdict_from_status(WmsStates.SUCCEEDED, report(WmsStates.SUCCEEDED)) == cm.ACCEPTED
    assert cm.verdict_from_status(WmsStates.PENDING, report(WmsStates.PENDING)) == cm.FAILED


def test_wrong_verdicts_are_everything_but_running_before_the_final_one():
    assert cm.wrong_verdicts(["running", "running", "accepted"], "accepted") == []
    assert cm.wrong_verdicts(["running", "failed", "running", "accepted"], "accepted") == [(1, "failed")]
    assert cm.wrong_verdicts(["running"], "accepted") == [(1, "running")]
    assert cm.wrong_verdicts([], "accepted") == [(0, "<missing final>")]


class RecordingService:
    """A service that answers fixed values and records which verbs were called."""

    def __init__(self, state, run_report):
        self.state, self.run_report, self.calls = state, run_report, []

    def get_status(self, run_id):
        self.calls.append(("get_status", run_id))
        return self.state, ""

    def report(self, wms_workflow_id=None):
        self.calls.append(("report", wms_workflow_id))
        return [self.run_report], ""


def test_read_verdict_calls_what_each_path_calls():
    running = RecordingService(WmsStates.RUNNING, report(WmsStates.RUNNING))
    assert cm.read_verdict(running, "/submit/dir", "v2") == cm.RUNNING
    assert running.calls == [("get_status", "/submit/dir")]
    ended = RecordingService(WmsStates.SUCCEEDED, report(WmsStates.SUCCEEDED))
    assert cm.read_verdict(ended, "/submit/dir", "v2") == cm.ACCEPTED
    assert ended.calls == [("get_status", "/submit/dir"), ("report", "/submit/dir")]
    older = RecordingService(WmsStates.FAILED, report(WmsStates.FAILED, WmsStates.SUCCEEDED))
    assert cm.read_verdict(older, "12", "older") == cm.ACCEPTED
    assert older.calls == [("report", "12")]
    with pytest.raises(ValueError, match="path"):
        cm.read_verdict(older, "12", "v3")
