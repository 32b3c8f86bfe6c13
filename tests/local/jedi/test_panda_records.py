# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Task states and job times as real JEDI gives them (tests/data/real_panda/)."""

import pytest
from idds.common.constants import TransformStatus
from lsst.ctrl.bps.panda.local.jedi.panda_records import job_time, panda_task_status


@pytest.mark.parametrize(
    ("all_succeeded", "any_succeeded", "expected"),
    [(True, True, "done"), (False, True, "finished"), (False, False, "failed")],
)
def test_a_finished_task_ends_as_jedis_post_processor_ends_it(all_succeeded, any_succeeded, expected):
    assert panda_task_status(TransformStatus.Cancelled, "finish", all_succeeded, any_succeeded) == expected
    assert panda_task_status(TransformStatus.Cancelled, "kill", all_succeeded, any_succeeded) == "aborted"


def test_job_times_are_utc_text_as_the_real_server_sends_them():
    assert job_time(0.0) == "1970-01-01 00:00:00"
    assert job_time(None) is None
