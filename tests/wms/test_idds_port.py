# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Faults at the HTTP boundary: every envelope becomes a result or one specific error.

A small fault relay on a loopback port answers with each failure the real PanDA relay
can produce (replies recorded from the real relay in ``lsst/ctrl/bps/panda/testing/envelopes/real/``, from the
local PanDA where the failure is its own); the real PanDA client talks to it over HTTP.
"""

import gzip
import json
import socket
import threading
import time

import pytest
from lsst.ctrl.bps import WmsStates
from lsst.ctrl.bps.panda import PanDAService
from lsst.ctrl.bps.panda.errors import (
    IddsCallError,
    IddsOutageError,
    IddsTransientError,
    IddsUnknownRequestError,
)
from lsst.ctrl.bps.panda.wms.idds_port import IddsPort
from support.paths import ENVELOPES_DIR

ENVELOPES = ENVELOPES_DIR


def _recorded(name):
    """A recorded reply: (HTTP status, body)."""
    text = (ENVELOPES / name).read_text()
    if name.startswith("http_"):
        reply = json.loads(text)
        return reply["status"], reply["body"]
    return 200, text


FAULTS = {
    "ok_ping": _recorded("real/ping.json"),
    "relay_error": _recorded("real/relay_unknown_command.json"),
    "idds_down": _recorded("real/idds_down.json"),
    "unknown_request_command": _recorded("real/abort_unknown.json"),
    "http_403": _recorded("http_403.json"),
    "http_401": _recorded("http_401.json"),
    # Not recorded: the shape of an error inside an iDDS call, a failure of a server or proxy.
    "idds_error": (200, json.dumps([True, [False, "Request 999 cannot be read"]])),
    "http_500": (500, "Internal Server Error"),
    # Server failures whose pages happen to use the words of an authentication refusal.
    "http_500_token": (500, "Internal Server Error: token cache unavailable, try again"),
    "http_502_url_401": (502, "Bad Gateway: no upstream for /panda401/server/panda/relay_idds_command"),
    "garbage": (200, "<html>not json</html>"),
    "odd_shape": (200, json.dumps({"unexpected": True})),
}


class FaultRelay:
    """A loopback HTTP server answering every relay call with one chosen fault."""

    def __init__(self):
        from waitress.server import create_server

        self.fault = "ok_ping"
        self.delay = 0.0
        self.calls = []
        self.server = create_server(self.app, host="127.0.0.1", port=0, threads=2)
        self.url = f"http://127.0.0.1:{self.server.effective_port}/server/panda"
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()

    def app(self, environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        if body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        self.calls.append(json.loads(body)["command_name"])
        time.sleep(self.delay)
        status, text = FAULTS[self.fault]
        start_response(f"{status} X", [("Content-Type", "application/json")])
        return [text.encode()]

    def close(self):
        # Close every socket from inside the server's own loop (closing them from this thread races
        # with its select); with its socket map empty the loop ends.
        self.server.task_dispatcher.shutdown(timeout=5)

        def close_all():
            for channel in list(self.server._map.values()):
                channel.close()

        self.server.trigger.pull_trigger(close_all)
        self.thread.join(timeout=5)
        assert not self.thread.is_alive(), "the fault relay did not stop"


@pytest.fixture
def relay(monkeypatch):
    from pandaclient import Client

    fault_relay = FaultRelay()
    monkeypatch.setattr(Client, "baseURLSSL", fault_relay.url)
    monkeypatch.setenv("PANDA_AUTH_ID_TOKEN", "test-token")
    yield fault_relay
    fault_relay.close()


@pytest.fixture
def port():
    return IddsPort(attempts=3, backoff=0.01)


def test_ok_reply_is_unwrapped(relay, port):
    assert port.ping() == {"Status": "OK"}


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("idds_error", "Request 999 cannot be read"),
        ("relay_error", "relay refused the call: no_such_command is not a command"),
        ("http_403", "refused the call.*Wrong bearer token.*PANDA_AUTH"),
        ("http_401", "refused the call.*Missing bearer token"),
        ("odd_shape", "unparsable"),
    ],
)
def test_permanent_errors_are_raised_once_and_not_retried(relay, port, fault, message):
    relay.fault = fault
    with pytest.raises(IddsCallError, match=message) as error:
        port.get_requests(request_id=99, with_detail=True)
    assert relay.calls == ["get_requests"]
    if fault == "idds_error":
        assert error.value.request_id == 99 and error.value.call == "get_requests"


@pytest.mark.parametrize(
    ("fault", "text"),
    [
        ("http_500", "Internal Server Error"),
        ("garbage", "not json"),
        ("http_500_token", "HTTP 500.*token cache"),
        ("http_502_url_401", "HTTP 502.*panda401"),
    ],
)
def test_server_errors_are_retried_a_bounded_number_of_times(relay, port, fault, text):
    relay.fault = fault
    with pytest.raises(IddsTransientError, match=text):
        port.get_requests(request_id=1)
    assert relay.calls == ["get_requests"] * 3


@pytest.mark.parametrize("call", ["get_requests", "submit"])
def test_idds_outage_behind_the_relay_is_retried_until_the_budget_is_spent(relay, call):
    relay.fault = "idds_down"
    port = IddsPort(attempts=1, backoff=0.05, outage_budget=0.5)
    with pytest.raises(IddsOutageError, match="unreachable behind the PanDA relay") as error:
        port.get_requests(request_id=1) if call == "get_requests" else port.submit({"not": "a workflow"})
    # Nothing reached iDDS, so even a submit is repeated, despite attempts=1; the budget ends it.
    assert len(relay.calls) >= 2 and set(relay.calls) == {call}
    assert "Connection exception" in str(error.value)


def test_outage_budget_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("PANDA_IDDS_OUTAGE_BUDGET", "7.5")
    assert IddsPort().outage_budget == 7.5
    assert IddsPort(outage_budget=2).outage_budget == 2


def test_unknown_request_in_a_command_is_its_own_error(relay, port):
    relay.fault = "unknown_request_command"
    with pytest.raises(IddsUnknownRequestError, match="no such request"):
        port.abort(987654)
    assert relay.calls == ["abort"]


def test_submit_is_not_repeated_after_the_server_saw_it(relay, port):
    relay.fault = "http_500"
    with pytest.raises(IddsTransientError, match="check with `bps report`"):
        port.submit({"not": "a workflow"})
    assert relay.calls == ["submit"]


def _closed_port_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/server/panda"


def test_refused_connection_is_retried_then_reported(monkeypatch, port):
    from pandaclient import Client

    monkeypatch.setattr(Client, "baseURLSSL", _closed_port_url())
    monkeypatch.setenv("PANDA_AUTH_ID_TOKEN", "test-token")
    monkeypatch.setattr(port, "backoff", 0.0)
    with pytest.raises(IddsTransientError, match="no answer from PanDA") as error:
        port.submit({"not": "a workflow"})
    assert error.value.sent is False  # refused: safe to retry even a submit


def test_client_that_would_need_an_interactive_login_is_a_clear_error(monkeypatch, port):
    from pandaclient import Client

    monkeypatch.setattr(Client, "baseURLSSL", _closed_port_url())
    monkeypatch.delenv("PANDA_AUTH_ID_TOKEN", raising=False)
    monkeypatch.delenv("OIDC_AUTH_TOKEN_FILE", raising=False)
    monkeypatch.setenv("PANDA_CONFIG_ROOT", "/nonexistent")
    with pytest.raises(IddsCallError, match="token"):
        port.ping()


def test_slow_answer_still_succeeds(relay, port):
    relay.delay = 1.5
    assert port.ping() == {"Status": "OK"}


@pytest.mark.parametrize(
    "fault", ["idds_error", "relay_error", "idds_down", "http_403", "http_500", "garbage"]
)
def test_every_verb_reports_failure_without_claiming_success(relay, monkeypatch, fault):
    relay.fault = fault
    service = PanDAService({})
    monkeypatch.setattr(service, "_port", IddsPort(attempts=2, backoff=0.0, outage_budget=0.0))
    assert service.get_status("7")[0] == WmsStates.UNKNOWN
    reports, message = service.report("7")
    assert reports == [] and message
    assert service.cancel("7")[0] is False
    assert service.restart("7")[0] is None
    assert service.ping(None)[0] != 0


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            [[0, {"status": 0, "message": "Command registered successfully"}]],
            "Command registered successfully",
        ),
        ([0, {"status": 0, "message": "ok"}], "ok"),
    ],
)
def test_command_replies_are_read_in_their_variants(reply, expected):
    port = IddsPort(
        api_factory=lambda server: type("Api", (), {"abort": lambda self, **kw: (0, [True, reply])})()
    )
    assert port.abort(5) == expected


def test_command_reply_with_error_status_raises():
    reply = [[0, {"status": 1, "message": "Request 5 is already terminated"}]]
    port = IddsPort(
        api_factory=lambda server: type("Api", (), {"retry": lambda self, **kw: (0, [True, reply])})()
    )
    with pytest.raises(IddsCallError, match="already terminated"):
        port.retry(5)


def test_without_an_http_status_the_words_of_a_refusal_are_the_last_resort():
    from lsst.ctrl.bps.panda.wms.idds_port import _raise_failure

    with pytest.raises(IddsCallError, match="PANDA_AUTH"):
        _raise_failure("ping", None, None, "401 Unauthorized")
    with pytest.raises(IddsTransientError) as error:
        _raise_failure("ping", None, None, "Failed with [Errno 111] Connection refused")
    assert error.value.sent is False


def test_a_client_error_that_is_no_auth_refusal_says_so(relay, port):
    from lsst.ctrl.bps.panda.wms import idds_port

    relay.fault = "http_403"
    with pytest.raises(IddsCallError, match="HTTP 403"):
        port.ping()
    assert idds_port._STATUS_PROBE.status == 403  # the probe sees what the client folds into 255


def test_a_client_of_the_callers_own_gets_ids_as_strings_and_its_failure_code_is_a_refusal():
    calls = []

    class OwnClient:
        def get_requests(self, request_id, with_detail):
            calls.append(request_id)
            return (1, "no such thing") if request_id == "13" else (0, [True, []])

    port = IddsPort(api_factory=lambda server: OwnClient(), attempts=3, backoff=30)
    assert port.get_requests(request_id=12) == []
    started = time.monotonic()
    with pytest.raises(IddsCallError, match="the iDDS client answered 1: 'no such thing'"):
        port.get_requests(request_id="13")
    assert calls == ["12", "13"] and time.monotonic() - started < 30  # refused: not retried


def test_a_caller_the_relay_does_not_let_through_is_a_refusal():
    reply = (0, [True, "Authentication no permission for dn=/CN=x"])
    with pytest.raises(IddsCallError, match="refused the caller"):
        IddsPort.unwrap("get_requests", 1, reply)


@pytest.mark.real_servers
def test_relay_clients_of_two_formats_keep_their_own_format(local_panda, tmp_path):
    from lsst.ctrl.bps.panda.wms.idds_port import RelayClient
    from support.bps_configs import make_config
    from support.service_runs import LOCAL_SITE, shell_workflow, submit

    config = make_config(str(tmp_path / "submit"), site=LOCAL_SITE)
    _, prepared = submit(config, shell_workflow("wf", {"j": ("a", "true")}), tmp_path / "submit")
    plain = RelayClient(decode=False)
    decoded = RelayClient()

    assert plain.ping() == (0, [True, {"Status": "OK"}])  # configures pandaclient's one API object
    status = decoded.get_requests(request_id=prepared.run_id)[1][1][0]["status"]
    assert status.name in ("New", "Transforming", "Finished")  # still rebuilt as an enum
    record = plain.get_requests(request_id=prepared.run_id)[1][1][0]
    assert record["status"]["attributes"]["_name_"] in ("New", "Transforming", "Finished")
