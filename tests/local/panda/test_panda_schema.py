# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""PanDA's schema load: the official order and the recipe's workarounds, on a miniature checkout."""

import pytest
from lsst.ctrl.bps.panda.errors import RealPandaError
from lsst.ctrl.bps.panda.local.panda.panda_schema import RETRY_RULES, _steps, schema_sqls


@pytest.fixture
def checkout(tmp_path):
    """A panda-database checkout with one line per file (what each step runs is its file's text)."""
    sqls = tmp_path / "schema" / "postgres" / "sqls"
    (sqls / "patches").mkdir(parents=True)
    (sqls.parent / "version").write_text("0.1.6\n")
    (sqls / "init_step.sql").write_text(
        "CREATE DATABASE x;\nCREATE SCHEMA IF NOT EXISTS partman;\nCREATE EXTENSION pg_partman;\n"
    )
    for name in ("PANDA_TABLE", "PANDA_SCHEDULER_JOBS", "PANDA_SEQUENCE", "DEFT_TABLE", "PANDAARCH_TABLE"):
        (sqls / f"pg_{name}.sql").write_text(f"-- {name}\n")
    (sqls / "patches" / "0.0.31.patch.sql").write_text(
        "x;\nCREATE TABLE IF NOT EXISTS doma_panda.worker_node_queue (a int);\n"
        "ALTER TABLE q OWNER TO panda;\ny;\n"
    )
    (sqls / "post_step_panda.sql").write_text("-- post panda\n")
    (sqls / "post_step_cron.sql").write_text("-- post cron\n")
    return tmp_path


def test_steps_follow_the_official_order_with_the_workarounds(checkout, tmp_path):
    steps = _steps(schema_sqls(checkout), tmp_path / "sock", 25439)
    names = [name for name, _, _ in steps]
    assert names[:4] == ["init_step", "pg_PANDA_TABLE.sql", "pg_PANDA_SEQUENCE.sql", "worker_node_queue"]
    assert names.index("pg_PANDA_SCHEDULER_JOBS.sql") == names.index("worker_node_queue") + 1
    assert names.index("pg_PANDAARCH_TABLE.sql") < names.index("pg_DEFT_TABLE.sql")
    text = dict((name, sql) for name, _, sql in steps)
    assert "partman" not in text["init_step"] and "CREATE DATABASE x" in text["init_step"]
    assert text["worker_node_queue"].endswith("OWNER TO panda;") and "y;" not in text["worker_node_queue"]
    assert "PARTITION OF %s DEFAULT" in text["default partitions"]
    assert "VALUES ('PanDA', 0, 1, 6)" in text["version"]
    assert text["cron socket"] == f"UPDATE cron.job SET nodename='{tmp_path / 'sock'}', nodeport=25439;"
    assert names[-1] == "retry rules (ours)"
    for _, _, code, action, _ in RETRY_RULES:
        assert (
            f"'pilotErrorCode', {code}" in text["retry rules (ours)"] and action == "increase_memory_xtimes"
        )


def test_a_directory_that_is_no_checkout_names_the_variable(tmp_path):
    with pytest.raises(RealPandaError, match="PANDA_DATABASE_DIR=.*PanDAWMS/panda-database"):
        schema_sqls(tmp_path)
