# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Run task executables as a PanDA pilot does, with a payload that reports what it received."""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from lsst.ctrl.bps.panda.edgenode import cmd_line_decoder
from lsst.ctrl.bps.panda.prepare.command_line import (
    IN_PLACEHOLDER,
    command_line_for,
    pseudo_input_name,
    runner_executable,
)

from support.paths import DATA_DIR

DECODER = Path(cmd_line_decoder.__file__)
PAYLOAD = DATA_DIR / "dump_argv.py"
PYTHON = shlex.quote(sys.executable)
FILE_RUNNER = f"{PYTHON} {shlex.quote(str(DECODER))} _cmd_line_"
MODULE_RUNNER = f"{PYTHON} -m lsst.ctrl.bps.panda.edgenode.cmd_line_decoder _cmd_line_"
DUMP = f"{PYTHON} {shlex.quote(str(PAYLOAD))}"

HOSTILE_ARGS = [
    "plain",
    "two  words",
    "",
    "it's",
    'say "hi"',
    "$HOME",
    "${X:-y} `id` $(id)",
    "back\\slash",
    "trailing\\",
    "tab\there",
    "new\nline",
    "naïve ünïcödé 日本",
    "+",
    "a+b:c",
    "key:value",
    "=starts-with-equals",
    "-d",
    "visit=1 AND detector IN (1,2)",
    "{1,2}",
    "*",
    "~",
    "semi;colon & amp | pipe > redirect",
]


def job_env(**extra):
    """Environment of a job: the test's, plus ``RT_*`` values, never a real cloud."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RT_", "AWS_", "S3_ENDPOINT"))}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra)
    return env


def pilot_run(executable, pseudo_input, workdir, env=None, timeout=60):
    """Run a task executable as a PanDA pilot does: ``${IN/L}`` replaced, through bash."""
    line = executable.replace(IN_PLACEHOLDER, pseudo_input)
    workdir.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        ["bash", "-c", line],
        cwd=workdir,
        env=env or job_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def bash_argv(line, workdir, env=None):
    """Return what the payload receives when bash runs ``line`` directly (the reference)."""
    result = subprocess.run(
        ["bash", "-c", line], cwd=workdir, env=env or job_env(), capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["argv"]


def make_task(arguments, *, cmdvals=None, per_job=(), environment=None, files=(), end_point="", **kw):
    """Return (task executable, pseudo input) for a job running the dump payload."""
    cmdvals = dict(cmdvals or {})
    cmdvals.setdefault("fileDistributionEndPoint", end_point)
    line = command_line_for(
        job_name="job1",
        executable=kw.get("executable", DUMP),
        arguments=arguments,
        cmdvals=cmdvals,
        per_job_keys=frozenset(per_job),
        environment=environment,
    )
    executable = runner_executable(kw.get("runner", FILE_RUNNER), line, end_point, files)
    return executable, pseudo_input_name("job1", {key: cmdvals[key] for key in per_job})


def dumped(result):
    """Return what the dump payload printed, after checking that the job succeeded."""
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
