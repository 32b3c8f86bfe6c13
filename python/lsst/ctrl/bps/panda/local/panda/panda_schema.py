# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The PanDA database: PanDAWMS ``panda-database``'s PostgreSQL schema, loaded once, and our retry rules.

The schema is not on PyPI: ``PANDA_DATABASE_DIR`` names a checkout of GitHub's
``PanDAWMS/panda-database`` (tested with schema 0.1.6).  It is loaded as the official
``panda_db_init.sh`` (the Docker image's) does, with these workarounds -- the one place they live:

1. **Order.** ``init_step.sql``, then for each of PANDA, PANDAMETA, PANDAARCH, PANDABIGMON, DEFT the
   files ``_TABLE, _VIEW, _TYPE, _SEQUENCE, _FUNCTION, _TRIGGER, _SCHEDULER_JOBS, _PROCEDURE``
   (`SCHEMA_PARTS`), then ``post_step_panda.sql`` and ``post_step_cron.sql``.
2. **worker_node_queue.** ``pg_PANDA_SCHEDULER_JOBS.sql`` needs ``doma_panda.worker_node_queue``,
   which only ``patches/0.0.31.patch.sql`` creates: its ``CREATE TABLE`` is run first.
3. **No pg_partman.** The schema needs pg_partman 5.x (``create_parent(p_type => 'range')``);
   Debian 12 ships 4.7.  The partman lines of ``init_step.sql`` are dropped and every partitioned
   table gets a ``DEFAULT`` partition instead (no retention: fine for a test stack).
4. **pg_cron's socket.** ``post_step_cron.sql`` points its jobs at the default socket directory
   (``nodename = ''``); ours is the data directory, on our port.  pg_cron's jobs are needed (for
   example ``jedi_refr_mintaskids_bystatus``: without it JEDI's ContentsFeeder sees no datasets).
5. **Grants.** The files are run as the superuser ``postgres``; the ``panda`` role gets every right
   on the four ``doma_*`` schemas.

Retry rules (`RETRY_RULES`) are ours, not production's data: a fresh schema has none, and real JEDI
escalates memory only through them.  They do what DOMA documents for memory kills (each retry
multiplies the memory by ``memory_multiplier``, sent as ``retryRamStep`` = request x multiplier):
``increase_memory_xtimes`` (PanDA's retry module: the job's memory times ``retryRamStep /
ramCount``, at most ``retryRamMax``) on the pilot's "payload ran out of memory" (1212) and
"payload exceeded maximum allowed memory" (1235) errors.  (With ``increase_memory`` instead,
JEDI raises a 200 MB job to 1000 MB whatever the step: recorded once, not kept.)
"""

from __future__ import annotations

import logging
import re
import subprocess
from pathlib import Path

from ...errors import RealPandaError

__all__ = ["RETRY_RULES", "SCHEMA_PARTS", "SCHEMAS", "load_schema", "schema_sqls"]

_LOG = logging.getLogger(__name__)

SCHEMA_COMPONENTS = ("PANDA", "PANDAMETA", "PANDAARCH", "PANDABIGMON", "DEFT")
SCHEMA_PARTS = (
    "",
    "_TABLE",
    "_VIEW",
    "_TYPE",
    "_SEQUENCE",
    "_FUNCTION",
    "_TRIGGER",
    "_SCHEDULER_JOBS",
    "_PROCEDURE",
)
"""Suffixes of ``pg_<COMPONENT><suffix>.sql``, in the order they are loaded."""

SCHEMAS = ("doma_panda", "doma_pandameta", "doma_pandaarch", "doma_deft")
"""The schemas the ``panda`` role works in."""

RETRY_RULES: list[tuple[int, str, int, str, str]] = [
    (1, "pilotErrorCode", 1212, "increase_memory_xtimes", "payload ran out of memory (ours)"),
    (2, "pilotErrorCode", 1235, "increase_memory_xtimes", "payload exceeded maximum memory (ours)"),
]
"""(id, error source, error code, action, description) of the retry rules we load."""

RETRY_ACTIONS = {"increase_memory": 1, "no_retry": 2, "limit_retry": 3, "increase_memory_xtimes": 4}

TIMEOUT = 600.0
"""Seconds the whole load may take."""


def schema_sqls(checkout: Path) -> Path:
    """Return ``schema/postgres/sqls`` of a ``panda-database`` checkout.

    Parameters
    ----------
    checkout : `pathlib.Path`
        The checkout (``PANDA_DATABASE_DIR``).

    Raises
    ------
    RealPandaError
        Raised if it is not one (the message says where to get it).
    """
    sqls = Path(checkout) / "schema" / "postgres" / "sqls"
    if not (sqls / "init_step.sql").exists():
        raise RealPandaError(
            f"PANDA_DATABASE_DIR={checkout} is not a checkout of github.com/PanDAWMS/panda-database "
            f"({sqls / 'init_step.sql'} is missing): clone it and name it with PANDA_DATABASE_DIR"
        )
    return sqls


def _default_partitions() -> str:
    return """DO $$ DECLARE t text; BEGIN
 FOR t IN SELECT n.nspname||'.'||c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid=p.partrelid
   JOIN pg_namespace n ON n.oid=c.relnamespace
   WHERE NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhparent=c.oid) LOOP
  EXECUTE format('CREATE TABLE %s_default PARTITION OF %s DEFAULT', t, t);
 END LOOP; END $$;
