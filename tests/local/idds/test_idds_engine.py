# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The local PanDA on the real iDDS engine: workflows run by the real iDDS daemons.

The plugin's PanDA client talks to the local PanDA's relay, which forwards
to the real iDDS REST app; the real daemons (clerk, transformer, carrier,
conductor...) submit the PanDA tasks to the local PanDA's task/job API, and
its executor runs the jobs, released as iDDS's conductor says.  Each job
records when it starts and ends, so that the order of a run is checked
against its dependencies.  The real conductor waits a few seconds before it sends a
message (60 s in iDDS itself; 3 s as ``panda_local`` runs it).
"""

from __future__ import annotations

import gzip
import json
import subprocess
import time

import httpx
import pytest
from idds.common.utils import json_dumps
from lsst.ctrl.bps.panda.identity import token_identity
from support.local_panda import call_ok
from support.loopback import TEST_PANDA_PORT, TEST_PANDA_URL
from support.paths import ENVELOPES_DIR
from support.real_servers import servers_venv_python

# One worker runs the module: one iDDS stack (the module's idds_panda) rather than one per worker.
pytestmark = [
    pytest.mark.real_idds,
    pytest.mark.idds_engine,
    pytest.mark.real_servers,
    pytest.mark.xdist_group("idds_engine_module"),
    pytest.mark.timeout(600),
]

ENDED = ("Finished", "SubFinished", "Failed", "Cancelled")
REAL_ENVELOPES = ENVELOPES_DIR / "real"
POLL = 0.25
"""Seconds between looks at a request or a ledger (each look is one cheap call)."""

RUN_TIMEOUT = 240.0
"""Seconds a workflow may take (the conductor's 3 s per dependency level, 3 s daemon polls, a busy
machine)."""


def recording(log, body="true"):
    """A job command that notes its start and end (with times) in ``log``, running ``body``."""
    note = 'note() { echo "$1 ${IN/L} $(date +%s.%N)" | tee -a ' + str(log) + "; }"
    return f"{note}; note start; {body}; code=$?; note end; exit $code"


def events(log):
    """Return ``{(event, job): [times]}`` from a recording log."""
    seen: dict[tuple[str, str], list[float]] = {}
    for line in log.read_text().splitlines() if log.exists() else []:
        event, job, moment = line.split()
        seen.setdefault((event, job), []).append(float(moment))
    return seen


def monitor_page(server, path):
    """Return a monitor page (logged in with the token cookie), failing on any status but 200."""
    from lsst.ctrl.bps.panda.local.http.monitor_pages import COOKIE_NAME

    reply = httpx.get(
        f"http://127.0.0.1:{TEST_PANDA_PORT}/monitor{path}", cookies={COOKIE_NAME: server.token}, timeout=60
    )
    assert reply.status_code == 200, (path, reply.status_code, reply.text[:500])
    return reply.text


def wait_request(idds_api, request_id, states=ENDED, timeout=RUN_TIMEOUT):
    deadline = time.monotonic() + timeout
    record = None
    while time.monotonic() < deadline:
        records = call_ok(idds_api.get_requests(request_id=request_id))
        record = records[0] if records else None
        if record and record["status"].name in states:
            return record
        time.sleep(POLL)
    raise AssertionError(f"request {request_id} did not reach {states} in {timeout} s: {record}")


def test_workflow_runs_in_dependency_order(idds_panda, idds_api, shell_dag, tmp_path):
    log = tmp_path / "events.log"
    dag = shell_dag(f"order_{int(time.time())}")
    dag.task("first", {"f1": [], "f2": []}, recording(log))
    dag.task("second", {"s1": [("first", "f1")], "s2": [("first", "f1"), ("first", "f2")]}, recording(log))
    dag.final("final", recording(log), after=["second"])
    began = time.monotonic()
    request_id = call_ok(idds_api.submit(dag.workflow, username="someone_else"))
    record = wait_request(idds_api, request_id)
    print(f"\n3-task workflow on the real iDDS engine: {time.monotonic() - began:.0f} s")
    assert record["status"].name == "Finished"
    assert record["username"] == token_identity(idds_panda.token)
    detail = call_ok(idds_api.get_requests(request_id=request_id, with_detail=True))
    assert sorted(row["transform_status"].name for row in detail) == ["Finished"] * 3
    seen = events(log)
    assert {job for _, job in seen} == {"f1", "f2", "s1", "s2", "final_job"}
    assert all(len(times) == 1 for times in seen.values()), seen
    for child, parents in (("s1", ["f1"]), ("s2", ["f1", "f2"]), ("final_job", ["s1", "s2"])):
        for parent in parents:
            assert seen[("start", child)][0] >= seen[("end", parent)][0], (child, parent)
    # The monitor pages read the real iDDS, and find each PanDA job's log.
    second = next(row for row in detail if row["transform_name"].startswith("second"))
    page = monitor_page(idds_panda, f"/requests/{request_id}/tasks/{second['transform_id']}")
    assert "s1" in page and "s2" in page
    contents = call_ok(idds_api.get_contents_output_ext(request_id=request_id))
    job = next(r for r in contents[str(second["transform_id"])] if r["name"] == "s1")
    log_page = monitor_page(
        idds_panda, f"/requests/{request_id}/tasks/{second['transform_id']}/jobs/{job['content_id']}"
    )
    assert "start s1" in log_page


def run_flaky(idds_api, shell_dag, log, marker, with_child=False):
    """Run a workflow whose job ``bad`` fails once (``good`` passes); return its request id.

    ``with_child`` adds a task whose job ``child`` needs ``bad``: it runs only after a retry.
    """
    flaky = f'if [ "${{IN/L}}" = bad ] && [ ! -e {marker} ]; then touch {marker}; false; fi'
    dag = shell_dag(f"retry_{marker.name}_{int(time.time())}")
    dag.task("flaky", {"good": [], "bad": []}, recording(log, flaky))
    if with_child:
        dag.task("after", {"child": [("flaky", "bad")]}, recording(log))
    request_id = call_ok(idds_api.submit(dag.workflow))
    # iDDS ends a request whose pruned child never ran SubFinished or Failed, one without it SubFinished.
    ended = ("SubFinished", "Failed") if with_child else ("SubFinished",)
    assert wait_request(idds_api, request_id)["status"].name in ended
    assert ("start", "child") not in events(log)
    return request_id


def assert_retry_reran_only_bad(idds_api, request_id, log, with_child=False):
    record = wait_request(idds_api, request_id, states=("Finished", "Failed", "Cancelled"))
    assert record["status"].name == "Finished"
    seen = events(log)
    assert len(seen[("start", "good")]) == 1
    assert len(seen[("start", "bad")]) == 2
    if with_child:
        assert len(seen[("start", "child")]) == 1
        assert seen[("start", "child")][0] >= seen[("end", "bad")][1]


def test_retry_reruns_only_the_failed_job(idds_panda, idds_api, shell_dag, tmp_path):
    log = tmp_path / "events.log"
    request_id = run_flaky(idds_api, shell_dag, log, tmp_path / "failed_once")
    assert call_ok(idds_api.retry(request_id=request_id))[0][0] == 0
    assert_retry_reran_only_bad(idds_api, request_id, log)


def test_retry_whose_resume_events_find_the_transforms_locked_still_reruns_the_failed_job(
    idds_panda, idds_api, shell_dag, tmp_path
):
    """iDDS drops a resume event whose transform is locked when it arrives; idds_daemons.py retries it.

    Without the retry the rerun job finishes but its file stays final-failed, the child of the
    failed job is never released, and the request ends as before (seen in CI, where the clerk's
    own update held the transforms' rows when the transformer took the events).
    """
    log = tmp_path / "events.log"
    request_id = run_flaky(idds_api, shell_dag, log, tmp_path / "failed_once_locked", with_child=True)
    lock = (
        f"UPDATE doma_idds.transforms SET locking = 1 WHERE request_id = {request_id} RETURNING transform_id"
    )
    assert len(idds_sql(idds_panda, lock)) == 2  # as a daemon holds them while it updates them
    daemons_log = idds_panda.state.root / "idds" / "logs" / "daemons.log"
    missed = "Cannot find transform for event"
    misses_before = daemons_log.read_text().count(missed)
    assert call_ok(idds_api.retry(request_id=request_id))[0][0] == 0
    deadline = time.monotonic() + 60
    while daemons_log.read_text().count(missed) < misses_before + 2 and time.monotonic() < deadline:
        idds_sql(idds_panda, lock)
        time.sleep(0.5)
    assert daemons_log.read_text().count(missed) >= misses_before + 2  # both resume events found them locked
    idds_sql(idds_panda, f"UPDATE doma_idds.transforms SET locking = 0 WHERE request_id = {request_id}")

    assert_retry_reran_only_bad(idds_api, request_id, log, with_child=True)
    assert "process_resume_transform went through at try" in daemons_log.read_text()


def start_sleeper(idds_api, shell_dag, log, name):
    """Submit a one-job workflow whose job sleeps 10 minutes; return its request id once it started."""
    dag = shell_dag(f"{name}_{int(time.time())}")
    dag.task("slow", {"sleeper": []}, recording(log, "sleep 600"))
    request_id = call_ok(idds_api.submit(dag.workflow))
    deadline = time.monotonic() + RUN_TIMEOUT
    while ("start", "sleeper") not in events(log) and time.monotonic() < deadline:
        time.sleep(POLL)
    assert ("start", "sleeper") in events(log)
    return request_id


def test_cancel_kills_the_running_job(idds_panda, idds_api, shell_dag, tmp_path):
    log = tmp_path / "events.log"
    request_id = start_sleeper(idds_api, shell_dag, log, "cancel")
    assert call_ok(idds_api.abort(request_id=request_id))[0][0] == 0
    # iDDS 2.6.21 ends an aborted request Cancelled, or Failed when the abort event reaches the
    # transform while another daemon holds it (its work is Cancelled, the transform set Failed).
    assert wait_request(idds_api, request_id)["status"].name in ("Cancelled", "Failed")
    assert ("end", "sleeper") not in events(log)
    assert not idds_panda.engine.executor.running
    attempts = idds_panda.engine.store.connection().execute(
        "SELECT a.status FROM attempts a JOIN jobs j ON j.job_id = a.job_id WHERE j.name = 'sleeper'"
    )
    assert [row[0] for row in attempts] == ["cancelled"]


def idds_sql(server, statement):
    """Run one SQL statement on the stack's iDDS database (the servers' psycopg2); return its rows."""
    port = json.loads((server.state.root / "idds" / "stack.json").read_text())["ports"]["postgres"]
    script = (
        "import json, sys, psycopg2\n"
        f"connection = psycopg2.connect('postgresql://idds@127.0.0.1:{port}/idds')\n"
        "connection.autocommit = True\n"
        "cursor = connection.cursor()\n"
        "cursor.execute(sys.argv[1])\n"
        "print(json.dumps(cursor.fetchall() if cursor.description else [], default=str))\n"
    )
    done = subprocess.run(
        [str(servers_venv_python()), "-c", script, statement], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_cancel_arriving_while_the_clerk_holds_the_request_still_happens(
    idds_panda, idds_api, shell_dag, tmp_path
):
    """iDDS strands a command whose request is locked when the clerk takes it; idds_daemons.py frees it."""
    log = tmp_path / "events.log"
    request_id = start_sleeper(idds_api, shell_dag, log, "stranded")
    lock = f"UPDATE doma_idds.requests SET locking = 1 WHERE request_id = {request_id} RETURNING request_id"
    assert idds_sql(idds_panda, lock)  # as the clerk holds it while it updates the request
    assert call_ok(idds_api.abort(request_id=request_id))[0][0] == 0
    command = f"SELECT status, locking FROM doma_idds.commands WHERE request_id = {request_id}"
    deadline = time.monotonic() + 60
    while idds_sql(idds_panda, command) != [[0, 1]] and time.monotonic() < deadline:
        idds_sql(idds_panda, lock)  # the clerk may have unlocked it after its update
        time.sleep(0.5)
    assert idds_sql(idds_panda, command) == [[0, 1]]  # taken by the clerk, left new and locked
    idds_sql(idds_panda, f"UPDATE doma_idds.requests SET locking = 0 WHERE request_id = {request_id}")

    assert wait_request(idds_api, request_id, timeout=180)["status"].name in ("Cancelled", "Failed")
    assert ("end", "sleeper") not in events(log)
    assert idds_sql(idds_panda, command)[0][0] != 0  # the command was processed
    daemons_log = (idds_panda.state.root / "idds" / "logs" / "daemons.log").read_text()
    assert "Unlocked iDDS commands" in daemons_log


def relay_post(token, command, kwargs=None):
    """POST one command to the relay as ``pandaclient.idds_api`` does; return the parsed reply."""
    fields = {"command_name": command, "manager": True}
    if kwargs:
        fields["kwargs"] = json_dumps(kwargs)
    body = gzip.compress(json.dumps(fields).encode())
    reply = httpx.post(
        f"{TEST_PANDA_URL}/relay_idds_command", content=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert reply.status_code == 200, reply.text
    return reply.json()


@pytest.mark.parametrize(
    ("command", "kwargs", "real_envelope"),
    [
        ("ping", None, "ping"),
        ("get_requests", {"request_id": 987654}, "get_requests_unknown"),
        ("get_contents_output_ext", {"request_id": 987654}, "get_contents_output_ext_unknown"),
        ("abort", {"request_id": 987654}, "abort_unknown"),
        ("retry", {"request_id": 987654}, "retry_unknown"),
        ("no_such_command", None, "relay_unknown_command"),
    ],
)
def test_relay_replies_are_the_real_relays(idds_panda, command, kwargs, real_envelope):
    recorded = json.loads((REAL_ENVELOPES / f"{real_envelope}.json").read_text())
    assert relay_post(idds_panda.token, command, kwargs) == recorded


def test_new_request_records_have_the_real_keys(idds_panda, idds_api, shell_dag):
    dag = shell_dag(f"keys_{int(time.time())}")
    dag.task("only", {"one": []}, "sleep 30 # ${IN/L}")
    request_id = call_ok(idds_api.submit(dag.workflow))
    [record] = relay_post(idds_panda.token, "get_requests", {"request_id": request_id})[1]
    [real] = json.loads((REAL_ENVELOPES / "get_requests_new.json").read_text())[1]
    assert set(record) == set(real)
    assert call_ok(idds_api.abort(request_id=request_id))[0][0] == 0
