# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Fixtures of the local PanDA's tests: one ``panda_local`` per engine for a module."""

import contextlib
import os

import pytest
from support.engine_server import EngineServer
from support.real_servers import required_servers_venv_python


@pytest.fixture(scope="module", params=["embedded", pytest.param("idds", marks=pytest.mark.idds_engine)])
def server(request, tmp_path_factory):
    """One ``panda_local`` per engine for the module."""
    if request.param == "idds":
        required_servers_venv_python()
    running = EngineServer(request.param, tmp_path_factory.mktemp(request.param) / "state")
    running.start()
    yield running
    running.stop()
    with contextlib.suppress(Exception):
        from lsst.ctrl.bps.panda.local.idds.idds_postgres import PostgresCluster, postgres_bin

        PostgresCluster(running.state_dir / "idds", postgres_bin(), running.state_dir / "pg.log").remove()
    os.environ.pop("PANDA_AUTH_ID_TOKEN", None)
