# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Runs on the local PanDA read as the campaign manager (lsst-dm/cm-service) reads them.

Both engines; on each, three runs submitted together, each read on both of cm-service's paths
(``get_status`` then ``report`` of the submit directory: v2; ``report``: older) from right after
submit until both paths reached a final verdict, through ``PanDAService(config={})``.  Nothing but
``running`` may be read before the expected verdict (`campaign_verdicts.wrong_verdicts`):

- a success: accepted on both paths;
- a failed job with the final job succeeding: failed on v2 (``get_status`` FAILED, as the published
  plugin), accepted on the older path (``finalJob`` SUCCEEDED in ``report.jobs``); then, read at once
  after ``restart``, never failed: accepted on both once the rerun ends;
- a cancel while a job runs: failed on v2, reviewable on the older path, also on the idds engine
  where iDDS still runs the final job and ends the request SubFinished.
"""

import time

import pytest
from lsst.ctrl.bps.panda.testing.campaign_verdicts import wrong_verdicts
from support.campaign_runs import campaign_cases, drive

pytestmark = [pytest.mark.real_servers, pytest.mark.slow, pytest.mark.timeout(1200)]

POLL = {"embedded": 0.3, "idds": 1.0}
"""Seconds between rounds of reads (each round is a few relay calls per run)."""

TIMEOUT = {"embedded": 180.0, "idds": 900.0}
"""Seconds all runs of an engine may take: the idds engine's daemons poll every few seconds."""


def test_campaign_manager_verdicts_from_submit_to_end(engine_panda, tmp_path):
    began = time.monotonic()
    runs = campaign_cases(tmp_path)
    drive(runs, tmp_path, POLL[engine_panda.engine], TIMEOUT[engine_panda.engine])
    print(f"\ncm-service-style reads on the {engine_panda.engine} engine: {time.monotonic() - began:.0f} s")
    for run in runs:
        print(f"  {run.case}: " + ", ".join(f"{p} {s:.0f} s" for p, s in run.phase_seconds.items()))
        for phase, expected in run.expected.items():
            for path, final in expected.items():
                seen = run.seen[phase][path]
                assert wrong_verdicts(seen, final) == [], (run.case, phase, path, seen)
    # The restart was read at once: running on both paths, never the old failed (v2) nor the old
    # run's accepted (older path: FAILED with its final job SUCCEEDED) before the rerun ran.
    restart = next(run for run in runs if run.case == "failure_then_restart")
    assert [restart.seen["restart"][path][0] for path in ("v2", "older")] == ["running", "running"]
