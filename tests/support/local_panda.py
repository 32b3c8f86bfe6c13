# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Local PanDA helpers: shell-payload DAGs, relay reply checks, a ``panda_local start`` process."""

import os
import subprocess
import sys
import time
from pathlib import Path

from support.loopback import TEST_PANDA_PORT, TEST_PANDA_URL
from support.real_servers import stop_process

__all__ = ["LOCAL_PANDA_POLL", "ServerProcess", "ShellDag", "call_ok"]

LOCAL_PANDA_POLL = 0.1
"""Seconds between polls of a request's status."""


class ShellDag:
    """Build an iDDS workflow of shell payloads the way convert.py builds a BPS one.

    Parameters
    ----------
    name : `str`
        Workflow name.
    """

    def __init__(self, name: str) -> None:
        from idds.workflowv2.workflow import Workflow

        self.workflow = Workflow(name=name)
        self.works = {}

    def task(self, name, jobs, executable, *, queue="LOCAL_CONVENTIONAL", maxattempt=1, **attributes):
        """Add a task; ``jobs`` maps each job name to its parents ``[(task, job), ...]``."""
        from idds.doma.workflowv2.domapandawork import DomaPanDAWork

        index = len(self.works) + 1
        entries = [
            {
                "name": job,
                "order_id": order,
                "dependencies": [{"task": task, "inputname": parent} for task, parent in parents],
            }
            for order, (job, parents) in enumerate(jobs.items())
        ]
        from lsst.ctrl.bps.panda.prepare.task_work import task_log

        # What bps prepare sends with config/bps_local.yaml: the real JEDI (panda engine) needs a log
        # template, a cloud and the CRIC site of the queue; the other engines ignore them.
        options = dict(task_rss=0, maxwalltime=90000, core_count=1)
        options.update(task_log=task_log(), task_cloud="US", task_site="LOCAL", prodSourceLabel="managed")
        options.update(attributes)
        work = DomaPanDAWork(
            executable=executable,
            primary_input_collection={"scope": "pseudo_dataset", "name": f"pseudo_input_collection#{index}"},
            output_collections=[{"scope": "pseudo_dataset", "name": f"pseudo_output_collection#{index}"}],
            log_collections=[],
            dependency_map=entries,
            task_name=name,
            task_queue=queue,
            encode_command_line=True,
            maxattempt=maxattempt,
            **options,
        )
        self.works[name] = work
        self.workflow.add_work(work)
        return work

    def final(self, name, executable, after, queue="LOCAL_MERGE"):
        """Add the final job: released by an AndCondition over ``is_terminated`` of ``after``."""
        from idds.workflowv2.workflow import AndCondition

        work = self.task(name, {f"{name}_job": []}, executable, queue=queue)
        condition = AndCondition(conditions=[self.works[t].is_terminated for t in after], true_works=[work])
        self.workflow.add_condition(condition)
        return work


def call_ok(reply):
    """Return the value of a successful relay call, failing the test otherwise."""
    status, envelope = reply
    assert status == 0, f"HTTP/transport error: {reply}"
    ok, value = envelope
    assert ok is True, f"relay failure: {envelope}"
    if isinstance(value, list | tuple) and len(value) == 2 and value[0] is False:
        raise AssertionError(f"error inside the call: {value[1]}")
    return value


class ServerProcess:
    """A ``panda_local start`` (foreground) subprocess on the test port."""

    def __init__(self, state_dir: Path, max_jobs: int = 2) -> None:
        self.state_dir = state_dir
        self.max_jobs = max_jobs
        self.process = None

    def start(self, timeout: float = 60.0) -> None:
        """Start the server and wait (bounded) until it answers ping."""
        from lsst.ctrl.bps.panda.local.cli import ping

        command = [
            sys.executable,
            "-m",
            "lsst.ctrl.bps.panda.local.cli",
            "start",
            "--state-dir",
            str(self.state_dir),
            "--port",
            str(TEST_PANDA_PORT),
            "--max-jobs",
            str(self.max_jobs),
        ]
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.state_dir.parent / "server_process.log", "ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        token_path = self.state_dir / "token"
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "the server exited while starting"
            if token_path.exists() and ping(TEST_PANDA_URL, token_path.read_text().strip(), timeout=1):
                os.environ["PANDA_AUTH_ID_TOKEN"] = token_path.read_text().strip()
                return
            time.sleep(0.1)
        raise AssertionError("the server did not answer ping in time")

    def kill(self) -> None:
        """SIGKILL the server (its running jobs go on as orphans)."""
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL)."""
        if self.process is not None:
            stop_process(self.process, group=False, grace=30, kill_wait=10)
