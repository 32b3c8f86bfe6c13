# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause

"""The changes ``local/idds_daemons.py`` makes to the real iDDS daemons it launches.

The daemons themselves, with iDDS's real ``Clerk`` patched, run in ``test_idds_engine.py``
and ``test_engines.py`` (cancel, retry, and a stranded abort freed by the sweeper).
"""

import threading

from lsst.ctrl.bps.panda.local.idds.scripts import idds_daemons


class FakeClerk:
    """Records the order of the polls of iDDS's ``Clerk`` that matter here."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def get_running_requests(self) -> str:
        self.calls.append("running requests")
        return "requests"

    def get_operation_requests(self) -> list:
        self.calls.append("commands")
        return []


def test_clerk_takes_its_commands_before_it_locks_the_running_requests():
    idds_daemons.commands_first(FakeClerk)
    clerk = FakeClerk()
    assert clerk.get_running_requests() == "requests"
    assert clerk.calls == ["commands", "running requests"]


def test_short_idle_waits_are_made_longer():
    event = threading.Event()
    event.set()
    assert idds_daemons._rested_wait(event, 0.00001) is True
    assert idds_daemons.MIN_WAIT >= 0.01
