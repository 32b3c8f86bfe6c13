# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause

"""The behaviour both engines of the local PanDA share (``panda_local start --engine E``).

Each case runs against a ``panda_local start`` subprocess with that engine (one per engine for the
module: the real iDDS stack takes seconds to start), through the unmodified PanDA client.  The
payloads write a ledger outside the state directory (a line per start and per end, with the job
name), which is what every case is judged by: the same assertions hold on both engines.  Where the
engines cannot agree the real iDDS is right, and the README lists the difference.
"""

import collections
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TEST_PANDA_PORT, TEST_PANDA_URL, call_ok
from real_servers import servers_venv_python

pytestmark = [pytest.mark.real_servers, pytest.mark.slow, pytest.mark.timeout(1200)]


TIMEOUT = {"embedded": 120.0, "idds": 300.0}
"""Seconds a request may take to end: the real conductor hands a message to PanDA a few seconds
(``PANDA_LOCAL_IDDS_RELEASE_DELAY``, 3 s) after writing it, plus its 3 s polls per level, on a
busy machine."""

POLL = 0.5
"""Seconds between polls of a request."""

ALLOCATE_200_MB = "python3 -c \"import time; block = b'x' * (200 * 1024 * 1024); time.sleep(1.5)\""


class EngineServer:
    """A foreground ``panda_local start --engine E`` in a session of its own, on the test port."""

    def __init__(self, engine: str, state_dir: Path) -> None:
        self.engine = engine
        self.state_dir = state_dir
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        """Start the server and wait (bounded) until it answers ping."""
        from lsst.ctrl.bps.panda.local.cli import ping

        command = [sys.executable, "-m", "lsst.ctrl.bps.panda.local.cli", "start", "--engine", self.engine]
        command += ["--state-dir", str(self.state_dir), "--port", str(TEST_PANDA_PORT), "--max-jobs", "2"]
        if self.engine == "idds":
            command += ["--idds-python", str(servers_venv_python())]
        self.state_dir.mkdir(parents=True, exist_ok=True)
        log = self.state_dir.parent / f"server_{self.engine}.log"
        with open(log, "ab") as stream:
            self.process = subprocess.Popen(
                command, stdout=stream, stderr=subprocess.STDOUT, start_new_session=True
            )
        token_path = self.state_dir / "token"
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"panda_local exited ({self.process.returncode}):\n{log.read_text()[-3000:]}"
                )
            if token_path.exists() and ping(TEST_PANDA_URL, token_path.read_text().strip(), timeout=1):
                os.environ["PANDA_AUTH_ID_TOKEN"] = token_path.read_text().strip()
                return
            time.sleep(0.2)
        raise AssertionError(
            f"panda_local --engine {self.engine} did not answer ping:\n{log.read_text()[-3000:]}"
        )

    def stack_pids(self) -> list[int]:
        """Pids of the iDDS stack's pieces (PostgreSQL, Redis, REST app, daemons), if any."""
        try:
            record = json.loads((self.state_dir / "idds" / "stack.json").read_text())
        except FileNotFoundError:
            return []
        return list(record["pids"].values())

    def kill_server(self) -> None:
        """SIGKILL the ``panda_local`` process alone."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def kill_everything(self) -> None:
        """SIGKILL the server's process group and every group of its iDDS stack."""
        assert self.process is not None
        stack = self.stack_pids()
        assert bool(stack) == (self.engine == "idds")
        for pid in [self.process.pid, *stack]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL), then anything a killed server left."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "lsst.ctrl.bps.panda.local.cli",
                "stop",
                "--state-dir",
                str(self.state_dir),
            ],
            capture_output=True,
            timeout=120,
            check=False,
        )
        # Safety net: nothing of the stack may outlive the module (found by cwd/environment).
        from lsst.ctrl.bps.panda.local.idds.stack_processes import owned_by

        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and owned_by(int(entry.name), self.state_dir / "idds"):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(entry.name), signal.SIGKILL)


@pytest.fixture(scope="module", params=["embedded", pytest.param("idds", marks=pytest.mark.idds_engine)])
def server(request, tmp_path_factory):
    """One ``panda_local`` per engine for the module."""
    if request.param == "idds" and servers_venv_python() is None:
        pytest.fail("no .venv-real-idds: run `make real-idds-venv` (`make test` builds it)")
    running = EngineServer(request.param, tmp_path_factory.mktemp(request.param) / "state")
    running.start()
    yield running
    running.stop()
    with contextlib.suppress(Exception):
        from lsst.ctrl.bps.panda.local.idds.idds_postgres import PostgresCluster, postgres_bin

        PostgresCluster(running.state_dir / "idds", postgres_bin(), running.state_dir / "pg.log").remove()
    os.environ.pop("PANDA_AUTH_ID_TOKEN", None)


