# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Pids and ends held until recorded (``engine/held_records.py``).

A full disk under a running server is caused for real in ``tests/local/pilot/test_launch_faults.py``;
here the scheduler's commits fail on demand, to follow each step.
"""

import sqlite3

from lsst.ctrl.bps.panda.local.engine.held_records import HeldRecords
from lsst.ctrl.bps.panda.local.pilot.attempts import AttemptEnd, Outcome
from lsst.ctrl.bps.panda.local.state.store import Store


class FailingScheduler:
    """Records what it is asked to record; each commit fails while ``failing`` is set."""

    def __init__(self) -> None:
        self.failing = False
        self.processes: list[tuple[int, int, float]] = []
        self.ends: list[int] = []

    def record_process(self, attempt_id: int, pid: int, created: float) -> None:
        if self.failing:
            raise sqlite3.OperationalError("database or disk is full")
        self.processes.append((attempt_id, pid, created))

    def finish_attempt(self, end: AttemptEnd) -> None:
        if self.failing:
            raise OSError(28, "No space left on device")
        self.ends.append(end.attempt_id)


def held_records(tmp_path):
    scheduler = FailingScheduler()
    return scheduler, HeldRecords(scheduler, Store(tmp_path / "state.sqlite3"), tmp_path)


def test_held_pids_and_ends_are_recorded_and_let_go(tmp_path):
    scheduler, held = held_records(tmp_path)
    held.keep_pid(1, 4242, 17.5)
    held.keep_end(AttemptEnd(2, Outcome.OK, 0))
    assert held.record() is False  # no fault to recover from
    assert scheduler.processes == [(1, 4242, 17.5)] and scheduler.ends == [2]
    assert held.pids == {} and held.ends == {} and held.fault is None


def test_a_failing_storage_keeps_everything_reports_once_and_recovers(tmp_path, caplog):
    scheduler, held = held_records(tmp_path)
    scheduler.failing = True
    held.keep_end(AttemptEnd(3, Outcome.FAILED, 1))
    assert held.record() is False
    held.keep_end(AttemptEnd(4, Outcome.OK, 0))
    assert held.record() is False
    assert set(held.ends) == {3, 4}
    assert held.fault is not None and "1 finished attempts are held" not in held.fault
    assert str(tmp_path) in held.fault and "2 finished attempts are held" in held.fault
    assert held.faults_seen == 1
    assert caplog.text.count("cannot write its state") == 1  # logged once while it lasts

    scheduler.failing = False
    assert held.record() is True  # the storage works again
    assert scheduler.ends == [3, 4] and held.ends == {} and held.fault is None
    assert held.record() is False


def test_a_storage_that_still_cannot_take_a_file_keeps_the_fault(tmp_path, monkeypatch):
    scheduler, held = held_records(tmp_path)
    scheduler.failing = True
    held.keep_pid(5, 99, 1.0)
    held.record()
    scheduler.failing = False

    def still_full(root):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("lsst.ctrl.bps.panda.local.engine.held_records.probe_storage", still_full)
    assert held.record() is False  # recorded, but the probe says the disk is still full
    assert scheduler.processes == [(5, 99, 1.0)] and held.fault is not None
