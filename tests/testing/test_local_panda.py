# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""LocalPandaSession: its environment, the order it needs, and what it says without the [local] extra."""

import sys

import pytest
from lsst.ctrl.bps.panda.errors import PandaEnvironmentError
from lsst.ctrl.bps.panda.testing.local_panda import LocalPandaSession


def test_the_environment_points_the_client_bps_and_jobs_at_the_session():
    session = LocalPandaSession(port=45678)
    env = session.environment()
    assert {env[name] for name in ("PANDA_URL", "PANDA_URL_SSL", "PANDACACHE_URL")} == {
        "http://127.0.0.1:45678/server/panda"
    }
    assert env["PANDA_AUTH"] == "oidc" and env["BPS_WMS_SERVICE_CLASS"] == "lsst.ctrl.bps.panda.PanDAService"
    assert {"CTRL_BPS_PANDA_DIR", "PANDA_LOCAL_PYTHON"} <= set(env)


def test_without_the_local_extra_it_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "flask", None)  # as after pip install without [local]
    with pytest.raises(PandaEnvironmentError, match=r"\[local\] extra \(flask missing\)"):
        LocalPandaSession(port=45678).start()


def test_a_client_imported_too_early_is_named(monkeypatch):
    from pandaclient import Client

    monkeypatch.setattr(Client, "baseURLSSL", "https://pandaserver.example/server/panda")
    with pytest.raises(PandaEnvironmentError, match="imported before the local PanDA's environment"):
        LocalPandaSession(port=45678).check_client_order()
