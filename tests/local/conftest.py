# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause

"""Fixtures of the local PanDA's tests: one ``panda_local`` per engine for a module."""

import contextlib
import os

import pytest
from support.engine_server import CI, EngineServer
from support.real_servers import servers_venv_python


@pytest.fixture(scope="module", params=["embedded", "idds"])
def server(request, tmp_path_factory):
    """One ``panda_local`` per engine for the module."""
    if request.param == "idds" and servers_venv_python() is None:
        if CI:
            pytest.fail("CI must run the idds engine: `make test` builds .venv-real-idds")
        pytest.skip("no .venv-real-idds (make real-idds-venv)")
    running = EngineServer(request.param, tmp_path_factory.mktemp(request.param) / "state")
    running.start()
    yield running
    running.stop()
    with contextlib.suppress(Exception):
        from lsst.ctrl.bps.panda.local.idds.idds_postgres import PostgresCluster, postgres_bin

        PostgresCluster(running.state_dir / "idds", postgres_bin(), running.state_dir / "pg.log").remove()
    os.environ.pop("PANDA_AUTH_ID_TOKEN", None)
