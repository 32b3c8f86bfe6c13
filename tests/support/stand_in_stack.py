# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""A stand-in for the idds engine's server stack: the PanDA task API without real iDDS daemons."""

from __future__ import annotations

from lsst.ctrl.bps.panda.local.state.state_dir import StateDir


class StandInStack:
    """Records how the server starts and stops the iDDS stack."""

    instances: list[StandInStack] = []

    def __init__(self, state: StateDir) -> None:
        self.state = state
        self.started_with: tuple[str, str, str] | None = None
        self.stopped = False
        self.rest_url = "http://127.0.0.1:9/idds"
        StandInStack.instances.append(self)

    def start(self, panda_url: str, notifier_url: str, notifier_token: str, notifier_token_file=None) -> None:
        self.started_with = (panda_url, notifier_url, notifier_token)
        self.token_file = notifier_token_file

    def client_env(self) -> dict[str, str]:
        return {"PANDA_LOCAL_TEST_STAND_IN": "1"}

    def stop(self) -> None:
        self.stopped = True
