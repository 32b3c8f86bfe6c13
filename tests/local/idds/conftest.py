# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Fixtures of the idds-engine tests: a local PanDA on the real iDDS daemons."""

from __future__ import annotations

import os
import time

import pytest
from lsst.ctrl.bps.panda.local.idds.idds_engine import IddsEngine
from lsst.ctrl.bps.panda.local.server import LocalPandaServer
from lsst.ctrl.bps.panda.local.state.state_dir import StateDir
from support.loopback import TEST_PANDA_PORT
from support.real_servers import required_servers_venv_python


@pytest.fixture(scope="module")
def idds_panda(tmp_path_factory):
    """A local PanDA with the real iDDS engine on the test port, its token in the environment."""
    python = required_servers_venv_python()
    root = tmp_path_factory.mktemp("idds_engine")
    server = LocalPandaServer(
        StateDir(root / "state"),
        port=TEST_PANDA_PORT,
        engine=IddsEngine(server_python=python),
        max_cores=2,
        sample_interval=0.05,
    )
    began = time.monotonic()
    server.start_in_thread()
    print(f"\nlocal PanDA on the real iDDS engine up in {time.monotonic() - began:.1f} s")
    os.environ["PANDA_AUTH_ID_TOKEN"] = server.token
    yield server
    server.close(kill_running=True)
    os.environ.pop("PANDA_AUTH_ID_TOKEN", None)
