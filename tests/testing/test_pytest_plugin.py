# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The pytest plugin, as another package uses it: tests/downstream/ run in its own pytest process."""

import json
import os
import subprocess
import sys

import pytest
from support.paths import REPO_ROOT

pytestmark = pytest.mark.real_servers


def run_downstream(tmp_path, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PANDA_", "PANDACACHE_"))}
    env["KIT_VERDICTS_FILE"] = str(tmp_path / "verdicts.json")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-c",
            "tests/downstream/pytest.ini",
            "tests/downstream",
            "-q",
            "-p",
            "no:cacheprovider",
            *args,
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_downstream_suite_reaches_the_same_verdicts_on_the_double_and_the_local_panda(tmp_path):
    result = run_downstream(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    verdicts = json.loads((tmp_path / "verdicts.json").read_text())
    assert set(verdicts) == {"success", "failure_with_final_job", "cancel"}
    for scenario, by_backend in verdicts.items():
        # The final verdicts; "first" (the reading right after submit) depends on how fast the run starts.
        final = {backend: (v["v2"], v["older"]) for backend, v in by_backend.items()}
        assert final["idds_double"] == final["local_panda"], scenario
    assert (verdicts["success"]["idds_double"]["v2"], verdicts["success"]["idds_double"]["older"]) == (
        "accepted",
        "accepted",
    )


def test_importing_the_plugin_is_inert_and_it_is_no_pytest11_entry_point():
    # Installing the wheel changes nothing in another package's test run: enabled only by -p.
    from importlib.metadata import distribution

    assert not [e for e in distribution("lsst-ctrl-bps-panda").entry_points if e.group == "pytest11"]
    snippet = (
        "import os, sys, json; before = dict(os.environ)\n"
        "import lsst.ctrl.bps.panda.testing.pytest_plugin\n"
        "print(json.dumps([dict(os.environ) == before, "
        "sorted(m for m in sys.modules if m.startswith(('pandaclient', 'flask')))]))"
    )
    result = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == [True, []]


def test_the_example_downstream_test_passes(tmp_path):
    # examples/testing/ enables the plugin from its conftest.py, as a downstream package would.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PANDA_", "PANDACACHE_"))}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "examples/testing", "-q", "-p", "no:cacheprovider"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "2 passed" in result.stdout
