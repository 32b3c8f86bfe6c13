# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The local PanDA answers job records from what was submitted, not from constants."""

import sqlite3

import pytest
from lsst.ctrl.bps.panda.local.state.store import Store

pytestmark = pytest.mark.real_servers


def test_job_records_carry_the_submitted_vo_and_prod_source_label(
    local_panda, shell_dag, idds_api, unwrap, wait_request
):
    dag = shell_dag("vo_records")
    dag.task("a", {"a1": []}, "true", vo="rubin-test-vo", prodSourceLabel="test")
    dag.task("b", {"b1": [("a", "a1")]}, "true", vo="other-vo", prodSourceLabel="managed")
    request_id = unwrap(idds_api.submit(dag.workflow, username=None, use_dataset_name=False))
    wait_request(request_id)
    contents = unwrap(idds_api.get_contents_output_ext(request_id=request_id))
    seen = {(job["name"], job["vo"], job["prod_source_label"]) for jobs in contents.values() for job in jobs}
    assert seen == {("a1", "rubin-test-vo", "test"), ("b1", "other-vo", "managed")}


def test_a_state_directory_from_before_the_vo_columns_opens_and_gains_them(tmp_path):
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE tasks (task_id INTEGER PRIMARY KEY, request_id INTEGER NOT NULL, "
            "name TEXT NOT NULL, "
            "workload_id INTEGER NOT NULL, queue TEXT NOT NULL, executable TEXT NOT NULL, "
            "max_attempt INTEGER NOT NULL, walltime INTEGER, rss INTEGER, rss_max INTEGER, rss_step INTEGER, "
            "core_count INTEGER NOT NULL, priority INTEGER, input_collection TEXT, output_collection TEXT, "
            "gated INTEGER NOT NULL DEFAULT 0, status INTEGER NOT NULL, created_at REAL, updated_at REAL, "
            "finished_at REAL)"
        )
    store = Store(path)
    columns = {row["name"] for row in store.connection().execute("PRAGMA table_info(tasks)")}
    assert {"vo", "prod_source_label"} <= columns
