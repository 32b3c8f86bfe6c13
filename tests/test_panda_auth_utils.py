# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The published token functions (``panda_auth_utils``) against the local PanDA's identity provider."""

import json
import time

import pytest
from lsst.ctrl.bps.panda import panda_auth_utils
from lsst.ctrl.bps.panda.errors import AuthError
from lsst.ctrl.bps.panda.panda_exceptions import (
    PandaAuthError,
    TokenExpiredError,
    TokenNotFoundError,
    TokenTooEarlyError,
)

HOUR = 3600.0


def write_login(server, issued_ago):
    """Write the client's token file as a login ``issued_ago`` seconds ago left it; return its ID token."""
    now = time.time()
    server.client_dir.mkdir(parents=True, exist_ok=True)
    id_token = server.authority.mint("id", now=now - issued_ago)
    refresh = server.authority.mint("refresh", now=now)
    (server.client_dir / ".token").write_text(json.dumps({"id_token": id_token, "refresh_token": refresh}))
    return id_token


def test_an_environment_without_oidc_is_an_os_error_naming_the_variable(monkeypatch):
    monkeypatch.delenv("PANDA_AUTH", raising=False)
    with pytest.raises(OSError, match="PANDA_AUTH") as raised:
        panda_auth_utils.panda_auth_status()
    assert isinstance(raised.value, AuthError) and raised.value.code == 1


def test_the_oidc_helper_is_the_one_named_in_this_module_when_called(monkeypatch):
    built = []

    class Recorder:
        def __init__(self, auth_config_url, log_stream=None, verbose=False):
            built.append((auth_config_url, verbose))

    monkeypatch.setenv("PANDA_AUTH", "oidc")
    monkeypatch.setenv("PANDA_AUTH_VO", "Rubin")
    monkeypatch.setattr(panda_auth_utils, "OpenIdConnect_Utils", Recorder)
    assert isinstance(panda_auth_utils.panda_auth_setup(verbose=True), Recorder)
    assert built[0][0].endswith("/auth/Rubin_auth_config.json") and built[0][1] is True


@pytest.mark.real_servers
def test_refresh_renews_a_token_near_expiry_and_returns_its_new_status(oidc_panda, capsys):
    write_login(oidc_panda, issued_ago=HOUR - 600)
    before = panda_auth_utils.panda_auth_expiration()

    status = panda_auth_utils.panda_auth_refresh(days=1)

    assert status["exp"] > before and status["filename"] == str(oidc_panda.client_dir / ".token")
    assert "Success to refresh token" in capsys.readouterr().out


@pytest.mark.real_servers
def test_refresh_refuses_an_expired_or_too_fresh_token_as_published(oidc_panda):
    write_login(oidc_panda, issued_ago=2 * HOUR)
    with pytest.raises(TokenExpiredError):
        panda_auth_utils.panda_auth_refresh(days=4)
    write_login(oidc_panda, issued_ago=0)
    with pytest.raises(TokenTooEarlyError, match="0.01 day"):
        panda_auth_utils.panda_auth_refresh(days=0.01)  # 14 minutes; the token has an hour


@pytest.mark.real_servers
def test_without_a_token_status_is_none_and_refresh_names_the_missing_file(oidc_panda):
    assert panda_auth_utils.panda_auth_status() is None
    assert panda_auth_utils.panda_auth_expiration() == 0
    with pytest.raises(TokenNotFoundError) as raised:
        panda_auth_utils.panda_auth_refresh()
    assert isinstance(raised.value, PandaAuthError) and raised.value.code == 2
