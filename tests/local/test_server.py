# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The relay over HTTP: auth, envelopes, errors, record keys; recorded envelopes stay true.

Set ``PANDA_LOCAL_RECORD_ENVELOPES=1`` to rewrite ``lsst/ctrl/bps/panda/testing/envelopes/*.json`` from the
running server (the files are the reply bodies, byte for byte).
"""

import gzip
import json
import os
import sys
import time

import httpx
import pytest
from idds.common.utils import json_dumps
from support.loopback import TEST_PANDA_URL
from support.paths import ENVELOPES_DIR

pytestmark = [pytest.mark.real_servers, pytest.mark.timeout(120)]

RELAY = f"{TEST_PANDA_URL}/relay_idds_command"
ENVELOPES = ENVELOPES_DIR
RECORD = os.environ.get("PANDA_LOCAL_RECORD_ENVELOPES") == "1"

REQUEST_KEYS = {
    "request_id",
    "scope",
    "name",
    "requester",
    "request_type",
    "username",
    "userdn",
    "transform_tag",
    "workload_id",
    "priority",
    "status",
    "substatus",
    "locking",
    "created_at",
    "updated_at",
    "next_poll_at",
    "accessed_at",
    "expired_at",
    "errors",
}
DETAIL_KEYS = REQUEST_KEYS | {
    "transform_id",
    "transform_type",
    "transform_name",
    "transform_workload_id",
    "transform_status",
    "transform_created_at",
    "transform_updated_at",
    "transform_finished_at",
    "input_coll_scope",
    "input_coll_name",
    "input_coll_status",
    "input_coll_bytes",
    "input_total_files",
    "input_processed_files",
    "input_processing_files",
    "input_new_files",
    "input_failed_files",
    "input_missing_files",
    "output_coll_scope",
    "output_coll_name",
    "output_coll_status",
    "output_coll_bytes",
    "output_total_files",
    "output_processed_files",
    "output_processing_files",
    "output_new_files",
    "output_failed_files",
    "output_missing_files",
}
CONTENT_KEYS = {
    "content_id",
    "transform_id",
    "request_id",
    "workload_id",
    "map_id",
    "scope",
    "name",
    "status",
    "panda_id",
    "attempt_nr",
    "max_attempt",
    "job_status",
    "trans_exit_code",
    "pilot_error_code",
    "pilot_error_diag",
    "jedi_task_id",
    "start_time",
    "end_time",
}


def _post(command, token, args=None, kwargs=None, compress=True):
    fields = {"command_name": command, "manager": True}
    if args:
        fields["args"] = json_dumps(args)
    if kwargs:
        fields["kwargs"] = json_dumps(kwargs)
    body = (
        gzip.compress(json.dumps(fields).encode())
        if compress
        else httpx.QueryParams(fields).__str__().encode()
    )
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.post(RELAY, content=body, headers=headers, timeout=30)


def _envelope(name, reply):
    """Check a reply against its recorded envelope (or record it); return the parsed body."""
    path = ENVELOPES / f"{name}.json"
    if RECORD:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(reply.text)
    assert path.exists(), f"missing recorded envelope {path}; run with PANDA_LOCAL_RECORD_ENVELOPES=1"
    body, recorded = reply.json(), json.loads(path.read_text())
    assert _shape(body) == _shape(recorded), f"reply of {name} no longer has the recorded shape"
    return body


def _shape(value):
    """Structure of a JSON value: keys and types, with lists reduced to their first element."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()} if "class" not in value else value["class"]
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__ if value is not None else None


def _wait(token, request_id, timeout=30, until_not=("New", "Transforming")):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = _post("get_requests", token, kwargs={"request_id": request_id}).json()[1][0]
        if record["status"]["attributes"]["_name_"] not in until_not:
            return record
        time.sleep(0.02)
    raise AssertionError(f"request {request_id} still {until_not}")


def test_ping_through_the_real_client(local_panda, idds_api):
    assert idds_api.ping() == (0, [True, {"Status": "OK"}])


def test_request_without_token_is_401_and_does_nothing(local_panda, shell_dag):
    dag = shell_dag("unauthenticated")
    dag.task("t", {"t1": []}, "true")
    reply = _post("submit", None, args=[dag.workflow])
    assert reply.status_code == 401 and "bearer token" in reply.text.lower()
    _envelope("http_401", httpx.Response(200, text=json.dumps({"status": 401, "body": reply.text})))
    assert _post("get_requests", local_panda.token).json() == [True, []]


def test_request_with_wrong_token_is_403_and_does_nothing(local_panda, shell_dag):
    dag = shell_dag("wrong_token")
    dag.task("t", {"t1": []}, "true")
    reply = _post("submit", local_panda.token + "x", args=[dag.workflow])
    assert reply.status_code == 403
    _envelope("http_403", httpx.Response(200, text=json.dumps({"status": 403, "body": reply.text})))
    assert _post("get_requests", local_panda.token).json() == [True, []]


def test_client_reports_a_refused_token_as_255_and_the_reply_text(local_panda, idds_api, monkeypatch):
    # call_idds_command turns any non-200 reply into (EC_Failed=255, body text).
    monkeypatch.setenv("PANDA_AUTH_ID_TOKEN", "not-the-token")
    status, text = idds_api.ping()
    assert status == 255 and "Wrong bearer token" in text


def test_body_naming_a_forbidden_class_is_rejected_and_imports_nothing(local_panda, tmp_path, monkeypatch):
    marker = tmp_path / "imported"
    (tmp_path / "panda_local_probe.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass Probe: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    forbidden = {"class": "Probe", "module": "panda_local_probe", "attributes": {}}
    raw = gzip.compress(
        json.dumps({"command_name": "submit", "args": json.dumps([forbidden]), "manager": True}).encode()
    )
    reply = httpx.post(RELAY, content=raw, headers={"Authorization": f"Bearer {local_panda.token}"})
    body = _envelope("error_forbidden_class", reply)
    assert body[0] is True and body[1][0] is False and "is not allowed" in body[1][1]
    assert not marker.exists() and "panda_local_probe" not in sys.modules
    assert _post("get_requests", local_panda.token).json() == [True, []]


def test_form_encoded_body_is_served(local_panda):
    reply = _post("ping", local_panda.token, compress=False)
    assert _envelope("ping", reply) == [True, {"Status": "OK"}]


def test_unknown_command_is_a_relay_failure(local_panda):
    body = _envelope("relay_unknown_command", _post("drop_all_tables", local_panda.token))
    assert body[0] is False and "not a command" in body[1]


@pytest.mark.parametrize(
    ("command", "kwargs", "real_envelope"),
    [
        ("get_requests", {"request_id": 999}, "get_requests_unknown"),
        ("get_requests", {"request_id": 999, "with_detail": True}, "get_requests_unknown"),
        ("get_contents_output_ext", {"request_id": 999}, "get_contents_output_ext_unknown"),
        ("abort", {"request_id": 999}, "abort_unknown"),
        ("retry", {"request_id": 999}, "retry_unknown"),
    ],
)
def test_unknown_request_is_answered_as_real_idds_answers(local_panda, command, kwargs, real_envelope):
    body = _post(command, local_panda.token, kwargs=kwargs).json()
    assert body == json.loads((ENVELOPES / "real" / f"{real_envelope}.json").read_text())


def test_errors_inside_calls_come_as_false_and_message(local_panda, idds_api):
    token = local_panda.token
    body = _envelope("error_bad_arguments", _post("abort", token, kwargs={"request_idd": 1}))
    assert body[0] is True and body[1][0] is False and "request_idd" in body[1][1]
    assert idds_api.retry(request_id="seven") == (
        0,
        [True, [False, "request_id must be an integer, got 'seven'"]],
    )


def test_replies_carry_idds_record_keys_and_enums(local_panda, shell_dag):
    token = local_panda.token
    dag = shell_dag("records")
    dag.task("a", {"a1": [], "a2": []}, "test ${IN/L} = a1 || exit 9")
    dag.task("b", {"b1": [("a", "a1")]}, "sleep 0.5")
    dag.final("final", "true", after=["b"])
    request_id = _envelope("submit", _post("submit", token, args=[dag.workflow]))[1]
    _wait(token, request_id, until_not=("New",))
    running = _envelope(
        "get_requests_detail_running",
        _post("get_requests", token, kwargs={"request_id": request_id, "with_detail": True}),
    )
    assert running[1][0]["status"]["attributes"]["_name_"] == "Transforming"
    _wait(token, request_id)

    plain = _envelope("get_requests", _post("get_requests", token, kwargs={"request_id": str(request_id)}))[1]
    assert len(plain) == 1 and REQUEST_KEYS <= plain[0].keys()
    assert plain[0]["status"] == {
        "class": "RequestStatus",
        "module": "idds.common.constants",
        "attributes": {"_value_": 4, "_name_": "SubFinished", "_sort_order_": 4},
    }
    detail = _envelope(
        "get_requests_detail",
        _post("get_requests", token, kwargs={"request_id": request_id, "with_detail": True}),
    )[1]
    assert [row["transform_name"] for row in detail] == ["a", "b", "final"]
    assert all(DETAIL_KEYS <= row.keys() for row in detail)
    assert detail[0]["transform_status"]["class"] == "TransformStatus"
    assert isinstance(detail[0]["created_at"], str) and detail[0]["created_at"].endswith("UTC")

    contents = _envelope(
        "get_contents_output_ext", _post("get_contents_output_ext", token, kwargs={"request_id": request_id})
    )[1]
    assert set(contents) == {str(row["transform_id"]) for row in detail}
    jobs = [job for group in contents.values() for job in group]
    assert all(CONTENT_KEYS <= job.keys() for job in jobs)
    assert sorted(job["map_id"] for job in contents[str(detail[0]["transform_id"])]) == [1, 2]  # 1-based
    failed = next(job for job in jobs if job["name"] == "a2")
    assert (failed["status"], failed["trans_exit_code"], failed["attempt_nr"]) == ("FinalFailed", 9, 1)

    by_task = _post(
        "get_contents_output_ext",
        token,
        kwargs={"request_id": request_id, "workload_id": detail[1]["transform_workload_id"]},
    ).json()[1]
    assert list(by_task) == [str(detail[1]["transform_id"])]
    assert _envelope("retry", _post("retry", token, kwargs={"request_id": request_id})) == [
        True,
        [[0, {"status": 0, "message": "Command registered successfully"}]],
    ]
    assert _envelope("abort", _post("abort", token, kwargs={"request_id": request_id}))[1][0][0] == 0


def test_workflow_step_is_kept_and_answered_with_zero(local_panda, shell_dag, tmp_path):
    dag = shell_dag("stepped")
    dag.task("a", {"a1": []}, "true")
    dag.task("b", {"b1": [("a", "a1")]}, "true")
    steps = dag.workflow.split_workflow_to_steps(request_cache=str(tmp_path), max_request_length=50)
    assert _envelope("submit_step", _post("submit", local_panda.token, args=[steps[0]])) == [True, 0]


def test_local_records_use_only_fields_the_real_idds_has():
    def value(name):
        return json.loads((ENVELOPES / name).read_text())[1]

    lifecycle = json.loads((ENVELOPES / "real" / "lifecycle_run2.json").read_text())
    real_job = next(iter(lifecycle["snapshots"]["SubFinished"]["contents"].values()))[0]
    pairs = [
        (value("get_requests.json")[0], value("real/get_requests_new.json")[0]),
        (value("get_requests_detail.json")[0], value("real/get_requests_detail_new.json")[0]),
        (next(iter(value("get_contents_output_ext.json").values()))[0], real_job),
    ]
    for local, real in pairs:
        assert set(local) <= set(real), set(local) - set(real)


def test_requests_are_owned_by_the_tokens_subject_not_the_username_passed(local_panda, shell_dag, idds_api):
    import getpass

    dag = shell_dag("owned")
    dag.task("t", {"t1": []}, "true")
    status, (ok, request_id) = idds_api.submit(dag.workflow, username="impostor", use_dataset_name=False)
    assert (status, ok) == (0, True)
    (record,) = idds_api.get_requests(request_id=request_id)[1][1]
    assert record["username"] == getpass.getuser()  # the sub claim of the local token


def test_request_is_new_with_iddss_transform_less_record_until_work_starts(tmp_path, shell_dag, idds_api):
    from lsst.ctrl.bps.panda.local.server import LocalPandaServer
    from lsst.ctrl.bps.panda.local.state.state_dir import StateDir
    from support.loopback import TEST_PANDA_PORT

    # No slot on the task's queue: nothing starts, as before iDDS's daemons take a request up.
    server = LocalPandaServer(StateDir(tmp_path / "state"), port=TEST_PANDA_PORT, queue_slots={"FULL": 0})
    server.start_in_thread()
    try:
        dag = shell_dag("waiting")
        dag.task("t", {"t1": []}, "true", queue="FULL")
        request_id = _post("submit", server.token, args=[dag.workflow]).json()[1]
        reply = _post("get_requests", server.token, kwargs={"request_id": request_id, "with_detail": True})
        (record,) = reply.json()[1]
        (real,) = json.loads((ENVELOPES / "real" / "get_requests_detail_new.json").read_text())[1]
        (real_plain,) = json.loads((ENVELOPES / "real" / "get_requests_new.json").read_text())[1]
        detail_only = set(real) - set(real_plain)  # transform, processing, collection, counts
        assert set(record) <= set(real) and "transform_name" in detail_only & set(record)
        assert all(record[key] is None for key in detail_only & set(record))
        assert record["request_id"] is None
        assert record["status"]["attributes"]["_name_"] == "New"
    finally:
        server.close()
