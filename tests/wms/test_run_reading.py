# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The run state after a restart or a cancel, from the request record and the recorded command.

The request records are as iDDS-JSON gives them (``updated_at`` a string, seconds resolution); the
flap sequence is the one seen on the idds engine after ``bps restart``.
"""

import datetime

from lsst.ctrl.bps import WmsStates
from lsst.ctrl.bps.panda.wms.run_commands import RunCommand
from lsst.ctrl.bps.panda.wms.run_reading import SETTLE_SECONDS, read_run

T0 = datetime.datetime(2026, 12, 7, 10, 22, 23, 400000, tzinfo=datetime.UTC)
"""When the restart was registered."""
ENDED = "Mon, 07 Dec 2026 10:22:20 UTC"
"""When the first run ended (iDDS's updated_at at the restart)."""
TIMEOUT = 600.0


def request(status, updated=ENDED):
    return {"request_id": 1, "status": status, "updated_at": updated}


def at(seconds):
    return T0 + datetime.timedelta(seconds=seconds)


def idds_time(seconds):
    return at(seconds).strftime("%a, %d %b %Y %H:%M:%S UTC")


RESTART = RunCommand(
    "restart", T0, "SubFinished", datetime.datetime(2026, 12, 7, 10, 22, 20, tzinfo=datetime.UTC)
)


def read(record, seconds, command=RESTART, found=True):
    return read_run(record, command, record_found=found, pending_timeout=TIMEOUT, now=at(seconds))


def test_until_idds_takes_the_restart_the_run_reads_running_and_pending():
    reading = read(request("SubFinished"), 5)
    assert reading.state == WmsStates.RUNNING
    assert "restart registered at 2026-12-07 10:22:23 UTC is pending" in reading.message


def test_the_status_flap_after_the_restart_is_never_read_as_the_old_terminal_state():
    # As seen on the idds engine: taken (Resuming), FAILED again for ~8 s, then resumed.
    sequence = [
        (4, request("SubFinished")),
        (12, request("Resuming", idds_time(12))),
        (14, request("Failed", idds_time(14))),
        (21, request("Failed", idds_time(14))),
        (23, request("Transforming", idds_time(23))),
        (40, request("Finished", idds_time(40))),
    ]
    states = [read(record, seconds).state for seconds, record in sequence]
    assert states == [WmsStates.RUNNING] * 5 + [WmsStates.SUCCEEDED]


def test_the_old_status_written_again_soon_after_the_restart_reads_running_for_as_long_as_it_stays():
    # As seen on the idds engine under load: Resuming, then SubFinished written 10 s after the
    # restart and kept for over a minute while the jobs ran again, then Finished.
    sequence = [
        (4, request("Resuming", idds_time(4))),
        (10, request("SubFinished", idds_time(10))),
        (75, request("SubFinished", idds_time(10))),
        (TIMEOUT - 1, request("SubFinished", idds_time(10))),
        (90, request("Finished", idds_time(90))),
    ]
    readings = [read(record, seconds) for seconds, record in sequence]
    assert [r.state for r in readings] == [WmsStates.RUNNING] * 4 + [WmsStates.SUCCEEDED]
    assert "was taken" in readings[2].message and "within" in readings[2].message


def test_a_rerun_that_fails_again_reads_failed_from_when_idds_wrote_it():
    record = request("SubFinished", idds_time(SETTLE_SECONDS + 1))  # updated_at has whole seconds
    assert read(record, SETTLE_SECONDS + 1).state == WmsStates.FAILED
    assert read(request("SubFinished", idds_time(SETTLE_SECONDS - 1)), 200).state == WmsStates.RUNNING


def test_a_rerun_that_failed_quickly_reads_failed_after_the_timeout():
    assert read(request("SubFinished", idds_time(20)), TIMEOUT).state == WmsStates.FAILED


def test_after_the_timeout_an_untaken_restart_reads_as_idds_has_it_and_says_so():
    reading = read(request("SubFinished"), TIMEOUT)
    assert reading.state == WmsStates.FAILED
    assert "iDDS has not taken the restart registered at 2026-12-07 10:22:23 UTC" in reading.message


def test_the_same_second_as_before_is_not_a_move():
    # updated_at has seconds resolution: equal to the one recorded is not later.
    assert read(request("SubFinished", ENDED), 1).state == WmsStates.RUNNING


def test_without_updated_at_recorded_the_restart_time_is_the_reference():
    command = RunCommand("restart", T0, "Failed", None)
    assert read(request("Failed", idds_time(-1)), 2, command).state == WmsStates.RUNNING
    assert read(request("Transforming", idds_time(1)), 2, command).state == WmsStates.RUNNING
    assert read(request("Finished", idds_time(1)), 2, command).state == WmsStates.SUCCEEDED


def test_a_recorded_cancel_makes_a_run_that_ended_failed_deleted():
    cancel = RunCommand("cancel", T0, "Transforming", None)
    reading = read(request("SubFinished", idds_time(20)), 30, cancel)
    assert reading.state == WmsStates.DELETED and "cancelled at 2026-12-07 10:22:23 UTC" in reading.message
    assert read(request("Transforming", idds_time(1)), 2, cancel).state == WmsStates.RUNNING
    assert read(request("Cancelled", idds_time(9)), 10, cancel).state == WmsStates.DELETED
    assert read(request("Finished", idds_time(9)), 10, cancel).state == WmsStates.SUCCEEDED


def test_without_a_record_a_failed_run_reads_as_idds_has_it_and_says_what_was_not_checked():
    reading = read(request("SubFinished"), 1, command=None, found=False)
    assert reading.state == WmsStates.FAILED and "no submit directory record" in reading.message
    assert read(request("Transforming"), 1, command=None, found=False).message == ""
    assert read(request("SubFinished"), 1, command=None, found=True).message == ""
