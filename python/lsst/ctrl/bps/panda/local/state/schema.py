# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The layout of the local PanDA's SQLite database, versioned with ``PRAGMA user_version``.

Every table and index of the store is defined here, those of the ``idds``
engine (``panda_*``) and of fine-grained jobs (``job_events``) included, and
`apply_schema` is the only code that creates them.  The other modules of the
local PanDA only read and write rows.

Versions:

- 0: the layout of ctrl_bps_panda before the schema was versioned
  (``user_version`` 0): the store's tables, and the ``panda_*`` and
  ``job_events`` tables only if a server had run with the ``idds`` engine.
- 1: every table of version 0, always present.

A new database gets `CURRENT_LAYOUT` and `CURRENT_VERSION` at once.  An
older one is migrated one version at a time by `MIGRATIONS`, each step in
one transaction.  To change the layout: add a step ``n -> n+1`` to
`MIGRATIONS`, make `CURRENT_LAYOUT` the whole new layout (leaving the
layouts earlier steps use unchanged) and keep a database of version ``n``
under ``tests/data/state_dirs``.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ...errors import SchemaError, SchemaTooNewError

__all__ = [
    "CURRENT_LAYOUT",
    "CURRENT_VERSION",
    "MIGRATIONS",
    "Migration",
    "apply_schema",
    "create_retry_jobs_table",
    "schema_version",
]

_LOG = logging.getLogger(__name__)

