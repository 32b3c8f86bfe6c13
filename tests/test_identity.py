# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The user name iDDS records for a caller, derived as the PanDA server derives it."""

import base64
import json

import pytest
from lsst.ctrl.bps.panda.identity import caller_identity, relay_user_name, token_dn, token_identity
from lsst.ctrl.bps.panda.local.core.token_authority import TokenAuthority
from support.real_servers import make_user_certificate


def _token(claims):
    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part(claims)}.signature"


@pytest.mark.parametrize(
    ("dn", "name"),
    [
        ("/DC=org/DC=example/OU=People/CN=Jane Tester", "Jane Tester"),
        ("/DC=ch/DC=cern/OU=Users/CN=jdoe/CN=123456/CN=John Doe/CN=proxy", "John Doe"),
        ("/DC=ch/DC=cern/OU=Users/CN=jdoe/CN=123456/CN=John Doe/CN=limited proxy", "John Doe"),
        ("Jane Tester/CN=nickname:jtester", "Jane Tester"),
        ("alice", "alice"),
    ],
)
def test_relay_user_name_cleans_a_dn_as_the_panda_server_does(dn, name):
    assert relay_user_name(dn) == name


def test_token_dn_prefers_the_title_cased_name_claim_then_sub():
    assert token_dn({"name": "jane TESTER", "sub": "x"}) == "Jane Tester"
    assert token_dn({"name": "jane tester", "preferred_username": "jt"}) == "Jane Tester/CN=nickname:jt"
    assert token_dn({"sub": "0f1e-uuid"}) == "0f1e-uuid"
    assert token_dn({}) is None


def test_token_identity_reads_the_claims_of_a_jwt_and_nothing_else():
    assert token_identity(_token({"name": "jane tester", "preferred_username": "jt"})) == "Jane Tester"
    local_token = TokenAuthority(b"k" * 32).mint(claims={"sub": "alice"})  # a local PanDA's token
    assert token_identity(local_token) == "alice"
    assert token_identity("opaque-token") is None


def test_caller_identity_comes_from_the_token_with_oidc(monkeypatch):
    monkeypatch.setenv("PANDA_AUTH", "oidc")
    monkeypatch.setenv("PANDA_AUTH_ID_TOKEN", _token({"name": "jane tester"}))
    assert caller_identity() == "Jane Tester"


def test_caller_identity_comes_from_pandaclients_cached_token_after_a_login(monkeypatch, tmp_path):
    monkeypatch.setenv("PANDA_AUTH", "oidc")
    monkeypatch.delenv("PANDA_AUTH_ID_TOKEN", raising=False)
    monkeypatch.delenv("OIDC_AUTH_TOKEN_FILE", raising=False)
    monkeypatch.delenv("OIDC_AUTH_ID_TOKEN", raising=False)
    monkeypatch.setenv("PANDA_CONFIG_ROOT", str(tmp_path))
    assert caller_identity() is None
    (tmp_path / ".token").write_text(json.dumps({"id_token": _token({"sub": "uuid-of-jane"})}))
    assert caller_identity() == "uuid-of-jane"


def test_caller_identity_comes_from_the_proxy_dn_with_x509(monkeypatch, tmp_path):
    proxy = make_user_certificate(tmp_path / "proxy.pem", "/DC=org/DC=example/CN=jdoe/CN=123/CN=John Doe")
    monkeypatch.setenv("PANDA_AUTH", "x509")
    monkeypatch.setenv("X509_USER_PROXY", str(proxy))
    assert caller_identity() == "John Doe"
    monkeypatch.setenv("X509_USER_PROXY", str(tmp_path / "missing.pem"))
    assert caller_identity() is None
