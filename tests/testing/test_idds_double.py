# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Fidelity of the iDDS double: every recorded real envelope, replayed against the double.

The calls are those of ``tests/real_idds/record_envelopes.py`` (the recording of the real relay and
iDDS), made the same way (``IddsPort(attempts=1).api``) and saved the same way (iDDS-JSON).  Shape:
the same keys, the same types where both sides hold a value, the same enum classes and encoding.
"""

import copy
import json
import shutil

import pytest
from idds.common.constants import RequestStatus
from idds.common.utils import json_dumps
from lsst.ctrl.bps import WmsStates
from lsst.ctrl.bps.panda import PanDAService
from lsst.ctrl.bps.panda.errors import IddsCallError, IddsOutageError, IddsUnknownRequestError
from lsst.ctrl.bps.panda.testing.idds_double import Failure, IddsDouble, RunStory, install_idds_double
from lsst.ctrl.bps.panda.testing.recorded_envelopes import (
    ENVELOPES_DIR,
    REAL_ENVELOPES_DIR,
    decode,
    encode_enum,
    load_envelope,
)
from lsst.ctrl.bps.panda.wms.idds_port import IddsPort
from lsst.ctrl.bps.panda.wms.wms_report import run_report_from_records
from support.envelope_calls import UNKNOWN, make_recorded_calls, recorded_workflow

RECORDED = sorted(p.stem for p in REAL_ENVELOPES_DIR.glob("*.json") if p.stem != "lifecycle_run2")


def shape(value):
    """Keys, types and enum encodings of a wire-form reply; None matches any type (a value not set)."""
    if isinstance(value, dict) and {"class", "module", "attributes"} <= set(value):
        return ("enum", value["class"], value["module"], tuple(sorted(value["attributes"])))
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value[:1]]
    return None if value is None else type(value).__name__


def same_shape(recorded, replayed, where="reply"):
    a, b = shape(recorded), shape(replayed)
    if isinstance(a, dict) and isinstance(b, dict):
        assert set(a) == set(b), f"{where}: keys differ: {sorted(set(a) ^ set(b))}"
        for key in a:
            same_shape(recorded[key], replayed[key], f"{where}.{key}")
    elif isinstance(a, list) and isinstance(b, list):
        assert bool(recorded) == bool(replayed), (
            f"{where}: {len(recorded)} items recorded, {len(replayed)} replayed"
        )
        # An envelope [ok, value] item by item; a list of records, each against the first recorded.
        pairs = (
            zip(recorded, replayed, strict=True)
            if len(recorded) == len(replayed)
            else ((recorded[0], r) for r in replayed)
        )
        for index, (one, other) in enumerate(pairs if recorded else ()):
            same_shape(one, other, f"{where}[{index}]")
    elif a is not None and b is not None:
        assert a == b, f"{where}: {a} != {b}"


def replay(double):
    """Every recorded call, replayed against ``double`` as the recording script made it."""
    saved = {}

    def save(name, reply):
        status, body = reply
        assert status == 0, f"{name}: {reply}"
        saved[name] = json.loads(json_dumps(body))
        return body[1] if body[0] else None

    with install_idds_double(double):
        api = IddsPort(attempts=1).api
        story = RunStory(jobs={"a": 2, "b": 1, "final": 1}).then("New")
        request_id = make_recorded_calls(api, save, before_submit=lambda: double.expect_submit(story))
        double.fail(Failure.IDDS_OUTAGE, calls=1)
        save("idds_down", api.get_requests(request_id=request_id, with_detail=False))
    return saved


@pytest.fixture(scope="module")
def replayed():
    return replay(IddsDouble())


def test_the_shape_check_sees_a_missing_key_and_another_enum(replayed):
    recorded = load_envelope("get_requests_new")
    missing = copy.deepcopy(replayed["get_requests_new"])
    del missing[1][0]["username"]
    with pytest.raises(AssertionError, match="keys differ"):
        same_shape(recorded, missing)
    other_enum = copy.deepcopy(replayed["get_requests_new"])
    other_enum[1][0]["status"]["class"] = "TransformStatus"
    with pytest.raises(AssertionError, match="status"):
        same_shape(recorded, other_enum)
    with pytest.raises(AssertionError, match="items recorded"):
        same_shape(load_envelope("get_requests_unknown"), replayed["get_requests_new"])


def test_every_recorded_envelope_is_replayed(replayed):
    assert sorted(replayed) == RECORDED


@pytest.mark.parametrize("name", RECORDED)
def test_the_double_answers_with_the_recorded_shape(name, replayed):
    same_shape(load_envelope(name), replayed[name], name)


@pytest.mark.parametrize("name", RECORDED)
def test_the_port_reads_the_double_as_it_reads_the_real_reply(name, replayed):
    def read(wire):
        try:
            value = IddsPort.unwrap(name, 1, (0, decode(wire)))
        except IddsOutageError:
            return "outage"
        except IddsCallError:
            return "refused"
        return type(value).__name__

    assert read(replayed[name]) == read(load_envelope(name))


def test_enums_keep_the_recorded_encoding():
    recorded = load_envelope("lifecycle_run2")["snapshots"]["SubFinished"]["get_requests"]["status"]
    assert encode_enum(RequestStatus.SubFinished, recorded) == recorded


def test_a_story_from_the_recorded_run_reports_as_the_recorded_run():
    lifecycle = load_envelope("lifecycle_run2")
    double = IddsDouble()
    request_id = double.add_run(RunStory.from_timeline(lifecycle))
    for state, snapshot in lifecycle["snapshots"].items():
        with install_idds_double(double):
            port = IddsPort(attempts=1)
            records = port.get_requests(request_id, with_detail=True)
            contents = port.get_contents_output_ext(request_id)
        same_shape(snapshot["get_requests_detail"], json.loads(json_dumps(records)), f"{state} detail")
        # Keyed by transform id (the double's ids are its own): compare the job records.
        jobs = [job for task in json.loads(json_dumps(contents)).values() for job in task]
        recorded_jobs = [job for task in snapshot["contents"].values() for job in task]
        assert len(jobs) >= len(recorded_jobs)
        for job in recorded_jobs:
            (like,) = [mine for mine in jobs if mine["status"] == job["status"]][:1]
            same_shape(job, like, f"{state} job {job['name']}")
        mine = run_report_from_records(records, contents, request_id=request_id)
        real = run_report_from_records(
            decode(snapshot["get_requests_detail"]), decode(snapshot["contents"]), request_id=request_id
        )
        assert mine.state == real.state
        assert mine.exit_code_summary == real.exit_code_summary
        if state != "Transforming":  # the recorded run counted a task's jobs only once released
            assert mine.job_summary == real.job_summary


def test_a_scripted_run_reads_as_the_issue_tells_it():
    double = IddsDouble()
    request_id = str(
        double.add_run(
            RunStory("u_jane_demo", jobs={"isr": 5})
            .then("New", polls=2)
            .then("Transforming", done={"isr": 3})
            .then("SubFinished", done={"isr": 4}, failed={"isr": [3]})
        )
    )
    with install_idds_double(double):
        service = PanDAService({})
        seen = [service.get_status(request_id)[0] for _ in range(4)]
        (report,), _ = service.report(request_id, return_exit_codes=True)
    assert seen[2:] == [WmsStates.RUNNING, WmsStates.FAILED]
    assert report.exit_code_summary == {"isr": [3]}
    assert report.job_summary["isr"][WmsStates.SUCCEEDED] == 4


@pytest.mark.parametrize(
    ("failure", "error"), [(Failure.IDDS_OUTAGE, IddsOutageError), (Failure.REFUSED_TOKEN, IddsCallError)]
)
def test_failure_modes_reach_the_port_as_from_the_real_client(failure, error):
    double = IddsDouble()
    double.fail(failure)
    with install_idds_double(double), pytest.raises(error):
        IddsPort(attempts=1, outage_budget=0).get_requests(1)


def test_an_unknown_id_is_refused_as_iDDS_refuses_it():
    with install_idds_double(IddsDouble()), pytest.raises(IddsUnknownRequestError):
        IddsPort(attempts=1).abort(UNKNOWN)


def test_installing_replaces_only_inside_the_block():
    from lsst.ctrl.bps.panda.wms import idds_port

    original = idds_port.RelayClient
    with install_idds_double() as double:
        assert idds_port.RelayClient(None) is double
        assert IddsPort(attempts=1).api is double
    assert idds_port.RelayClient is original
    assert IddsPort(attempts=1).api is not double


def test_the_notebook_handle_sees_the_story():
    from lsst.ctrl.bps.panda.notebook.panda_run import PandaRun

    double = IddsDouble()
    request_id = double.add_run(
        RunStory("u_jane_nb", jobs={"isr": 3})
        .then("New")
        .then("Transforming", done={"isr": 1}, running={"isr": 2})
        .then("SubFinished", done={"isr": 2}, failed={"isr": [3]})
    )
    with install_idds_double(double):
        run = PandaRun(str(request_id))
        assert run.wait(poll_seconds=0, progress=False) == WmsStates.FAILED
        (failed,) = run.failed_jobs()
    assert (failed.label, failed.exit_code) == ("isr", 3)


def test_a_published_style_caller_reads_plain_json():
    double = IddsDouble()
    request_id = double.add_run(RunStory("u_jane_pub", jobs={"isr": 1}).then("Finished", done={"isr": 1}))
    status, (ok, records) = double.plain_json().get_requests(request_id=request_id, with_detail=True)
    assert (status, ok) == (0, True)
    assert records[0]["status"]["attributes"]["_name_"] == "Finished"  # as published code reads it
    assert double.calls[-1] == ("get_requests", {"request_id": request_id, "with_detail": True})


def test_a_story_naming_a_label_the_workflow_lacks_is_refused():
    double = IddsDouble()
    double.expect_submit(RunStory(jobs={"nope": 1}).then("New"))
    with install_idds_double(double), pytest.raises(ValueError, match="nope"):
        IddsPort(attempts=1).submit(recorded_workflow("labels"))


def test_the_published_get_idds_client_names_are_replaced_where_they_exist(monkeypatch):
    from lsst.ctrl.bps.panda import panda_service

    def published(config):
        raise AssertionError("the real client was made")

    monkeypatch.setattr(panda_service, "get_idds_client", published, raising=False)
    with install_idds_double() as double:
        assert panda_service.get_idds_client({}) is double
    assert panda_service.get_idds_client is published


def newer_servers(value):
    """What a re-recording from newer servers might bring: a new column, other words."""
    if isinstance(value, dict) and {"class", "module", "attributes"} <= set(value):
        return value
    if isinstance(value, dict):
        changed = {key: newer_servers(item) for key, item in value.items()}
        if "request_id" in value:
            changed["new_column"] = "2.7"
        return changed
    if isinstance(value, list):
        return [newer_servers(item) for item in value]
    return "Command queued" if value == "Command registered successfully" else value


def test_re_recorded_envelopes_change_the_double_without_a_code_change(tmp_path):
    recording = tmp_path / "envelopes"
    shutil.copytree(ENVELOPES_DIR, recording)
    for path in (recording / "real").glob("*.json"):
        path.write_text(json.dumps(newer_servers(json.loads(path.read_text()))))
    replies = replay(IddsDouble(envelopes=recording))
    for name in RECORDED:
        same_shape(json.loads((recording / "real" / f"{name}.json").read_text()), replies[name], name)
    (record,) = replies["get_requests_new"][1]
    assert record["new_column"] == "2.7"
    assert replies["abort"][1][0][1]["message"] == "Command queued"
