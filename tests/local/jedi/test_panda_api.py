# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The local PanDA's task/job API and job release, as the iDDS daemons use them.

Every call goes through the unmodified ``pandaclient.Client`` functions the
daemons' ``DomaPanDAWork`` calls, with task parameters made by a real
``DomaPanDAWork``; job release goes through the real notifier class
(`LocalPandaNotifier`) fed the way iDDS's conductor feeds it.  The iDDS
stack itself is replaced by a stand-in that records how the server started
it: the runs through the real daemons are in ``test_idds_engine.py``.
"""

from __future__ import annotations

import logging
import os
import time
import urllib.error
import urllib.request

import pytest
from support.loopback import TEST_PANDA_PORT
from support.panda_api_calls import (
    POLL,
    deliver,
    doma_task_params,
    engine_passes,
    release_message,
    submit,
    wait_status,
)
from support.stand_in_stack import StandInStack

pytestmark = pytest.mark.real_servers


def details(task_id):
    from pandaclient import Client

    status, info = Client.getJediTaskDetails({"jediTaskID": task_id}, True, True)
    assert status == 0, info
    return info


def jobs(panda_ids):
    from pandaclient import Client

    status, specs = Client.getJobStatus(panda_ids)
    assert status == 0
    return specs


def test_server_starts_the_stack_with_its_urls_and_token(idds_engine):
    stack = StandInStack.instances[-1]
    panda_url, notifier_url, token = stack.started_with
    assert panda_url == f"http://127.0.0.1:{TEST_PANDA_PORT}/server/panda"
    assert notifier_url == f"http://127.0.0.1:{TEST_PANDA_PORT}/local/idds/messages"
    assert token == idds_engine.token
    assert stack.token_file == idds_engine.state.token_path
    assert os.environ["PANDA_LOCAL_TEST_STAND_IN"] == "1"
    idds_engine.close()
    assert stack.stopped
    assert "PANDA_LOCAL_TEST_STAND_IN" not in os.environ


def test_doma_task_runs_one_job_per_pfn(idds_engine):
    params = doma_task_params("plain", ["a+qgraphNodeId:1", "b+qgraphNodeId:2"], "echo ran ${IN/L}")
    task_id = submit(params)
    assert wait_status(task_id, {"done", "finished", "failed"}) == "done"
    info = details(task_id)
    assert info["status"] == "done"
    assert len(info["PandaID"]) == 2
    specs = jobs(info["PandaID"])
    by_lfn = {spec.Files[0].lfn: spec for spec in specs}
    assert sorted(by_lfn) == ["000000:a+qgraphNodeId:1", "000001:b+qgraphNodeId:2"]
    for spec in specs:
        assert (spec.jobStatus, spec.attemptNr, spec.maxAttempt) == ("finished", 1, 1)
        assert spec.jediTaskID == task_id and spec.Files[0].type == "pseudo_input"
        assert spec.transExitCode == "0" and spec.computingSite == "LOCAL_CONVENTIONAL"
        assert spec.eventService in (None, "NULL") and spec.jobSubStatus in (None, "NULL")
    log = idds_engine.state.work_dir / f"request_{task_id - 1000}"
    outputs = sorted(path.read_text().strip() for path in log.glob("*/payload.log"))
    assert outputs == ["ran a+qgraphNodeId:1", "ran b+qgraphNodeId:2"]


def test_files_of_a_task_as_idds_reads_them(idds_engine):
    from pandaclient import Client

    task_id = submit(doma_task_params("files", ["x", "y"], "true ${IN/L}"))
    status, datasets = Client.get_files_in_datasets(task_id)
    assert status == 0
    [dataset] = datasets
    assert [f["lfn"] for f in dataset["files"]] == ["000000:x", "000001:y"]
    assert all(isinstance(f["id"], int) for f in dataset["files"])
    assert Client.get_files_in_datasets(task_id, dataset_types="output") == (0, [])
    assert Client.getTaskStatus(999999) == (255, None)


def test_staged_jobs_wait_for_idds_to_release_them(idds_engine):
    params = doma_task_params("staged", ["free", "child"], "echo ${IN/L}", dependent=["child"])
    assert params["inputPreStaging"] is True
    task_id = submit(params)
    engine_passes(idds_engine)  # passes enough to start anything it would wrongly start
    assert details(task_id)["PandaID"] == []
    assert wait_status(task_id, {"running"}) == "running"
    from pandaclient import Client

    files = {f["lfn"].split(":", 1)[1]: f["id"] for f in Client.get_files_in_datasets(task_id)[1][0]["files"]}
    # By id for one file, by name for the other (as JEDI matches them).
    delivered = deliver(idds_engine, [release_message(task_id, [("free", files["free"])])])
    assert [message["msg_id"] for message in delivered] == [11]
    engine_passes(idds_engine)
    assert len(details(task_id)["PandaID"]) == 1
    assert wait_status(task_id, {"running", "done"}) == "running"
    deliver(idds_engine, [release_message(task_id, [("child", None)])])
    assert wait_status(task_id, {"done", "finished", "failed"}) == "done"


def test_missing_input_ends_the_task_partly(idds_engine):
    task_id = submit(doma_task_params("gap", ["one", "two"], "true ${IN/L}", dependent=["one", "two"]))
    deliver(
        idds_engine,
        [release_message(task_id, [("one", None)]), release_message(task_id, [("two", None)], "Missing")],
    )
    assert wait_status(task_id, {"done", "finished", "failed"}) == "finished"


def test_retry_reruns_only_failed_jobs(idds_engine, tmp_path):
    marker = tmp_path / "second_time"
    script = f'if [ "${{IN/L}}" = bad ] && [ ! -e {marker} ]; then touch {marker}; exit 3; fi; echo ok'
    task_id = submit(doma_task_params("again", ["good", "bad"], script))
    assert wait_status(task_id, {"done", "finished", "failed"}) == "finished"
    before = {spec.Files[0].lfn: spec for spec in jobs(details(task_id)["PandaID"])}
    assert before["000001:bad"].jobStatus == "failed"
    assert (before["000001:bad"].transExitCode, before["000001:bad"].exeErrorCode) == ("3", 3)
    from pandaclient import Client

    status, (code, message) = Client.retryTask(task_id, newParams={})
    assert (status, code) == (0, 0), message
    assert wait_status(task_id, {"done", "finished", "failed"}) == "done"
    after = {spec.Files[0].lfn: spec for spec in jobs(details(task_id)["PandaID"])}
    assert after["000000:good"].PandaID == before["000000:good"].PandaID
    assert after["000001:bad"].PandaID != before["000001:bad"].PandaID
    assert (after["000001:bad"].jobStatus, after["000001:bad"].attemptNr) == ("finished", 2)
    status, (code, message) = Client.retryTask(task_id, newParams={})
    assert code == 4 and "done status" in message


def test_kill_stops_the_running_job(idds_engine):
    from pandaclient import Client

    task_id = submit(doma_task_params("long", ["sleeper"], "sleep 300 # ${IN/L}"))
    deadline = time.monotonic() + 30
    while not details(task_id)["PandaID"] and time.monotonic() < deadline:
        time.sleep(POLL)
    assert Client.killTask(task_id) == (0, (True, 0))
    assert Client.getTaskStatus(task_id) == (0, "aborted")
    [spec] = jobs(details(task_id)["PandaID"])
    assert spec.jobStatus == "cancelled"
    status, (accepted, message) = Client.killTask(task_id)
    assert not accepted and "aborted status" in message
    assert Client.killTask(424242) == (0, (False, "jediTaskID=424242 not found"))


def test_same_task_submitted_twice_is_one_task(idds_engine):
    params = doma_task_params("twice", ["only"], "true ${IN/L}")
    assert submit(params) == submit(dict(params))


def test_bad_task_parameters_are_refused_with_the_key(idds_engine):
    from pandaclient import Client

    params = doma_task_params("bad", ["one"], "true")
    params["pfnList"] = []
    status, (code, message) = Client.insertTaskParams(params)
    assert status == 0 and code == 4 and "pfnList" in message


@pytest.mark.parametrize(("header", "code"), [(None, 401), ("Bearer wrong", 403)], ids=["missing", "wrong"])
def test_api_calls_need_the_token(idds_engine, header, code):
    url = f"http://127.0.0.1:{TEST_PANDA_PORT}/api/v1/task/get_status?task_id=1"
    for body in (None, b"{}"):
        target = url if body is None else idds_engine.workflow_engine.notifier_url
        request = urllib.request.Request(
            target, data=body, headers={"Authorization": header} if header else {}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == code


def test_unhandled_call_is_logged_and_refused(idds_engine, caplog):
    request = urllib.request.Request(
        f"http://127.0.0.1:{TEST_PANDA_PORT}/api/v1/task/frobnicate?task_id=1",
        headers={"Authorization": f"Bearer {idds_engine.token}"},
    )
    with caplog.at_level(logging.WARNING), pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 404
    assert "UNHANDLED PanDA API call GET task/frobnicate" in caplog.text


def test_memory_kill_retries_with_more_memory(idds_engine):
    grow = 'python3 -c "import time; b = bytearray(400 * 2**20); time.sleep(3)" # ${IN/L}'
    params = doma_task_params(
        "hungry", ["big"], grow, task_rss=150, task_rss_retry_step=600, task_rss_max=2000, maxattempt=2
    )
    task_id = submit(params)
    assert wait_status(task_id, {"done", "finished", "failed"}, timeout=120) == "done"
    from pandaclient import Client

    status, panda_ids = Client.getPandaIDsWithTaskID(task_id)
    assert status == 0 and len(panda_ids) == 2 and panda_ids == sorted(panda_ids, reverse=True)
    first, second = jobs(sorted(panda_ids))
    assert (first.jobStatus, first.pilotErrorCode, first.minRamCount) == ("failed", 1235, 150)
    assert (second.jobStatus, second.attemptNr, second.maxAttempt) == ("finished", 2, 2)
    assert second.minRamCount == 600  # 150 x (600 / 150): JEDI's increase_memory_xtimes


def test_input_released_before_the_retry_runs_at_the_retry(idds_engine):
    from pandaclient import Client

    task_id = submit(
        doma_task_params("late", ["early", "child"], "true ${IN/L}", dependent=["early", "child"])
    )
    deliver(
        idds_engine,
        [release_message(task_id, [("early", None)]), release_message(task_id, [("child", None)], "Missing")],
    )
    assert wait_status(task_id, {"done", "finished", "failed"}) == "finished"
    # iDDS says the input is there again (its parent was retried) before it retries this task.
    deliver(idds_engine, [release_message(task_id, [("child", None)])])
    assert Client.getTaskStatus(task_id) == (0, "finished")
    assert Client.retryTask(task_id, newParams={})[1][0] == 0
    assert wait_status(task_id, {"done", "finished", "failed"}) == "done"


def test_retried_job_whose_input_never_came_waits_for_it(idds_engine):
    from pandaclient import Client

    task_id = submit(
        doma_task_params("wait", ["early", "child"], "true ${IN/L}", dependent=["early", "child"])
    )
    deliver(
        idds_engine,
        [release_message(task_id, [("early", None)]), release_message(task_id, [("child", None)], "Missing")],
    )
    assert wait_status(task_id, {"done", "finished", "failed"}) == "finished"
    assert Client.retryTask(task_id, newParams={})[1][0] == 0
    engine_passes(idds_engine)
    assert Client.getTaskStatus(task_id) == (0, "running")
    [dataset] = Client.get_files_in_datasets(task_id)[1]
    assert {f["lfn"]: f["status"] for f in dataset["files"]}["000001:child"] == "staging"
    deliver(idds_engine, [release_message(task_id, [("child", None)])])
    assert wait_status(task_id, {"done", "finished", "failed"}) == "done"
