# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Live tests against the real panda-server + JEDI (``make test-real-panda``; never in ``make test``).

They use the stack running in ``$REAL_PANDA_HOME`` (``make real-panda``), or start one there (then
``$PANDA_DATABASE_DIR`` must name a ``PanDAWMS/panda-database`` checkout when the database is new)
and stop it at the end.  The scenarios run as the recording does (``record_real_panda.py``, in a
subprocess: the client must see the stack's URLs, not the test port's), into a temporary directory.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lsst.ctrl.bps.panda.local.panda.cric_queues import MEMORY_CLASSES
from lsst.ctrl.bps.panda.local.panda.panda_config import SCRIPTS, PandaHome, server_environment, write_configs
from lsst.ctrl.bps.panda.local.panda.panda_stack import PandaStack
from lsst.ctrl.bps.panda.local.pilot.attempts import PAYLOAD_EXCEEDED_MEMORY
from lsst.ctrl.bps.panda.local.pilot.pilot_api import PilotApi

pytestmark = [pytest.mark.real_panda, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[3]
RECORDER = ROOT / "tests" / "real_panda" / "record_real_panda.py"
JEDI_MASTER = SCRIPTS / "jedi_master.py"


def _running(home):
    record = PandaStack.read_record(home)
    return record is not None and all(Path(f"/proc/{pid}").exists() for pid in record["pids"].values())


@pytest.fixture(scope="module")
def stack_home():
    home = Path(os.environ.get("REAL_PANDA_HOME", ROOT / ".real-panda")).absolute()
    started = None
    if not _running(home):
        venv = Path(os.environ.get("REAL_PANDA_VENV", ROOT / ".venv-real-idds"))
        schema = os.environ.get("PANDA_DATABASE_DIR") or None
        started = PandaStack(home, venv, Path(schema) if schema else None)
        started.start()
    yield home
    if started is not None:
        started.stop()


def play(home, tmp_path, *scenarios):
    env = {key: value for key, value in os.environ.items() if not key.startswith("PANDA")}
    subprocess.run(
        [sys.executable, str(RECORDER), "--home", str(home), "--out", str(tmp_path), *scenarios],
        env=env,
        cwd=ROOT,
        check=True,
        timeout=1500,
        stdout=subprocess.DEVNULL,
    )
    return {name: json.loads((tmp_path / f"{name}.json").read_text()) for name in scenarios}


def test_the_pilot_api_answers_and_an_empty_queue_has_no_job(stack_home):
    api = PilotApi(PandaStack.read_record(stack_home)["url"])
    assert api.call("GET", "system/is_alive", {})["success"]
    assert api.acquire_jobs("LOCAL_EXTRA_HIMEM", n_jobs=1) == []


def test_a_task_runs_to_done_with_our_executor_as_pilot(stack_home, tmp_path):
    run = play(stack_home, tmp_path, "success")["success"]
    assert run["task"][-1] == "done" and "timeout" not in run
    assert [attempt[0] for attempt in run["attempts"]] == ["finished", "finished"]
    assert {attempt[3] for attempt in run["attempts"]} == {"LOCAL_CONVENTIONAL"}


def test_memory_kill_is_retried_with_more_memory_by_our_retry_rules(stack_home, tmp_path):
    run = play(stack_home, tmp_path, "memory_escalation")["memory_escalation"]
    first, *later = run["attempts"]
    assert first[0] == "failed" and first[4] == PAYLOAD_EXCEEDED_MEMORY
    assert later and later[0][2] > first[2], "JEDI did not raise minRamCount after the memory kill"


def test_a_task_without_a_queue_is_brokered_by_its_memory(stack_home, tmp_path):
    run = play(stack_home, tmp_path, "brokerage_by_ram")["brokerage_by_ram"]
    sites = {attempt[3] for attempt in run["attempts"]}
    low, high = MEMORY_CLASSES["LOCAL_HIMEM"]
    assert sites == {"LOCAL_HIMEM"}, f"8000 MB ({low}-{high} MB class) brokered to {sites}"


def test_jedi_launcher_gives_the_failure_metrics_subquery_an_alias(tmp_path):
    # Our PostgreSQL 15 workaround (jedi_master.py): the SQL the patched method holds, in JEDI's venv.
    venv = Path(os.environ.get("REAL_PANDA_VENV", ROOT / ".venv-real-idds")).absolute()
    home = PandaHome(tmp_path, venv, 1, 2)
    write_configs(home)
    done = subprocess.run(
        [str(venv / "bin" / "python"), str(JEDI_MASTER), "--check-patch"],
        env=server_environment(home),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.rstrip().endswith(") AS failure_metrics"), done.stdout
    assert done.stdout.count("jobsArchived") == 2  # the two halves of the UNION, unchanged
