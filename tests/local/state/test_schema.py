# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The versioned schema of the local PanDA's store, on databases written by older code."""

import shutil
import sqlite3
from pathlib import Path

import pytest
from idds.common.constants import RequestStatus
from lsst.ctrl.bps.panda.local.cli import main as panda_local
from lsst.ctrl.bps.panda.local.core.job_states import JobState
from lsst.ctrl.bps.panda.local.server import LocalPandaServer
from lsst.ctrl.bps.panda.local.state.schema import (
    CURRENT_VERSION,
    MIGRATIONS,
    SchemaError,
    SchemaTooNewError,
    apply_schema,
)
from lsst.ctrl.bps.panda.local.state.state_dir import StateDir
from lsst.ctrl.bps.panda.local.state.store import Store
from support.paths import DATA_DIR

STATE_DIRS = DATA_DIR / "state_dirs"

EVERY_TABLE = {
    "steps",
    "requests",
    "tasks",
    "gates",
    "jobs",
    "deps",
    "attempts",
    "builds",
    "job_events",
    "panda_tasks",
    "panda_files",
    "panda_conditional",
    "panda_reruns",
}


def _copy(name: str, tmp_path: Path) -> Path:
    path = tmp_path / "panda_local.sqlite3"
    shutil.copyfile(STATE_DIRS / name, path)
    return path


def _read(path: Path, query: str) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


def _user_version(path: Path) -> int:
    return _read(path, "PRAGMA user_version")[0][0]


