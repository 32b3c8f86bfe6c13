# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The real iDDS stack of ``panda_local --engine idds``: configuration, errors, SIGKILL recovery."""

import configparser
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lsst.ctrl.bps.panda.errors import IddsStackError
from lsst.ctrl.bps.panda.local.idds.idds_config import NOTIFIER_CLASS, StackConfig, write_configs
from lsst.ctrl.bps.panda.local.idds.idds_postgres import PostgresCluster
from lsst.ctrl.bps.panda.local.idds.idds_stack import IddsStack
from lsst.ctrl.bps.panda.local.state.state_dir import StateDir
from support.real_servers import required_servers_venv_python

pytestmark = [pytest.mark.idds_engine, pytest.mark.real_servers, pytest.mark.timeout(300)]


STUB_NOTIFIER = """
import threading


class LocalPandaNotifier(threading.Thread):
    def __init__(self, url=None, token=None, token_file=None, logger=None, **kwargs):
        super().__init__(daemon=True)
        self.stopped = threading.Event()

    def set_request_queue(self, queue):
        self.queue = queue

    def set_response_queue(self, queue):
        pass

    def set_logger(self, logger):
        pass

    def run(self):
        self.stopped.wait()

    def stop(self):
        self.stopped.set()
"""


def test_missing_server_virtualenv_names_the_make_target(tmp_path):
    with pytest.raises(IddsStackError, match="make real-idds-venv"):
        IddsStack(tmp_path, server_python=tmp_path / "nowhere" / "python")


def test_start_with_the_idds_engine_and_no_virtualenv_fails_before_serving(tmp_path):
    state = tmp_path / "state"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "lsst.ctrl.bps.panda.local.cli",
            "start",
            "--background",
            "--state-dir",
            str(state),
        ]
        + ["--engine", "idds", "--idds-python", str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "make real-idds-venv" in done.stderr
    assert not StateDir(state).is_served() and StateDir(state).engine() is None


def test_engine_is_kept_for_the_next_start(tmp_path):
    state = StateDir(tmp_path / "state")
    assert state.engine() is None
    state.remember_engine("idds")
    assert StateDir(tmp_path / "state").engine() == "idds"


def test_daemons_config_loads_our_notifier_with_its_token_file_and_test_loop_polls(tmp_path):
    config = StackConfig(
        home=tmp_path / "idds",
        database_url="postgresql://idds@127.0.0.1:5/idds",
        rest_url="http://127.0.0.1:6/idds",
        redis_port=7,
        notifier_url="http://127.0.0.1:8/local/idds/messages",
        notifier_token="secret",
        notifier_token_file=tmp_path / "token",
    )
    write_configs(config)
    parsed = configparser.ConfigParser()
    parsed.read(config.idds_cfg)
    assert parsed["conductor"]["plugin.notifier"] == NOTIFIER_CLASS
    assert parsed["conductor"]["plugin.notifier.url"] == config.notifier_url
    assert parsed["conductor"]["plugin.notifier.token_file"] == str(tmp_path / "token")
    assert "secret" not in config.idds_cfg.read_text()
    assert {"clerk", "transformer", "submitter", "poller", "trigger", "finisher", "conductor"} <= {
        agent.strip() for agent in parsed["main"]["agents"].split(",")
    }
    for section in ("clerk", "transformer", "carrier"):
        assert int(parsed[section]["num_threads"]) >= 6 and int(parsed[section]["poll_period"]) == 3
    assert parsed["cache"]["port"] == "7" and parsed["database"]["default"] == config.database_url
    assert config.idds_cfg.stat().st_mode & 0o077 == 0


@pytest.fixture
def server_python():
    return required_servers_venv_python()


def test_stack_killed_with_sigkill_comes_back_on_its_data_and_stops_cleanly(tmp_path, server_python):
    notifier = tmp_path / "idds_notifier.py"
    notifier.write_text(STUB_NOTIFIER)
    state = tmp_path / "state"
    url = "http://127.0.0.1:9/server/panda"
    stacks = []

    def new_stack():
        stacks.append(IddsStack(state, server_python=server_python, notifier_module=notifier))
        stacks[-1].start(url, url, "token")
        return stacks[-1]

    try:
        stack = new_stack()
        assert stack.health() == dict.fromkeys(("postgres", "redis", "rest", "daemons", "rest_ping"), True)
        killed = stack.pids
        for pid in killed.values():
            os.killpg(pid, signal.SIGKILL)
        time.sleep(0.5)
        assert (state / "idds" / "pgdata" / "postmaster.pid").exists()  # stale now

        again = new_stack()
        assert again.health()["rest_ping"] and again.health()["daemons"]
        assert not set(again.pids.values()) & set(killed.values())
        assert (state / "idds" / "schema.built").exists()  # the data were kept, not rebuilt
        status = IddsStack.read_status(state)
        assert status is not None and all(status["running"].values())

        # A server killed with its stack still running: the next start ends the leftovers first.
        left = again.pids
        third = new_stack()
        assert [
            name for name, pid in left.items() if Path(f"/proc/{pid}").exists() and not _zombie(pid)
        ] == []
        third.stop()
        third.stop()  # idempotent
        assert third.pids == {} and IddsStack.read_status(state) is None
    finally:
        for made in reversed(stacks):
            made.stop()
        PostgresCluster(state / "idds", Path("/nonexistent"), tmp_path / "pg.log").remove()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] == "Z"
    except OSError:
        return True
