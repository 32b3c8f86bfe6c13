# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""``panda_local``: start in the background, refuse a second start, status, env, stop."""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from lsst.ctrl.bps.panda.local.cli import ping
from support.paths import REPO_ROOT

pytestmark = [pytest.mark.real_servers, pytest.mark.timeout(120)]

SCRIPT = REPO_ROOT / "bin" / "panda_local"


def _run(*args, check=True):
    result = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=90)
    if check and result.returncode:
        raise AssertionError(f"panda_local {args} failed ({result.returncode}): {result.stderr}")
    return result


def _exports(text):
    values = {}
    for line in text.splitlines():
        assert line.startswith("export "), f"not an export line: {line!r}"
        name, _, value = line[len("export ") :].partition("=")
        values[name] = shlex.split(value)[0]
    return values


def test_start_background_refuses_a_second_start_and_stop_frees_the_directory(tmp_path):
    state = tmp_path / "state"
    started = _run("start", "--background", "--state-dir", str(state), "--max-jobs", "1")
    try:
        assert "serving" in started.stdout
        record = json.loads((state / "server.json").read_text())
        token = (state / "token").read_text().strip()
        assert ping(record["url"], token)
        assert record["url"].startswith("http://127.0.0.1:")

        second = _run("start", "--background", "--state-dir", str(state), check=False)
        assert second.returncode != 0 and "already served" in second.stderr

        status = json.loads(_run("status", "--state-dir", str(state)).stdout)
        assert status["running"] is True and status["pid"] == record["pid"]

        env = _exports(_run("env", "--state-dir", str(state)).stdout)
        assert env["PANDA_URL"] == env["PANDA_URL_SSL"] == env["PANDACACHE_URL"] == record["url"]
        assert env["PANDA_AUTH"] == "oidc" and env["PANDA_AUTH_VO"] == "local"
        assert env["PANDA_AUTH_ID_TOKEN"] == "" and env["PANDA_BEHIND_REAL_LB"] == "1"
        assert (Path(env["PANDA_CONFIG_ROOT"]) / ".token").is_file()  # the client's login (panda_auth)
        assert env["BPS_WMS_SERVICE_CLASS"] == "lsst.ctrl.bps.panda.PanDAService"
        assert (Path(env["CTRL_BPS_PANDA_DIR"]) / "config" / "bps_local.yaml").is_file()
        assert (Path(env["CTRL_MPEXEC_DIR"]) / "bin" / "pipetask").exists()
    finally:
        stopped = _run("stop", "--state-dir", str(state), check=False)
    assert stopped.returncode == 0
    assert not (state / "server.json").exists()
    assert _run("status", "--state-dir", str(state), check=False).returncode == 1


def test_env_before_any_start_says_so(tmp_path):
    result = _run("env", "--state-dir", str(tmp_path / "never"), check=False)
    assert result.returncode != 0 and "never started" in result.stderr and not result.stdout


def test_default_state_dir_comes_from_the_environment(tmp_path, monkeypatch):
    from lsst.ctrl.bps.panda.local.state.state_dir import default_state_dir

    monkeypatch.setenv("PANDA_LOCAL_STATE_DIR", str(tmp_path / "from_env"))
    assert default_state_dir() == tmp_path / "from_env"
    monkeypatch.delenv("PANDA_LOCAL_STATE_DIR")
    assert default_state_dir() == Path(os.path.expanduser("~")) / ".panda_local"


def test_engine_choices_are_the_registered_engines():
    from lsst.ctrl.bps.panda.local.cli import _parser
    from lsst.ctrl.bps.panda.local.engines import ENGINES

    verbs = next(action for action in _parser()._actions if action.dest == "verb")
    engine = next(action for action in verbs.choices["start"]._actions if action.dest == "engine")
    assert list(engine.choices) == list(ENGINES) == ["embedded", "idds", "panda"]
    assert all(kind.name == name for name, kind in ENGINES.items())


@pytest.mark.parametrize("verb", ["start", "status"])
def test_unknown_engine_in_the_state_dir_is_a_clear_error(tmp_path, verb):
    state = tmp_path / "state"
    state.mkdir()
    (state / "engine").write_text("jedi-of-the-future\n")
    result = _run(verb, "--state-dir", str(state), check=False)
    assert result.returncode == 1
    assert (
        f"panda_local: {state / 'engine'} names an unknown engine 'jedi-of-the-future': "
        "start with --engine {embedded,idds,panda} to choose one"
    ) in result.stderr
    assert not (state / "server.json").exists() and not result.stdout