_LAYOUT_V1: tuple[str, ...] = (
    # The store: workflow steps, requests, tasks, their gates, jobs, dependencies, attempts, builds.
    """CREATE TABLE IF NOT EXISTS steps (
    internal_id TEXT NOT NULL, work_name TEXT NOT NULL, data TEXT NOT NULL, created_at REAL,
    PRIMARY KEY (internal_id, work_name))""",
    """CREATE TABLE IF NOT EXISTS requests (
    request_id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, username TEXT, internal_id TEXT,
    status INTEGER NOT NULL, created_at REAL, updated_at REAL, errors TEXT,
    campaign TEXT, campaign_scope TEXT, campaign_group TEXT, campaign_tag TEXT)""",
    """CREATE TABLE IF NOT EXISTS tasks (
    task_id INTEGER PRIMARY KEY, request_id INTEGER NOT NULL, name TEXT NOT NULL,
    workload_id INTEGER NOT NULL, queue TEXT NOT NULL, executable TEXT NOT NULL,
    max_attempt INTEGER NOT NULL, walltime INTEGER, rss INTEGER, rss_max INTEGER, rss_step INTEGER,
    core_count INTEGER NOT NULL, priority INTEGER, input_collection TEXT, output_collection TEXT,
    gated INTEGER NOT NULL DEFAULT 0, status INTEGER NOT NULL,
    created_at REAL, updated_at REAL, finished_at REAL, vo TEXT, prod_source_label TEXT)""",
    "CREATE INDEX IF NOT EXISTS tasks_request ON tasks (request_id)",
    """CREATE TABLE IF NOT EXISTS gates (
    task_id INTEGER NOT NULL, cond_task_id INTEGER NOT NULL, method TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS gates_cond ON gates (cond_task_id)",
    "CREATE INDEX IF NOT EXISTS gates_task ON gates (task_id)",
    """CREATE TABLE IF NOT EXISTS jobs (
    job_id INTEGER PRIMARY KEY, task_id INTEGER NOT NULL, request_id INTEGER NOT NULL,
    queue TEXT NOT NULL, name TEXT NOT NULL, order_id INTEGER, status INTEGER NOT NULL,
    pending INTEGER NOT NULL, attempt_nr INTEGER NOT NULL DEFAULT 0, attempt_limit INTEGER NOT NULL,
    rss INTEGER, panda_id INTEGER, exit_code INTEGER, error_code INTEGER, error_diag TEXT,
    updated_at REAL)""",
    "CREATE INDEX IF NOT EXISTS jobs_task_status ON jobs (task_id, status)",
    "CREATE INDEX IF NOT EXISTS jobs_request_status ON jobs (request_id, status)",
    "CREATE INDEX IF NOT EXISTS jobs_ready ON jobs (queue, job_id) WHERE status = 1",
    "CREATE TABLE IF NOT EXISTS deps (child INTEGER NOT NULL, parent INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS deps_parent ON deps (parent)",
    "CREATE INDEX IF NOT EXISTS deps_child ON deps (child)",
    """CREATE TABLE IF NOT EXISTS attempts (
    attempt_id INTEGER PRIMARY KEY AUTOINCREMENT, job_id INTEGER NOT NULL, attempt_nr INTEGER NOT NULL,
    status TEXT NOT NULL, started_at REAL, ended_at REAL, exit_code INTEGER, peak_rss_mb REAL,
    rss_limit INTEGER, error_code INTEGER, error_diag TEXT, workdir TEXT, log_path TEXT,
    pid INTEGER, pid_started REAL)""",
    "CREATE INDEX IF NOT EXISTS attempts_job ON attempts (job_id)",
    "CREATE INDEX IF NOT EXISTS attempts_running ON attempts (attempt_id) WHERE status = 'running'",
    """CREATE TABLE IF NOT EXISTS builds (
    request_id INTEGER PRIMARY KEY, signature TEXT NOT NULL, built_at REAL)""",
    # One row per event given to an attempt of a fine-grained job (attempt_id is its PandaID).
    """CREATE TABLE IF NOT EXISTS job_events (
    job_id INTEGER NOT NULL, number INTEGER NOT NULL, attempt_id INTEGER NOT NULL,
    attempt_nr INTEGER NOT NULL, status TEXT NOT NULL, exit_code INTEGER, error_diag TEXT,
    PRIMARY KEY (attempt_id, number))""",
    "CREATE INDEX IF NOT EXISTS job_events_job ON job_events (job_id, status)",
    # The idds engine: PanDA tasks as JEDI keeps them, their files, and the final-task reruns.
    """CREATE TABLE IF NOT EXISTS panda_tasks (
    jedi_task_id INTEGER PRIMARY KEY, request_id INTEGER NOT NULL, task_id INTEGER NOT NULL,
    idds_request_id INTEGER, name TEXT NOT NULL, user_name TEXT, working_group TEXT,
    processing_type TEXT, trans_path TEXT, params TEXT NOT NULL, staging INTEGER NOT NULL,
    ended_by TEXT, created_at REAL, modified_at REAL)""",
    "CREATE UNIQUE INDEX IF NOT EXISTS panda_tasks_name ON panda_tasks (idds_request_id, name)",
    """CREATE TABLE IF NOT EXISTS panda_files (
    file_id INTEGER PRIMARY KEY, jedi_task_id INTEGER NOT NULL, serial INTEGER NOT NULL,
    name TEXT NOT NULL, released INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS panda_files_task ON panda_files (jedi_task_id, name)",
    """CREATE TABLE IF NOT EXISTS panda_conditional (
    idds_request_id INTEGER NOT NULL, name TEXT NOT NULL, PRIMARY KEY (idds_request_id, name))""",
    """CREATE TABLE IF NOT EXISTS panda_reruns (
    jedi_task_id INTEGER PRIMARY KEY, since REAL NOT NULL, wait_for TEXT NOT NULL)""",
)

CURRENT_LAYOUT: tuple[str, ...] = _LAYOUT_V1
"""The statements that create the whole current layout in a new database."""

CURRENT_VERSION = 1
"""The ``user_version`` of a database in `CURRENT_LAYOUT`."""

_RETRY_JOBS_TABLE = "CREATE TEMP TABLE IF NOT EXISTS retry_jobs (job_id INTEGER PRIMARY KEY)"


@dataclass(frozen=True)
class Migration:
    """One step of the schema, from ``from_version`` to ``from_version + 1``."""

    from_version: int
    """The version this step starts from."""

    summary: str
    """What the step changes (for the log and the errors)."""

    apply: Callable[[sqlite3.Connection], None]
    """Change the layout; runs inside the step's transaction."""


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def _tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    return {row[0] for row in rows}


def _expected_columns(layout: tuple[str, ...]) -> dict[str, list[str]]:
    """Return the columns of every table of a layout (created in an empty in-memory database)."""
    scratch = sqlite3.connect(":memory:")
    try:
        for statement in layout:
            scratch.execute(statement)
        return {table: _columns(scratch, table) for table in _tables(scratch)}
    finally:
        scratch.close()


def _check_columns(conn: sqlite3.Connection, layout: tuple[str, ...], version: int) -> None:
    """Raise `SchemaError` if a table of ``layout`` lacks a column after the step to ``version``."""
    for table, columns in _expected_columns(layout).items():
        missing = [column for column in columns if column not in _columns(conn, table)]
        if missing:
            raise SchemaError(
                f"table {table} lacks the columns {', '.join(missing)} of schema version {version}"
            )


def _version_0_to_1(conn: sqlite3.Connection) -> None:
    """Create the tables a version-0 database lacks; add the task columns early version 0 lacked."""
    present = set(_columns(conn, "tasks"))
    for column in ("vo", "prod_source_label"):
        if present and column not in present:
            conn.execute(f"ALTER TABLE tasks ADD COLUMN {column} TEXT")
    tables = [statement for statement in _LAYOUT_V1 if statement.startswith("CREATE TABLE")]
    for statement in tables:
        conn.execute(statement)
    # Before the indexes, which would fail on a missing column with a less helpful message.
    _check_columns(conn, _LAYOUT_V1, 1)
    for statement in _LAYOUT_V1:
        if statement not in tables:
            conn.execute(statement)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(0, "create the idds engine's and the event tables; add the tasks' vo columns", _version_0_to_1),
)
"""The steps from each version to the next, in order (the step from version n is ``MIGRATIONS[n]``)."""


