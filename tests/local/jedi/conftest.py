# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Fixtures of the PanDA task API tests: a local PanDA with the idds engine on a stand-in stack."""

from __future__ import annotations

import os

import pytest
from lsst.ctrl.bps.panda.local.idds.idds_engine import IddsEngine
from lsst.ctrl.bps.panda.local.server import LocalPandaServer
from lsst.ctrl.bps.panda.local.state.state_dir import StateDir
from support.loopback import TEST_PANDA_PORT
from support.stand_in_stack import StandInStack


@pytest.fixture
def idds_engine(tmp_path):
    """A local PanDA with the idds engine (stand-in stack) on the test port, its token in the env."""
    server = LocalPandaServer(
        StateDir(tmp_path / "state"),
        port=TEST_PANDA_PORT,
        engine=IddsEngine(stack_factory=StandInStack),
        max_cores=2,
        sample_interval=0.05,
    )
    server.start_in_thread()
    os.environ["PANDA_AUTH_ID_TOKEN"] = server.token
    yield server
    server.close(kill_running=True)
    os.environ.pop("PANDA_AUTH_ID_TOKEN", None)
