# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Durable state: restarts (SIGKILL or stop) lose nothing and run nothing twice; large requests."""

import sqlite3
import time

import pytest
from lsst.ctrl.bps.panda.local.core.job_states import JobState
from lsst.ctrl.bps.panda.local.core.request_plan import RequestPlan, TaskPlan
from lsst.ctrl.bps.panda.local.state.store import Store

pytestmark = [pytest.mark.real_servers, pytest.mark.timeout(150)]


def _lines(path):
    return path.read_text().split() if path.exists() else []


def test_sigkilled_server_resumes_and_every_job_completes_exactly_once(
    server_process, idds_api, unwrap, wait_request, shell_dag, tmp_path
):
    done = tmp_path / "done.txt"
    dag = shell_dag("crash")
    payload = f"sleep 0.4; echo ${{IN/L}} >> {done}"
    dag.task("a", {f"a{i}": [] for i in range(6)}, payload)
    dag.task("b", {f"b{i}": [("a", f"a{i}")] for i in range(6)}, payload)
    dag.final("final", f"echo final >> {done}", after=["b"])
    server = server_process()
    server.start()
    request_id = unwrap(idds_api.submit(dag.workflow))
    deadline = time.monotonic() + 30
    while len(_lines(done)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill()  # SIGKILL: its running attempts go on as orphans
    killed_with = len(_lines(done))
    assert 3 <= killed_with < 13
    time.sleep(0.5)

    server_process().start()
    assert wait_request(request_id, timeout=60)["status"].name == "Finished"
    names = _lines(done)
    assert sorted(names) == sorted([f"a{i}" for i in range(6)] + [f"b{i}" for i in range(6)] + ["final"])
    assert len(names) == len(set(names))


def test_stopped_server_leaves_a_running_job_to_finish_and_the_next_start_adopts_it(
    local_panda, idds_api, unwrap, wait_request, shell_dag, tmp_path
):
    from lsst.ctrl.bps.panda.local.server import LocalPandaServer

    started, done = tmp_path / "started.txt", tmp_path / "done.txt"
    dag = shell_dag("interrupted")
    dag.task("t", {"t1": []}, f"echo go >> {started}; sleep 2; echo ${{IN/L}} >> {done}")
    request_id = unwrap(idds_api.submit(dag.workflow))
    deadline = time.monotonic() + 10
    while not _lines(started) and time.monotonic() < deadline:
        time.sleep(0.05)
    state = local_panda.state
    local_panda.close()
    assert not _lines(done)

    again = LocalPandaServer(state, port=local_panda._port, max_cores=2)
    again.start_in_thread()
    try:
        assert wait_request(request_id)["status"].name == "Finished"
        grouped = unwrap(idds_api.get_contents_output_ext(request_id=request_id))
        job = next(iter(grouped.values()))[0]
        attempts = again.engine.store.attempts(job["content_id"])
        assert [row["status"] for row in attempts] == ["finished"]
        assert job["attempt_nr"] == 1 and _lines(done) == ["t1"] and len(_lines(started)) == 1
    finally:
        again.close()


def test_database_is_in_wal_mode_and_the_token_is_private(local_panda):
    with sqlite3.connect(local_panda.state.db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert local_panda.state.token_path.stat().st_mode & 0o777 == 0o600


def _chain_plan(tasks, jobs_per_task):
    plan_tasks = []
    for t in range(tasks):
        entries = [
            {
                "name": f"j{t}_{i}",
                "order_id": i,
                "dependencies": [{"task": f"t{t - 1}", "inputname": f"j{t - 1}_{i}"}] if t else [],
            }
            for i in range(jobs_per_task)
        ]
        plan_tasks.append(
            TaskPlan(
                f"t{t}",
                "LOCAL_CONVENTIONAL",
                "true",
                1,
                None,
                None,
                None,
                0,
                1,
                900,
                f"in{t}",
                f"out{t}",
                entries,
            )
        )
    return RequestPlan("big", None, "cafe0001", plan_tasks)


def test_request_of_100k_jobs_is_stored_in_seconds_and_ready_jobs_come_from_an_index(tmp_path):
    store = Store(tmp_path / "db.sqlite3")
    start = time.monotonic()
    request_id, empty = store.add_request(_chain_plan(4, 25_000))
    assert time.monotonic() - start < 30 and not empty
    conn = store.connection()
    assert (
        conn.execute("SELECT COUNT(*) FROM jobs WHERE request_id = ?", (request_id,)).fetchone()[0] == 100_000
    )
    assert conn.execute("SELECT COUNT(*) FROM deps").fetchone()[0] == 75_000
    ready = store.ready_jobs("LOCAL_CONVENTIONAL", 10)
    assert [row["name"] for row in ready] == [f"j0_{i}" for i in range(10)]
    plan = " ".join(
        row[3]
        for row in conn.execute(
            "EXPLAIN QUERY PLAN SELECT j.job_id FROM jobs j JOIN tasks t ON t.task_id = j.task_id "
            "WHERE j.status = 1 AND j.queue = ? ORDER BY j.job_id LIMIT 5",
            ("LOCAL_CONVENTIONAL",),
        )
    )
    assert "jobs_ready" in plan and "SCAN j" not in plan
    counts = store.job_counts([row["task_id"] for row in store.tasks([request_id])])
    assert [c.get(JobState.READY, 0) for c in counts.values()] == [25_000, 0, 0, 0]
