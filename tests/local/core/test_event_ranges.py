# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The pilot's fine-grained part: a job's events run one after another under the local executor."""

import os
import sqlite3
import time
from pathlib import Path

import pytest
from idds.doma.workflowv2.domapandawork import DomaPanDAWork
from lsst.ctrl.bps.panda.local.core.event_ranges import (
    EventStatus,
    event_range_id,
    event_ranges,
    fine_grained_command,
    fine_grained_end,
    read_event_outcomes,
)
from lsst.ctrl.bps.panda.local.pilot.executor import Executor, LaunchSpec, Outcome
from lsst.ctrl.bps.panda.local.state.event_table import (
    JOBSET_OFFSET,
    attempt_end,
    event_range_statuses,
    events_to_run,
    is_fine_grained,
    record_attempt_events,
)
from lsst.ctrl.bps.panda.local.state.schema import apply_schema

pytestmark = pytest.mark.timeout(120)

# Records its argument and working directory; sleeps SLEEP_<k> seconds and exits FAIL_<k> when set.
PAYLOAD = (
    'arg="${IN/L}"; k="${arg##*^}"; echo "$arg $(basename $PWD)" >> ../ran.txt; '
    'sleep_var="SLEEP_$k"; sleep "${!sleep_var:-0}"; code_var="FAIL_$k"; exit "${!code_var:-0}"'
)


def run_job(tmp_path, events, walltime=None, **env):
    executor = Executor({**os.environ, **env}, sample_interval=0.0)
    workdir = tmp_path / "attempt"
    workdir.parent.mkdir(parents=True, exist_ok=True)
    executor.launch(LaunchSpec(1, 1000, fine_grained_command(PAYLOAD, events), workdir, None, walltime))
    deadline = time.monotonic() + 60
    ended = []
    while not ended and time.monotonic() < deadline:
        executor.enforce_limits()
        ended = executor.poll()
        time.sleep(0.02)
    assert ended, "job did not end"
    return ended[0], workdir


def test_events_of_an_event_service_pseudo_input_count_from_one():
    events = event_ranges("isr:eventservice_20^3")
    assert [(e.number, e.argument) for e in events] == [
        (1, "isr:eventservice_20^1"),
        (2, "isr:eventservice_20^2"),
        (3, "isr:eventservice_20^3"),
    ]
    for bad in ("isr:orderIdMap_3", "isr:eventservice_20^0", "isr:eventservice_20"):
        with pytest.raises(ValueError, match="not an event-service pseudo input"):
            event_ranges(bad)


def test_every_event_runs_in_order_in_its_own_directory_and_the_job_is_fg_done(tmp_path):
    end, workdir = run_job(tmp_path, event_ranges("isr:eventservice_0^3"))
    assert end.outcome == Outcome.OK and end.exit_code == 0
    ran = (workdir / "ran.txt").read_text().splitlines()
    assert ran == [f"isr:eventservice_0^{k} event_{k}" for k in (1, 2, 3)]
    outcomes = read_event_outcomes(workdir)
    assert outcomes == {1: 0, 2: 0, 3: 0}
    result = fine_grained_end([1, 2, 3], outcomes)
    assert (result.job_status, result.job_sub_status, result.remaining) == ("finished", "fg_done", ())


def test_a_failing_event_does_not_stop_the_others_and_the_job_is_fg_partial(tmp_path):
    end, workdir = run_job(tmp_path, event_ranges("isr:eventservice_0^3"), FAIL_2="3")
    assert end.outcome == Outcome.FAILED and end.exit_code == 3  # the first failing event's code
    outcomes = read_event_outcomes(workdir)
    assert outcomes == {1: 0, 2: 3, 3: 0}
    result = fine_grained_end([1, 2, 3], outcomes)
    assert (result.job_status, result.job_sub_status, result.remaining) == ("finished", "fg_partial", (2,))
    assert result.statuses[2] is EventStatus.FAILED and result.statuses[3] is EventStatus.FINISHED


def test_a_retry_runs_only_the_events_given_back(tmp_path):
    events = [e for e in event_ranges("isr:eventservice_10^3") if e.number == 2]
    end, workdir = run_job(tmp_path, events)
    assert end.outcome == Outcome.OK
    assert (workdir / "ran.txt").read_text().splitlines() == ["isr:eventservice_10^2 event_2"]
    assert read_event_outcomes(workdir) == {2: 0}