def _layout(path: Path) -> dict[str, object]:
    """Every table with its columns (name, type, not null, default, key); every index with its SQL."""
    rows = _read(path, "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
    return {
        name: _read(path, f"PRAGMA table_info({name})") if kind == "table" else " ".join(sql.split())
        for kind, name, sql in rows
    }


@pytest.mark.parametrize("fixture", ["v0_embedded.sqlite3", "v0_idds.sqlite3"])
def test_version_0_database_is_migrated_and_its_rows_read_through_the_store(fixture, tmp_path):
    path = _copy(fixture, tmp_path)
    assert _user_version(path) == 0
    store = Store(path)
    assert _user_version(path) == CURRENT_VERSION
    request = store.request(1)
    assert (request["name"], RequestStatus(request["status"])) == ("schema_v0", RequestStatus.SubFinished)
    tasks = store.tasks([1])
    assert [task["name"] for task in tasks] == ["first", "second", "final"]
    jobs = {
        row["name"]: (JobState(row["status"]), row["exit_code"], row["attempt_status"])
        for row in store.jobs_with_last_attempt([task["task_id"] for task in tasks])
    }
    assert jobs == {
        "a1": (JobState.SUCCEEDED, 0, "finished"),
        "a2": (JobState.SUCCEEDED, 0, "finished"),
        "b1": (JobState.FAILED, 3, "failed"),
        "final_job": (JobState.SUCCEEDED, 0, "finished"),
    }
    assert EVERY_TABLE <= set(_layout(path))


def test_rows_of_the_idds_engine_survive_the_migration(tmp_path):
    path = _copy("v0_idds.sqlite3", tmp_path)
    Store(path)
    assert _read(path, "SELECT idds_request_id, name FROM panda_conditional") == [(1, "final")]


@pytest.mark.parametrize("fixture", ["v0_embedded.sqlite3", "v0_idds.sqlite3"])
def test_migrated_database_has_the_layout_of_a_new_one(fixture, tmp_path):
    migrated = _copy(fixture, tmp_path)
    Store(migrated)
    new = tmp_path / "new.sqlite3"
    Store(new)
    assert _layout(migrated) == _layout(new)


def test_second_open_writes_nothing(tmp_path):
    path = _copy("v0_embedded.sqlite3", tmp_path)
    Store(path).close()
    watcher = sqlite3.connect(path)
    before = (watcher.execute("PRAGMA data_version").fetchone(), _layout(path), _user_version(path))
    store = Store(path)
    assert store.request(1)["name"] == "schema_v0"
    # data_version changes when another connection commits anything.
    assert (watcher.execute("PRAGMA data_version").fetchone(), _layout(path), _user_version(path)) == before
    watcher.close()


def test_new_database_has_every_table_and_the_current_version(tmp_path):
    path = tmp_path / "new.sqlite3"
    Store(path)
    layout = _layout(path)
    assert set(_read(path, "SELECT name FROM sqlite_master WHERE type = 'table'")) >= {
        (table,) for table in EVERY_TABLE
    }
    assert {"jobs_ready", "attempts_running", "panda_tasks_name", "job_events_job"} <= set(layout)
    assert _user_version(path) == CURRENT_VERSION


def test_version_0_tasks_without_the_vo_columns_get_them(tmp_path):
    path = _copy("v0_embedded.sqlite3", tmp_path)
    conn = sqlite3.connect(path)
    conn.executescript("ALTER TABLE tasks DROP COLUMN vo; ALTER TABLE tasks DROP COLUMN prod_source_label;")
    conn.close()
    store = Store(path)
    assert {"vo", "prod_source_label"} <= set(store.tasks([1])[0].keys())


def _future(tmp_path: Path) -> Path:
    path = tmp_path / "panda_local.sqlite3"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {CURRENT_VERSION + 1}")
    conn.close()
    return path


def test_database_of_a_newer_version_is_refused_saying_what_to_do(tmp_path):
    path = _future(tmp_path)
    with pytest.raises(SchemaTooNewError) as refused:
        Store(path)
    message = str(refused.value)
    assert str(path) in message
    assert f"schema version {CURRENT_VERSION + 1}" in message
    assert f"up to {CURRENT_VERSION}" in message
    assert "Install a newer ctrl_bps_panda" in message and "--state-dir" in message
    assert _user_version(path) == CURRENT_VERSION + 1


def test_server_start_on_a_newer_database_fails_with_the_message_and_frees_the_directory(tmp_path):
    _future(tmp_path)
    state = StateDir(tmp_path)
    with pytest.raises(SchemaTooNewError, match="Install a newer ctrl_bps_panda"):
        LocalPandaServer(state, port=0).open()
    assert not state.is_served()


def test_panda_local_start_on_a_newer_database_prints_the_message(tmp_path, capsys):
    path = _future(tmp_path)
    assert panda_local(["start", "--state-dir", str(tmp_path), "--port", "0"]) == 1
    error = capsys.readouterr().err
    assert str(path) in error and "Install a newer ctrl_bps_panda" in error
    assert "Traceback" not in error


def test_panda_local_status_on_a_newer_database_prints_the_message(tmp_path, capsys):
    path = _future(tmp_path)
    assert panda_local(["status", "--state-dir", str(tmp_path)]) == 1
    assert f"{path} has schema version {CURRENT_VERSION + 1}" in capsys.readouterr().err


def test_unknown_layout_is_refused_and_left_unchanged(tmp_path):
    path = tmp_path / "panda_local.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE jobs (job_id INTEGER PRIMARY KEY)")
    conn.close()
    with pytest.raises(SchemaError, match=r"table jobs lacks the columns task_id.*--state-dir") as refused:
        Store(path)
    assert str(path) in str(refused.value)
    assert set(_layout(path)) == {"jobs"} and _user_version(path) == 0


def test_apply_schema_returns_the_version_found(tmp_path):
    path = _copy("v0_embedded.sqlite3", tmp_path)
    conn = sqlite3.connect(path, isolation_level=None)
    assert apply_schema(conn, path) == 0
    assert apply_schema(conn, path) == CURRENT_VERSION
    conn.close()


def test_there_is_one_migration_from_each_older_version_in_order():
    assert [migration.from_version for migration in MIGRATIONS] == list(range(CURRENT_VERSION))
