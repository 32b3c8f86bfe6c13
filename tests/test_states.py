# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The single iDDS status → WmsStates table."""

import pytest
from idds.common.constants import ContentStatus, RequestStatus, TransformStatus
from lsst.ctrl.bps import WmsStates
from lsst.ctrl.bps.panda import states


@pytest.mark.parametrize(
    ("enum", "table"),
    [
        (RequestStatus, states.REQUEST_STATES),
        (TransformStatus, states.TRANSFORM_STATES),
        (ContentStatus, states.JOB_STATES),
    ],
)
def test_every_idds_status_has_a_meaning(enum, table):
    # A status added to iDDS fails here, not in somebody's report.
    assert [member.name for member in enum if member.name not in table] == []


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (RequestStatus.Finished, WmsStates.SUCCEEDED),
        (RequestStatus.SubFinished, WmsStates.FAILED),
        (RequestStatus.Failed, WmsStates.FAILED),
        (RequestStatus.Expired, WmsStates.FAILED),
        (RequestStatus.Cancelled, WmsStates.DELETED),
        (RequestStatus.Suspended, WmsStates.HELD),
        (RequestStatus.Transforming, WmsStates.RUNNING),
        (RequestStatus.New, WmsStates.RUNNING),
        (RequestStatus.Throttling, WmsStates.RUNNING),
        (RequestStatus.Cancelling, WmsStates.RUNNING),
        (RequestStatus.Suspending, WmsStates.RUNNING),
    ],
)
def test_request_states(status, expected):
    assert states.request_state(status) == expected


def test_a_live_run_is_running_and_held_only_once_suspended():
    # Campaign managers read PENDING, READY or HELD as a dead run: every run-level state of a request
    # that has not ended is RUNNING, except Suspended (HELD).
    ended = {"Finished", "SubFinished", "Failed", "Expired", "Cancelled", "Suspended"}
    live = {name: state for name, state in states.REQUEST_STATES.items() if name not in ended}
    assert set(live.values()) == {WmsStates.RUNNING}
    assert [name for name, state in states.REQUEST_STATES.items() if state == WmsStates.HELD] == ["Suspended"]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (TransformStatus.New, WmsStates.PENDING),
        (TransformStatus.Queue, WmsStates.PENDING),
        (TransformStatus.Transforming, WmsStates.RUNNING),
        (TransformStatus.Cancelling, WmsStates.DELETED),
        (TransformStatus.Suspending, WmsStates.HELD),
        (TransformStatus.Finished, WmsStates.SUCCEEDED),
    ],
)
def test_task_states_stay_detailed(status, expected):
    assert states.transform_state(status) == expected


@pytest.mark.parametrize(
    "form",
    [
        RequestStatus.SubFinished,
        "SubFinished",
        "RequestStatus.SubFinished",
        RequestStatus.SubFinished.value,
        {
            "class": "RequestStatus",
            "module": "idds.common.constants",
            "attributes": {"_value_": 4, "_name_": "SubFinished", "_sort_order_": 4},
        },
    ],
)
def test_status_forms_from_the_wire_all_read_the_same(form):
    assert states.request_state(form) == WmsStates.FAILED


def test_status_and_report_agree_on_subfinished():
    # One table: a SubFinished request and its SubFinished tasks mean the same thing.
    assert states.request_state("SubFinished") == states.transform_state(TransformStatus.SubFinished)


def test_job_states_use_content_numbers():
    assert states.job_state(ContentStatus.Missing.value) == WmsStates.PRUNED
    assert states.job_state(ContentStatus.Available) == WmsStates.SUCCEEDED
    assert states.job_state("nonsense") == WmsStates.UNKNOWN
