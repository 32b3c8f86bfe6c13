# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The ``panda`` engine without servers: its registration, what it checks first, how it wires the stacks.

The engine on the real stacks is in the shared suites (``tests/local/test_engines.py``, parameter
``panda``, make test-real-panda).
"""

import argparse
import base64
import time
from types import SimpleNamespace

import pytest
from lsst.ctrl.bps.panda.errors import IddsStackError, RealPandaError
from lsst.ctrl.bps.panda.local.engines import engine_class
from lsst.ctrl.bps.panda.local.panda.cric_queues import MEMORY_CLASSES
from lsst.ctrl.bps.panda.local.panda.panda_engine import SCHEMA_ENV, PandaEngine, check_prerequisites
from lsst.ctrl.bps.panda.local.pilot.pilot_loop import PilotLoop
from lsst.ctrl.bps.panda.local.state.state_dir import StateDir
from support.stand_in_stack import QueueApi, StandInIddsStack, StandInPandaStack

pytestmark = pytest.mark.timeout(60)


def fake_postgres(tmp_path, with_cron):
    """A PostgreSQL installation for postgres_bin: bin/initdb, bin/pg_ctl, and lib/pg_cron.so or not."""
    root = tmp_path / "pg"
    (root / "bin").mkdir(parents=True)
    (root / "lib").mkdir()
    for tool in ("initdb", "pg_ctl"):
        (root / "bin" / tool).touch()
    if with_cron:
        (root / "lib" / "pg_cron.so").touch()
    return root / "bin"


def schema_checkout(tmp_path):
    (tmp_path / "panda-database" / "schema").mkdir(parents=True)
    return tmp_path / "panda-database"


def test_the_panda_engine_is_registered_with_its_name():
    assert engine_class("panda") is PandaEngine
    assert PandaEngine.runs_servers and IddsStackError in PandaEngine.user_errors
    assert RealPandaError in PandaEngine.user_errors  # printed without a traceback


def test_missing_pg_cron_names_the_install_target(tmp_path, monkeypatch):
    monkeypatch.setenv("PANDA_LOCAL_PG_BIN", str(fake_postgres(tmp_path, with_cron=False)))
    with pytest.raises(RealPandaError, match="pg_cron .*make real-panda-install"):
        check_prerequisites(
            tmp_path / "venv" / "bin" / "python", tmp_path / "panda", schema_checkout(tmp_path)
        )


def test_a_new_database_without_the_schema_checkout_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("PANDA_LOCAL_PG_BIN", str(fake_postgres(tmp_path, with_cron=True)))
    with pytest.raises(RealPandaError, match=rf"\${SCHEMA_ENV}.*PanDAWMS/panda-database"):
        check_prerequisites(tmp_path / "venv" / "bin" / "python", tmp_path / "panda", None)
    with pytest.raises(RealPandaError, match="not a PanDAWMS/panda-database checkout"):
        check_prerequisites(tmp_path / "venv" / "bin" / "python", tmp_path / "panda", tmp_path)
    check_prerequisites(tmp_path / "venv" / "bin" / "python", tmp_path / "panda", schema_checkout(tmp_path))


def test_a_loaded_database_needs_no_schema_checkout(tmp_path, monkeypatch):
    monkeypatch.setenv("PANDA_LOCAL_PG_BIN", str(fake_postgres(tmp_path, with_cron=True)))
    (tmp_path / "panda").mkdir()
    (tmp_path / "panda" / "schema.loaded").touch()
    check_prerequisites(tmp_path / "venv" / "bin" / "python", tmp_path / "panda", None)


def test_from_arguments_checks_before_anything_starts(tmp_path, monkeypatch):
    monkeypatch.setenv("PANDA_LOCAL_PG_BIN", str(fake_postgres(tmp_path, with_cron=True)))
    monkeypatch.delenv(SCHEMA_ENV, raising=False)
    python = tmp_path / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.touch()
    args = argparse.Namespace(idds_python=python, state_dir=tmp_path / "state")
    with pytest.raises(RealPandaError, match=SCHEMA_ENV):
        PandaEngine.from_arguments(args)
    monkeypatch.setenv(SCHEMA_ENV, str(schema_checkout(tmp_path)))
    engine = PandaEngine.from_arguments(args)
    assert engine.server_python == python and engine.schema == tmp_path / "panda-database"
    with pytest.raises(IddsStackError, match="make real-idds-venv"):
        PandaEngine.from_arguments(argparse.Namespace(idds_python=tmp_path / "nowhere", state_dir=None))


def test_start_wires_idds_to_the_real_panda_and_stop_goes_in_reverse(tmp_path):
    made = []

    def stacks(state):
        panda = StandInPandaStack(tmp_path / "panda")
        made.extend([panda, StandInIddsStack(state, panda.events)])
        return made[0], made[1]

    engine = PandaEngine(tmp_path / "python", stack_factory=stacks)
    state = StateDir(tmp_path / "state")
    state.ensure()
    local = SimpleNamespace(store=None, policy=SimpleNamespace(max_cores=3))
    parts = engine.parts(local, "token", lambda: None)
    assert parts.relay is engine.relay and parts.blueprints == () and parts.pass_hooks == ()
    engine.start_servers(state, 4321, "token")
    try:
        panda, idds = made
        # iDDS's daemons call the real panda-server without a token; the notifier posts to JEDI's listener.
        assert idds.started_with == ("http://127.0.0.1:4321/server/panda", panda.messages_url, "token")
        assert idds.panda_client_env["PANDA_URL"] == "http://127.0.0.1:9/server/panda"
        assert idds.panda_client_env["PANDA_AUTH"] == "none"
        assert engine.relay.rest_url == idds.rest_url
        assert [pilot.queue for pilot in engine.pilots.pilots] == list(MEMORY_CLASSES)
        assert engine.pilots.max_jobs == 3
    finally:
        engine.stop_servers()
    assert made[0].events == ["panda start", "idds start", "idds stop", "panda stop"]
    assert engine.pilots is None and engine.panda is None and engine.idds is None


def job(panda_id, command):
    return {
        "PandaID": panda_id,
        "taskID": 1,
        "attemptNr": 1,
        "transformation": "bash-c-enc",
        "jobPars": base64.b64encode(command.encode()).decode(),
        "minRamCount": 500,
        "maxWalltime": 60,
        "coreCount": 1,
    }


def test_pilots_take_at_most_max_jobs_over_the_queues_and_report_each_end(tmp_path):
    api = QueueApi({"Q1": [job(1, "sleep 0.5"), job(2, "sleep 0.5")], "Q2": [job(3, "exit 3")]})
    loop = PilotLoop(api, ["Q1", "Q2"], {"PATH": "/usr/bin:/bin"}, tmp_path / "work", tmp_path / "rse", 2)
    loop.run_pass()
    assert loop.running == 2 and api.asked == [("Q1", 2)]  # Q1 filled both slots
    deadline = time.monotonic() + 30
    while len([u for u in api.updates if u[1] in ("finished", "failed")]) < 3 and time.monotonic() < deadline:
        loop.run_pass()
        time.sleep(0.1)
    ends = {job_id: state for job_id, state in api.updates if state in ("finished", "failed")}
    assert ends == {1: "finished", 2: "finished", 3: "failed"}
    assert (tmp_path / "rse" / "1" / "log.tgz").exists()