"""


def _retry_rules() -> str:
    lines = [
        f"INSERT INTO doma_panda.retryactions (retryaction_id, retry_action, active, retry_description) "
        f"VALUES ({number}, '{action}', 'Y', 'ours: local stack') ON CONFLICT DO NOTHING;"
        for action, number in RETRY_ACTIONS.items()
    ]
    lines += [
        f"INSERT INTO doma_panda.retryerrors (retryerror_id, errorsource, errorcode, active, retryaction, "
        f"description) VALUES ({rid}, '{source}', {code}, 'Y', {RETRY_ACTIONS[action]}, '{text}') "
        "ON CONFLICT DO NOTHING;"
        for rid, source, code, action, text in RETRY_RULES
    ]
    return "\n".join(lines) + "\n"


def _steps(sqls: Path, socket_dir: Path, port: int) -> list[tuple[str, str | None, str]]:
    """Return (name, database, SQL text) of every step, in order."""
    init = (sqls / "init_step.sql").read_text().replace("${PANDA_DB_PASSWORD}", "password")
    steps: list[tuple[str, str | None, str]] = [
        ("init_step", None, "\n".join(line for line in init.splitlines() if "partman" not in line))
    ]
    for component in SCHEMA_COMPONENTS:
        for part in SCHEMA_PARTS:
            path = sqls / f"pg_{component}{part}.sql"
            if not path.exists():
                continue
            if component + part == "PANDA_SCHEDULER_JOBS":
                patch = (sqls / "patches" / "0.0.31.patch.sql").read_text()
                found = re.search(
                    r"CREATE TABLE IF NOT EXISTS doma_panda\.worker_node_queue.*?OWNER TO panda;", patch, re.S
                )
                if found:
                    steps.append(("worker_node_queue", "panda_db", found.group(0)))
            steps.append((path.name, "panda_db", path.read_text()))
    steps.append(("default partitions", "panda_db", _default_partitions()))
    major, minor, patch_level = (sqls.parent / "version").read_text().strip().split(".")
    steps.append(
        (
            "version",
            "panda_db",
            "INSERT INTO doma_panda.pandadb_version (component, major, minor, patch) "
            f"VALUES ('PanDA', {major}, {minor}, {patch_level});",
        )
    )
    steps.append(("post_step_panda.sql", "panda_db", (sqls / "post_step_panda.sql").read_text()))
    steps.append(("post_step_cron.sql", None, (sqls / "post_step_cron.sql").read_text()))
    steps.append(("cron socket", None, f"UPDATE cron.job SET nodename='{socket_dir}', nodeport={port};"))
    grants = "".join(
        f"GRANT ALL ON SCHEMA {s} TO panda; GRANT ALL ON ALL TABLES IN SCHEMA {s} TO panda; "
        f"GRANT ALL ON ALL SEQUENCES IN SCHEMA {s} TO panda; "
        f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {s} TO panda; "
        f"GRANT EXECUTE ON ALL PROCEDURES IN SCHEMA {s} TO panda;\n"
        for s in SCHEMAS
    )
    steps.append(("grants", "panda_db", grants))
    steps.append(("retry rules (ours)", "panda_db", _retry_rules()))
    return steps


def load_schema(psql: Path, port: int, socket_dir: Path, checkout: Path, log_path: Path) -> int:
    """Load the schema, its workarounds and our retry rules; return how many statements failed.

    Statements fail in the official load too (``ON_ERROR_STOP=0``: objects of other components,
    comments on missing columns); the count is logged, and a missing ``doma_panda.jedi_tasks`` at
    the end is an error.

    Parameters
    ----------
    psql : `pathlib.Path`
        PostgreSQL's ``psql``.
    port : `int`
        The cluster's port on 127.0.0.1 (user ``postgres``, trusted).
    socket_dir : `pathlib.Path`
        The cluster's socket directory (where pg_cron's jobs connect).
    checkout : `pathlib.Path`
        The ``panda-database`` checkout.
    log_path : `pathlib.Path`
        Where psql's output goes.

    Raises
    ------
    RealPandaError
        Raised if the checkout is not one, or the main tables are missing after the load.
    """
    sqls = schema_sqls(checkout)
    failed = 0
    with open(log_path, "w") as log:
        for name, database, text in _steps(sqls, socket_dir, port):
            log.write(f"========== {name}\n")
            log.flush()
            command = [str(psql), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-q"]
            command += ["-v", "ON_ERROR_STOP=0", "-d", database or "postgres"]
            done = subprocess.run(
                command, input=text, text=True, stdout=log, stderr=subprocess.PIPE, timeout=TIMEOUT
            )
            errors = [line for line in done.stderr.splitlines() if "ERROR" in line]
            failed += len(errors)
            log.write(done.stderr)
    check = subprocess.run(
        [
            str(psql),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            "postgres",
            "-d",
            "panda_db",
            "-At",
            "-c",
            "SELECT to_regclass('doma_panda.jedi_tasks') IS NOT NULL",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check.stdout.strip() != "t":
        raise RealPandaError(f"the PanDA schema did not load (no doma_panda.jedi_tasks): see {log_path}")
    _LOG.info("PanDA schema loaded from %s (%d statements failed, as in the official load)", sqls, failed)
    return failed
