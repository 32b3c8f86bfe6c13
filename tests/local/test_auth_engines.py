# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The local PanDA's JWT auth model on the ``idds`` engine.

The relay forwards each call to iDDS under the identity named by the caller's own token (as a
real PanDA server does); the daemons' PanDA API takes the server's own token and refuses expired
and foreign ones.  The iDDS REST service is a small recorder of what the real iDDS client sends
(the headers ``set_original_user`` adds): the runs on the real iDDS are in
``test_idds_engine.py``.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from lsst.ctrl.bps.panda.identity import relay_user_name, token_dn
from lsst.ctrl.bps.panda.local.core.token_authority import TokenAuthority, owner_claims
from lsst.ctrl.bps.panda.local.idds.idds_engine import IddsEngine
from lsst.ctrl.bps.panda.local.server import LocalPandaServer
from lsst.ctrl.bps.panda.local.state.state_dir import StateDir
from support.loopback import TEST_PANDA_PORT

pytestmark = pytest.mark.real_servers

ORIGINAL_USER = "X-IDDS-Auth-Username-Original"
"""The header the iDDS client sends the relay's ``set_original_user`` name in."""


class _Recorder(BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        type(self).seen.append(dict(self.headers))
        body = b"[]"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class RecordingStack:
    """Stands in for the iDDS stack: its REST service records each call's headers."""

    def __init__(self, state: StateDir) -> None:
        self.proxy = state.root / "proxy"
        self.proxy.write_text("placeholder")  # the iDDS client wants a proxy file even over http
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
        self.rest_url = f"http://127.0.0.1:{self.http.server_port}/idds"
        self.config_root = state.root / "idds_client"
        self.token_file = None

    def start(self, panda_url, notifier_url, notifier_token, notifier_token_file=None) -> None:
        self.token_file = notifier_token_file
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def client_env(self) -> dict[str, str]:
        return {"X509_USER_PROXY": str(self.proxy), "IDDS_LOCAL_CONFIG_ROOT": str(self.config_root)}

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def idds_engine(tmp_path):
    """A local PanDA with the idds engine whose iDDS REST service records the calls."""
    _Recorder.seen = []
    server = LocalPandaServer(
        StateDir(tmp_path / "state"), port=TEST_PANDA_PORT, engine=IddsEngine(stack_factory=RecordingStack)
    )
    server.start_in_thread()
    yield server
    server.close(kill_running=True)
    os.environ.pop("PANDA_AUTH_ID_TOKEN", None)


def test_relay_forwards_each_callers_identity_from_its_token(idds_engine, idds_api, monkeypatch):
    assert idds_engine.authority is not None
    callers = [
        {"sub": "alice", "name": "alice liddell", "preferred_username": "alice"},
        {"sub": "bob", "preferred_username": "bob"},
    ]
    for claims in callers:
        monkeypatch.setenv("PANDA_AUTH_ID_TOKEN", idds_engine.authority.mint(claims=claims))
        status, reply = idds_api.get_requests(request_id=1)
        assert status == 0 and reply[0] is True, reply
    names = [headers.get(ORIGINAL_USER) for headers in _Recorder.seen]
    assert names == ["Alice Liddell", "bob"]
    assert names == [relay_user_name(token_dn(claims) or "") for claims in callers]


@pytest.mark.parametrize("kind", ["expired", "foreign"])
def test_relay_forwards_nothing_for_a_token_it_does_not_accept(idds_engine, idds_api, monkeypatch, kind):
    assert idds_engine.authority is not None
    if kind == "expired":
        token = idds_engine.authority.mint(claims={"sub": "alice"}, now=time.time() - 2 * 86400)
    else:
        token = TokenAuthority(b"another local PanDA's key, 32 bytes").mint(claims={"sub": "alice"})
    monkeypatch.setenv("PANDA_AUTH_ID_TOKEN", token)
    status, reply = idds_api.get_requests(request_id=1)
    assert status != 0 or reply[0] is not True, reply
    assert _Recorder.seen == []


def _api_status(path: str, token: str, body: bytes | None = None) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{TEST_PANDA_PORT}{path}", data=body, headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status
    except urllib.error.HTTPError as refused:
        return refused.code


def test_daemons_call_with_the_servers_token_and_expired_tokens_are_refused(idds_engine):
    stack, authority = idds_engine.workflow_engine.stack, idds_engine.authority
    assert stack.token_file == idds_engine.state.token_path
    daemons_token = stack.token_file.read_text().strip()
    assert authority.verify(daemons_token)["sub"] == owner_claims()["sub"]  # signed here, for the owner
    message = json.dumps({"messages": []}).encode()
    assert _api_status("/api/v1/task/get_status?task_id=1", daemons_token) == 200
    assert _api_status("/local/idds/messages", daemons_token, message) == 200
    expired = authority.mint(now=time.time() - 2 * 86400)
    assert _api_status("/api/v1/task/get_status?task_id=1", expired) == 401
    assert _api_status("/local/idds/messages", expired, message) == 401


def test_server_renews_its_own_token_before_it_expires(local_panda):
    """The daemons and the notifier read ``<state>/token`` at each call: a long-running server renews it."""
    state = local_panda.state
    authority = TokenAuthority(state.signing_key())
    short = authority.mint("id", lifetime=2 * 86400.0)
    state.token_path.write_text(short)
    assert local_panda.keep_token_fresh() is False  # checked at start: not again within the hour
    assert local_panda.keep_token_fresh(interval=0.0) is True
    renewed = state.read_token()
    assert renewed != short and authority.seconds_left(renewed) > 29 * 86400
    assert local_panda.keep_token_fresh(interval=0.0) is True
    assert state.read_token() == renewed  # more than a week left: kept
