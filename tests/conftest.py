# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Fixtures shared by every test; helpers are in ``support/``.

``support.loopback`` is imported first: it points the PanDA URLs at a loopback port before any
test module can import ``pandaclient``.
"""

import atexit
import contextlib
import os
import time

import pytest
import support.loopback  # noqa: F401  (first: the PanDA URLs, before pandaclient is imported)
from support.local_panda import LOCAL_PANDA_POLL, ServerProcess, ShellDag, call_ok
from support.loopback import TEST_PANDA_PORT
from support.real_servers import RealServers, required_servers_venv_python


@pytest.fixture
def shell_dag():
    """Return the `ShellDag` class."""
    return ShellDag


@pytest.fixture
def idds_api():
    """Return the unmodified PanDA client's iDDS API, as the plugin gets it."""
    import idds.common.utils as idds_utils
    from pandaclient import idds_api as client_api

    return client_api.get_api(
        dumper=idds_utils.json_dumps, loader=idds_utils.json_loads, compress=True, manager=True
    )


@pytest.fixture
def local_panda(tmp_path):
    """Start a local PanDA in this process on the test port, its token in the environment."""
    from lsst.ctrl.bps.panda.local.server import LocalPandaServer
    from lsst.ctrl.bps.panda.local.state.state_dir import StateDir

    server = LocalPandaServer(
        StateDir(tmp_path / "state"), port=TEST_PANDA_PORT, max_cores=2, sample_interval=0.05
    )
    server.start_in_thread()
    os.environ["PANDA_AUTH_ID_TOKEN"] = server.token
    yield server
    server.close(kill_running=True)
    os.environ.pop("PANDA_AUTH_ID_TOKEN", None)


@pytest.fixture
def oidc_panda(tmp_path, monkeypatch):
    """A local PanDA issuing one-hour ID tokens; the PanDA client set for OIDC with its VO, no token yet.

    The client's token file is ``PANDA_CONFIG_ROOT/.token`` (``oidc_panda.client_dir``).
    """
    from lsst.ctrl.bps.panda.local.server import LocalPandaServer
    from lsst.ctrl.bps.panda.local.state.state_dir import StateDir

    for name in ("PANDA_AUTH_ID_TOKEN", "OIDC_AUTH_TOKEN_FILE", "OIDC_AUTH_ID_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PANDA_AUTH", "oidc")
    monkeypatch.setenv("PANDA_AUTH_VO", "local")
    monkeypatch.setenv("PANDA_CONFIG_ROOT", str(tmp_path / "client"))
    server = LocalPandaServer(
        StateDir(tmp_path / "state"), port=TEST_PANDA_PORT, max_cores=1, token_lifetime=3600
    )
    server.start_in_thread()
    server.client_dir = tmp_path / "client"
    yield server
    server.close(kill_running=True)


@pytest.fixture
def wait_request(idds_api):
    """Return a function that polls a request until it ends (bounded) and returns its record."""

    def wait(request_id, timeout=60.0, states=("Finished", "SubFinished", "Failed", "Cancelled")):
        deadline = time.monotonic() + timeout
        record = None
        while time.monotonic() < deadline:
            record = call_ok(idds_api.get_requests(request_id=request_id))[0]
            if record["status"].name in states:
                return record
            time.sleep(LOCAL_PANDA_POLL)
        raise AssertionError(f"request {request_id} did not reach {states} in {timeout} s: {record}")

    return wait


@pytest.fixture
def server_process(tmp_path):
    """Make `ServerProcess` objects; every process made is stopped at the end."""
    made = []

    def make(state_dir=None, max_jobs=2):
        process = ServerProcess(state_dir or tmp_path / "state", max_jobs)
        made.append(process)
        return process

    yield make
    for process in made:
        with contextlib.suppress(Exception):
            process.stop()
    os.environ.pop("PANDA_AUTH_ID_TOKEN", None)


@pytest.fixture
def unwrap():
    """Return `call_ok`, which gives the value of a successful relay call."""
    return call_ok


# --- The real PanDA relay and iDDS REST server (tests/wms/test_real_idds_contract.py) ----------------


@pytest.fixture(scope="session")
def real_servers():
    """PostgreSQL + the real iDDS REST app + the real PanDA server, for the whole session.

    Fails when ``.venv-real-idds`` is missing (``make test`` installs it).
    """
    python = required_servers_venv_python()
    servers = RealServers(python)
    atexit.register(servers.stop)  # also when the session dies without running finalizers
    servers.start()
    print(f"\nreal PanDA relay + iDDS REST started in {servers.startup_seconds:.1f} s")
    yield servers
    servers.stop()


@pytest.fixture
def real_panda(real_servers, monkeypatch):
    """Point the PanDA client at the real relay, as a user with a grid proxy; return the servers."""
    from pandaclient import Client

    monkeypatch.setattr(Client, "baseURLSSL", real_servers.panda_url)
    monkeypatch.setattr(Client, "baseURL", real_servers.panda_url)
    for name in ("PANDA_URL", "PANDA_URL_SSL", "PANDACACHE_URL"):
        monkeypatch.setenv(name, real_servers.panda_url)
    monkeypatch.setenv("PANDA_AUTH", "x509")
    monkeypatch.setenv("X509_USER_PROXY", str(real_servers.user_cert))
    monkeypatch.delenv("PANDA_AUTH_ID_TOKEN", raising=False)
    return real_servers