# -- helpers ---------------------------------------------------------------------------------------
def ledger_payload(ledger: Path, command: str = "true") -> str:
    """A payload that writes its start and end (with its job name) to ``ledger`` around ``command``."""
    return f'echo "start ${{IN/L}} $$" >> {ledger}; {command} || exit 9; echo "end ${{IN/L}} $$" >> {ledger}'


class Ledger:
    """What the payloads wrote: starts and ends per job, in the order they happened."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def lines(self) -> list[tuple[str, str]]:
        text = self.path.read_text() if self.path.exists() else ""
        return [(kind, job) for kind, job, _pid in (line.split() for line in text.splitlines())]

    def count(self, kind: str) -> collections.Counter:
        return collections.Counter(job for k, job in self.lines() if k == kind)

    def index(self, kind: str, job: str) -> int:
        return self.lines().index((kind, job))


def submit(idds_api, dag) -> int:
    return call_ok(idds_api.submit(dag.workflow))


def wait_status(idds_api, request_id, engine, states=("Finished", "SubFinished", "Failed", "Cancelled")):
    """Poll the request (bounded) until its status is one of ``states``; return that status."""
    deadline = time.monotonic() + TIMEOUT[engine]
    status = None
    while time.monotonic() < deadline:
        records = call_ok(idds_api.get_requests(request_id=request_id))
        status = records[0]["status"].name if records else None
        if status in states:
            return status
        time.sleep(POLL)
    raise AssertionError(f"request {request_id} on {engine} still {status} after {TIMEOUT[engine]} s")


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def assert_each_ran_once(ledger: Ledger, jobs: list[str]) -> None:
    starts, ends = ledger.count("start"), ledger.count("end")
    assert {job: starts[job] for job in jobs} == dict.fromkeys(jobs, 1), f"starts: {starts}"
    assert {job: ends[job] for job in jobs} == dict.fromkeys(jobs, 1), f"ends: {ends}"
    assert set(starts) == set(jobs)


# -- the cases -------------------------------------------------------------------------------------
def test_chain_runs_every_job_once_after_its_parent(server, idds_api, shell_dag, tmp_path):
    ledger = Ledger(tmp_path / "ledger")
    dag = shell_dag(f"chain_{server.engine}")
    dag.task("a", {"a1": [], "a2": []}, ledger_payload(ledger.path))
    dag.task("b", {"b1": [("a", "a1")], "b2": [("a", "a2")]}, ledger_payload(ledger.path))
    request_id = submit(idds_api, dag)
    assert wait_status(idds_api, request_id, server.engine) == "Finished"
    assert_each_ran_once(ledger, ["a1", "a2", "b1", "b2"])
    for child, parent in (("b1", "a1"), ("b2", "a2")):
        assert ledger.index("start", child) > ledger.index("end", parent)


def test_final_job_runs_after_failures(server, idds_api, shell_dag, tmp_path):
    ledger = Ledger(tmp_path / "ledger")
    dag = shell_dag(f"final_{server.engine}")
    dag.task("a", {"a1": [], "a2": []}, ledger_payload(ledger.path, "test ${IN/L} != a2"))
    dag.final("final", ledger_payload(ledger.path), after=["a"])
    request_id = submit(idds_api, dag)
    assert wait_status(idds_api, request_id, server.engine) == "SubFinished"
    starts, ends = ledger.count("start"), ledger.count("end")
    assert starts == {"a1": 1, "a2": 1, "final_job": 1}
    assert ends == {"a1": 1, "final_job": 1}  # a2 failed before writing its end
    assert ledger.index("start", "final_job") > ledger.index("start", "a2")


def test_cancel_kills_running_jobs_and_starts_nothing_more(server, idds_api, shell_dag, tmp_path):
    ledger = Ledger(tmp_path / "ledger")
    dag = shell_dag(f"cancel_{server.engine}")
    dag.task("long", {"l1": [], "l2": []}, ledger_payload(ledger.path, "sleep 300"))
    dag.task("after", {"x1": [("long", "l1")]}, ledger_payload(ledger.path))
    request_id = submit(idds_api, dag)
    wait_for(lambda: len(ledger.count("start")) == 2, TIMEOUT[server.engine], "both long jobs to start")
    pids = [int(line.split()[2]) for line in ledger.path.read_text().splitlines()]

    call_ok(idds_api.abort(request_id=str(request_id)))
    # Real iDDS counts Cancelled transforms as failed (Clerk.get_workflow_status): a run none of whose
    # tasks finished ends Failed, or Cancelled when its transformer saw the abort first; the
    # embedded engine says Cancelled (README: engine differences).
    ended = wait_status(idds_api, request_id, server.engine)
    assert ended in {"embedded": {"Cancelled"}, "idds": {"Cancelled", "Failed"}}[server.engine]
    wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in pids), 60, "the payloads to die")
    assert ledger.count("end") == {} and set(ledger.count("start")) == {"l1", "l2"}


def test_retry_reruns_only_the_failed_jobs_then_the_final_job(server, idds_api, shell_dag, tmp_path):
    ledger, marker = Ledger(tmp_path / "ledger"), tmp_path / "break"
    marker.touch()
    dag = shell_dag(f"retry_{server.engine}")
    fail_a2 = f"test ${{IN/L}} != a2 || test ! -e {marker}"
    dag.task("a", {"a1": [], "a2": []}, ledger_payload(ledger.path, fail_a2))
    dag.task("b", {"b1": [("a", "a1")], "b2": [("a", "a2")]}, ledger_payload(ledger.path))
    dag.final("final", ledger_payload(ledger.path), after=["a", "b"])
    request_id = submit(idds_api, dag)
    assert wait_status(idds_api, request_id, server.engine) == "SubFinished"
    assert ledger.count("start") == {"a1": 1, "a2": 1, "b1": 1, "final_job": 1}

    marker.unlink()
    call_ok(idds_api.retry(request_id=str(request_id)))
    wait_for(lambda: ledger.count("start")["a2"] == 2, TIMEOUT[server.engine], "a2 to run again")
    assert wait_status(idds_api, request_id, server.engine) == "Finished"
    assert ledger.count("start") == {"a1": 1, "a2": 2, "b1": 1, "b2": 1, "final_job": 2}
    assert ledger.count("end") == {"a1": 1, "a2": 1, "b1": 1, "b2": 1, "final_job": 2}
    # The final job ran again on the complete outputs: after the re-run jobs ended.
    lines = ledger.lines()
    second_final = [i for i, line in enumerate(lines) if line == ("start", "final_job")][1]
    assert second_final > lines.index(("end", "b2")) and second_final > lines.index(("end", "a2"))


def test_memory_kill_is_retried_with_more_memory(server, idds_api, shell_dag, tmp_path):
    ledger = Ledger(tmp_path / "ledger")
    dag = shell_dag(f"memory_{server.engine}")
    dag.task(
        "hungry",
        {"h1": []},
        ledger_payload(ledger.path, ALLOCATE_200_MB),
        maxattempt=3,
        task_rss=100,
        task_rss_retry_step=200,
        task_rss_max=1000,
    )
    request_id = submit(idds_api, dag)
    assert wait_status(idds_api, request_id, server.engine) == "Finished"
    # The first attempt (100 MB) was killed before its end; the second (300 MB) ended.
    assert ledger.count("start") == {"h1": 2} and ledger.count("end") == {"h1": 1}


@pytest.mark.parametrize("kill", ["server", "everything"])
def test_killed_server_restarts_and_the_run_completes_without_loss_or_rerun(
    server, idds_api, shell_dag, tmp_path, kill
):
    ledger = Ledger(tmp_path / "ledger")
    dag = shell_dag(f"killed_{kill}_{server.engine}")
    width = 3
    dag.task("a", {f"a{i}": [] for i in range(width)}, ledger_payload(ledger.path, "sleep 2"))
    dag.task("b", {f"b{i}": [("a", f"a{i}")] for i in range(width)}, ledger_payload(ledger.path, "sleep 1"))
    request_id = submit(idds_api, dag)
    wait_for(lambda: sum(ledger.count("end").values()) >= 1, TIMEOUT[server.engine], "a first job to end")
    if kill == "server":
        server.kill_server()
    else:
        server.kill_everything()
    server.start()
    assert wait_status(idds_api, request_id, server.engine) == "Finished"
    assert_each_ran_once(ledger, [f"a{i}" for i in range(width)] + [f"b{i}" for i in range(width)])