def schema_version(conn: sqlite3.Connection) -> int:
    """Return the ``user_version`` of a database.

    Parameters
    ----------
    conn : `sqlite3.Connection`
        Connection to the database.
    """
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _refuse_newer(path: Path, found: int) -> None:
    if found > CURRENT_VERSION:
        raise SchemaTooNewError(
            f"The local PanDA database {path} has schema version {found}, but this ctrl_bps_panda "
            f"supports versions up to {CURRENT_VERSION}: a newer ctrl_bps_panda wrote it. Install a "
            "newer ctrl_bps_panda, or start with another --state-dir (or $PANDA_LOCAL_STATE_DIR)."
        )


def _in_transaction(conn: sqlite3.Connection, path: Path, step: Callable[[int], None]) -> None:
    """Run ``step`` with the version read inside one write transaction (all or nothing)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Read again under the write lock: another process may have migrated meanwhile.
        found = schema_version(conn)
        _refuse_newer(path, found)
        step(found)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def apply_schema(conn: sqlite3.Connection, path: Path) -> int:
    """Bring a database to `CURRENT_VERSION`: create a new one, migrate an older one.

    Parameters
    ----------
    conn : `sqlite3.Connection`
        A connection to the database in autocommit mode (``isolation_level=None``).
    path : `pathlib.Path`
        The database file (named in the errors).

    Returns
    -------
    version : `int`
        The version the database had (0 for a new one).

    Raises
    ------
    SchemaTooNewError
        Raised if a newer ctrl_bps_panda wrote the database (nothing is changed).
    SchemaError
        Raised if a migration step finds a layout it does not know (that step is rolled back).
    """
    found = schema_version(conn)
    _refuse_newer(path, found)
    # Opening a current database writes nothing.
    while schema_version(conn) < CURRENT_VERSION:
        _in_transaction(conn, path, lambda version: _advance(conn, path, version))
    return found


def _advance(conn: sqlite3.Connection, path: Path, version: int) -> None:
    """Create the current layout in an empty database, or apply the step from ``version``."""
    if version >= CURRENT_VERSION:
        return  # another process got there first
    if version == 0 and not _tables(conn):
        for statement in CURRENT_LAYOUT:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {CURRENT_VERSION}")
        return
    migration = MIGRATIONS[version]
    try:
        migration.apply(conn)
    except SchemaError as exc:
        raise SchemaError(
            f"Cannot migrate the local PanDA database {path} from schema version {version} "
            f"({migration.summary}): {exc}. It was not written by ctrl_bps_panda, or was changed by "
            "hand: start with another --state-dir."
        ) from exc
    conn.execute(f"PRAGMA user_version = {version + 1}")
    _LOG.info("Migrated %s from schema version %d to %d: %s", path, version, version + 1, migration.summary)


def create_retry_jobs_table(conn: sqlite3.Connection) -> None:
    """Create this connection's scratch table ``retry_jobs`` (temporary: not part of the layout).

    Parameters
    ----------
    conn : `sqlite3.Connection`
        Connection to the database.
    """
    conn.execute(_RETRY_JOBS_TABLE)