def test_no_event_finished_is_a_failed_job_fg_stumble(tmp_path):
    end, workdir = run_job(tmp_path, event_ranges("isr:eventservice_0^2"), FAIL_1="1", FAIL_2="2")
    result = fine_grained_end([1, 2], read_event_outcomes(workdir))
    assert (end.exit_code, result.job_status, result.job_sub_status) == (1, "failed", "fg_stumble")


def test_events_not_reached_by_a_job_killed_at_its_walltime_are_given_back_as_ready(tmp_path):
    end, workdir = run_job(tmp_path, event_ranges("isr:eventservice_0^3"), walltime=1, SLEEP_2="30")
    assert end.outcome == Outcome.WALLTIME
    result = fine_grained_end([1, 2, 3], read_event_outcomes(workdir))
    assert result.statuses == {1: EventStatus.FINISHED, 2: EventStatus.READY, 3: EventStatus.READY}
    assert (result.job_sub_status, result.remaining) == ("fg_partial", (2, 3))


def test_event_range_ids_have_pandas_form_with_the_event_number_fourth():
    # iDDS reads int(id.split("-")[3]) - 1 as the job's sub_map_id.
    assert event_range_id(12, 3400, 56, 2, 1) == "12-3400-56-2-1"
    assert int(event_range_id(12, 3400, 56, 2, 1).split("-")[3]) - 1 == 1


def store_connection():
    """The store's tables with job 7 of store task 3, which is PanDA task 5000."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    apply_schema(conn, Path(":memory:"))
    conn.execute(
        "INSERT INTO jobs (job_id, task_id, request_id, queue, name, status, pending, attempt_limit) "
        "VALUES (7, 3, 1, 'LOCAL', 'job7', 1, 0, 1)"
    )
    conn.execute(
        "INSERT INTO panda_tasks (jedi_task_id, request_id, task_id, name, params, staging) "
        "VALUES (5000, 1, 3, 'task3', '{}', 0)"
    )
    return conn


def test_attempts_record_each_event_and_a_retry_runs_only_what_did_not_finish(tmp_path):
    conn = store_connection()
    name = "isr:eventservice_10^3"
    assert is_fine_grained(name) and not is_fine_grained("isr:orderIdMap_10")
    first = events_to_run(conn, 7, name)
    end, workdir = run_job(tmp_path / "1", first, FAIL_2="3")
    result = record_attempt_events(conn, 7, 101, 1, name, workdir)
    assert (result.job_status, result.job_sub_status) == ("finished", "fg_partial")
    assert attempt_end(conn, 101) == result

    second = events_to_run(conn, 7, name)
    assert [event.argument for event in second] == ["isr:eventservice_10^2"]
    end, workdir = run_job(tmp_path / "2", second)
    result = record_attempt_events(conn, 7, 102, 2, name, workdir)
    assert (result.job_status, result.job_sub_status) == ("finished", "fg_done")
    assert events_to_run(conn, 7, name) == []


def test_event_statuses_are_what_idds_maps_back_to_each_payload(tmp_path):
    conn = store_connection()
    name = "isr:eventservice_10^3"
    end, workdir = run_job(tmp_path, events_to_run(conn, 7, name), FAIL_2="3")
    record_attempt_events(conn, 7, 101, 1, name, workdir)
    jobset = JOBSET_OFFSET + 7
    asked = [{"task_id": 5000, "panda_id": 101}, {"task_id": 5000, "panda_id": 999}]
    answer = event_range_statuses(conn, [*asked, {"task_id": 5000, "panda_id": jobset}])
    assert answer["999"] == {}
    assert event_range_statuses(conn, [{"task_id": 1, "panda_id": 101}]) == {"101": {}}  # not that task's job
    # The failed event is given back to the job's own job set for the next attempt.
    assert answer[str(jobset)] == {f"5000-{jobset}-7-2-1": {"status": "ready", "error": None, "dialog": None}}
    assert answer["101"] == {
        "5000-101-7-1-1": {"status": "finished", "error": None, "dialog": None},
        "5000-101-7-2-1": {"status": "failed", "error": 3, "dialog": "payload exited with code 3"},
        "5000-101-7-3-1": {"status": "finished", "error": None, "dialog": None},
    }
    # iDDS's own reading of the answer: event k is the payload with sub_map_id k - 1.
    work = DomaPanDAWork(executable="x", task_name="t")
    jobs = [{"panda_id": 101, "events": answer["101"], "job_info": None}]
    for sub_map_id, (status, code) in enumerate([("finished", None), ("failed", 3), ("finished", None)]):
        event, _ = work.get_event_job(sub_map_id, jobs, answer[str(jobset)])
        assert (event["status"], event["error_code"]) == (status, code)
