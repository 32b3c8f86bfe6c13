# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Contract tests: the plugin against the real PanDA relay and the real iDDS REST server.

The servers are the released code (panda-server 1.0.4, idds-server 2.6.21 on PostgreSQL), started
once per session by the ``real_servers`` fixture.  No iDDS daemons run: requests stay New, which is
what a user sees right after submitting.  Every call the plugin makes is made here through
`PanDAService` (and the user-facing ones through the ``bps`` command line), and what the user sees
is asserted.  Run them alone with ``make test-real-idds`` (``pytest -m real_idds``).
"""

import socket

import pytest
from lsst.ctrl.bps import WmsStates
from lsst.ctrl.bps.panda import PanDAService
from lsst.ctrl.bps.panda.errors import IddsCallError, IddsOutageError, IddsUnknownRequestError
from lsst.ctrl.bps.panda.identity import caller_identity
from lsst.ctrl.bps.panda.wms.idds_port import IddsPort
from support.bps_configs import make_config
from support.contract_runs import SITE, bps, shell_workflow
from support.real_servers import USER_DN

# The session's real relay and iDDS (conftest's real_servers) start once, on the worker of this group.
pytestmark = [
    pytest.mark.real_idds,
    pytest.mark.real_servers,
    pytest.mark.xdist_group("real_relay"),
    pytest.mark.timeout(300),
]

UNKNOWN = "987654"
NO_RECORDS = f"No records found for workflow id {UNKNOWN!r}. Hint: double check the id"


def submit(tmp_path, name="contract", **overrides):
    """Prepare and submit a workflow through PanDAService; return (service, run id, submit dir)."""
    submit_dir = tmp_path / "submit" / name
    config = make_config(str(submit_dir), site=SITE, **overrides)
    service = PanDAService(config)
    prepared = service.prepare(config, shell_workflow(name), str(submit_dir))
    service.submit(prepared)
    return service, prepared.run_id, submit_dir


def _closed_port_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/idds"


def test_ping_answers_ok(real_panda):
    assert PanDAService({}).ping(None) == (0, "")
    PanDAService({}).run_submission_checks()


def test_submit_records_the_request_and_the_report_right_after_names_it(real_panda, tmp_path):
    service, run_id, submit_dir = submit(tmp_path)
    assert int(run_id) > 0
    assert f'"request_id": {run_id}' in (submit_dir / "panda_request.json").read_text()

    # Before iDDS's daemons act the detailed record has request_id and every transform_* None.
    (report,), message = PanDAService({}).report(run_id, return_exit_codes=True)
    assert message == ""
    assert (report.wms_id, report.run, report.state) == (run_id, "contract", WmsStates.RUNNING)
    assert report.total_number_jobs == 0 and report.exit_code_summary == {}
    assert PanDAService({}).get_status(run_id) == (WmsStates.RUNNING, "")
    (by_dir,), _ = PanDAService({}).report(str(submit_dir))
    assert by_dir.wms_id == run_id and by_dir.path == str(submit_dir)


def test_submit_in_steps_gets_one_request_id(real_panda, tmp_path):
    service, run_id, submit_dir = submit(tmp_path, name="stepped", maxRequestLength=600, maxJobsPerTask=1)
    assert int(run_id) > 0
    assert any((submit_dir / "idds_request_cache").iterdir())  # iDDS wrote its step files there
    assert PanDAService({}).get_status(run_id)[0] == WmsStates.RUNNING


def test_idds_records_the_callers_identity_not_the_local_user_name(real_panda, tmp_path):
    _, run_id, _ = submit(tmp_path, name="mine")
    (record,) = IddsPort().get_requests(request_id=run_id)
    assert record["username"] == "Jane Tester" == caller_identity()  # from the proxy's DN
    assert USER_DN.endswith(record["username"])


def test_listing_without_id_finds_the_callers_requests(real_panda, tmp_path, monkeypatch):
    _, run_id, _ = submit(tmp_path, name="listed")
    monkeypatch.chdir(tmp_path)
    summaries, message = PanDAService({}).report()
    assert message == "" and run_id in [r.wms_id for r in summaries]
    assert run_id in PanDAService({}).list_submitted_jobs()
    assert PanDAService({}).list_submitted_jobs(user="Somebody Else") == []


def test_listing_falls_back_to_the_submit_directories_without_a_credential(real_panda, tmp_path, monkeypatch):
    _, run_id, _ = submit(tmp_path, name="recorded")
    monkeypatch.setattr("lsst.ctrl.bps.panda.panda_service.caller_identity", lambda: None)
    monkeypatch.chdir(tmp_path)
    assert PanDAService({}).list_submitted_jobs() == [run_id]
    monkeypatch.chdir(tmp_path / "submit" / "recorded")  # no ./submit here: nothing is the caller's
    assert PanDAService({}).list_submitted_jobs() == []


def test_job_records_of_a_new_request_are_empty_and_no_exit_code_is_invented(real_panda, tmp_path):
    _, run_id, _ = submit(tmp_path, name="contents")
    assert IddsPort().get_contents_output_ext(run_id) == {}
    (report,), _ = PanDAService({}).report(run_id, return_exit_codes=True)
    assert report.exit_code_summary == {}


def test_cancel_is_registered_and_restart_waits_for_the_end(real_panda, tmp_path):
    _, run_id, _ = submit(tmp_path, name="commands")
    ok, message = PanDAService({}).cancel(run_id)
    assert ok and "Command registered successfully" in message
    assert PanDAService({}).restart(run_id) == (
        None,
        None,
        f"Request {run_id} is still RUNNING; restart it once it has ended",
    )
    assert IddsPort().retry(run_id) == "Command registered successfully"


def test_unknown_request_id_is_reported_not_invented(real_panda):
    service = PanDAService({})
    assert service.get_status(UNKNOWN) == (WmsStates.UNKNOWN, NO_RECORDS)
    assert service.report(UNKNOWN) == ([], NO_RECORDS)
    assert service.cancel(UNKNOWN) == (False, f"iDDS abort for request {UNKNOWN} failed: no such request")
    assert service.restart(UNKNOWN) == (None, None, NO_RECORDS)
    assert service.list_submitted_jobs(wms_id=UNKNOWN) == []
    assert IddsPort().get_contents_output_ext(UNKNOWN) == {}
    with pytest.raises(IddsUnknownRequestError, match="no such request"):
        IddsPort().retry(UNKNOWN)


def test_unknown_command_is_refused_by_the_relay(real_panda):
    port = IddsPort()
    with pytest.raises(IddsCallError, match="no_such_command is not a command of iDDS ClientManager"):
        port._call("no_such_command")


def test_idds_server_setting_is_ignored_when_the_panda_server_sets_idds_host(real_panda):
    # Difference 6: the relay's iDDS client takes IDDS_HOST from the PanDA server's environment
    # before the host the caller names (`iddsServer`, sent as "command+host").
    service = PanDAService({"iddsServer": _closed_port_url()})
    assert service.ping(None) == (0, "")


def test_idds_outage_behind_the_relay_is_retried_within_a_budget_then_clear(real_panda, monkeypatch):
    relay = real_panda.start_relay(idds_host=_closed_port_url())
    from pandaclient import Client

    monkeypatch.setattr(Client, "baseURLSSL", relay)
    # The relay spends ~20-26 s on its own retries, so a 1 s budget allows no second call.  Naming
    # the working iDDS (iddsServer) does not help: this relay's IDDS_HOST wins (difference 6).
    port = IddsPort(idds_server=real_panda.idds_url, outage_budget=1.0, backoff=0.1)
    with pytest.raises(IddsOutageError, match="unreachable behind the PanDA relay.*1 tries") as error:
        port.get_requests(request_id=1)
    assert "Connection exception" in str(error.value)
    # What the user sees: not "no such request" nor a permanent refusal, but the outage.
    ping = bps(real_panda, "ping", panda_url=relay, extra_env={"PANDA_IDDS_OUTAGE_BUDGET": "1"})
    assert ping.returncode != 0
    assert "iDDS stayed unreachable behind the PanDA relay" in ping.stdout + ping.stderr


def test_bps_command_line_through_the_real_relay(real_panda, tmp_path):
    _, run_id, _ = submit(tmp_path, name="clirun")

    ping = bps(real_panda, "ping")
    assert ping.returncode == 0, ping.stderr

    status = bps(real_panda, "status", "--id", run_id)
    assert status.returncode == WmsStates.RUNNING.value, status.stdout + status.stderr

    report = bps(real_panda, "report", "--id", run_id)
    assert report.returncode == 0, report.stderr
    row = next(line for line in report.stdout.splitlines() if "clirun" in line)
    assert "RUNNING" in row and f" {run_id} " in row and " None " not in row

    listing = bps(real_panda, "report", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert run_id in listing.stdout and "Jane Tester" in listing.stdout

    unknown = bps(real_panda, "report", "--id", UNKNOWN)
    assert NO_RECORDS in unknown.stdout + unknown.stderr

    restart = bps(real_panda, "restart", "--id", run_id)
    assert "still RUNNING" in restart.stdout + restart.stderr

    cancel = bps(real_panda, "cancel", "--id", run_id)
    assert cancel.returncode == 0, cancel.stderr
    assert f"Successfully canceled job with id '{run_id}'" in cancel.stdout

    cancel_unknown = bps(real_panda, "cancel", "--id", UNKNOWN)
    assert "Successfully canceled" not in cancel_unknown.stdout
