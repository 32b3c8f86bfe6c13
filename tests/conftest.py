# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause

"""Shared test set-up.

Importing ``pandaclient`` reads the PanDA URLs and resolves the cache host at
import time, so every URL is pointed at a loopback port chosen here, before
any test module can import it.  Servers started by tests bind to that port.
"""

import os
import socket


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


TEST_PANDA_PORT = int(os.environ.get("CTRL_BPS_PANDA_TEST_PORT") or _free_loopback_port())
TEST_PANDA_URL = f"http://127.0.0.1:{TEST_PANDA_PORT}/server/panda"

for _name in ("PANDA_URL", "PANDA_URL_SSL", "PANDACACHE_URL"):
    os.environ[_name] = TEST_PANDA_URL
os.environ["PANDA_BEHIND_REAL_LB"] = "1"
os.environ.setdefault("PANDA_AUTH", "oidc")
os.environ.setdefault("PANDA_AUTH_VO", "local")
os.environ.pop("X509_USER_PROXY", None)


# --- Local PanDA fixtures (tests/test_local_*.py) ------------------------------------------------
# Everything below only adds fixtures; the URLs above are set before pandaclient is imported.
import contextlib  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

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
        options = dict(task_rss=0, maxwalltime=90000, core_count=1)
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


@pytest.fixture
def shell_dag():
    """Return the `ShellDag` class."""
    return ShellDag


@pytest.fixture
def idds_api():
    """Return the unmodified PanDA client's iDDS API, as the plugin gets it."""
    import idds.common.utils as idds_utils
    from pandaclient import idds_api as client_api

    return client_api.get_api(
        dumper=idds_utils.json_dumps, loader=idds_utils.json_loads, compress=True, manager=True
    )


@pytest.fixture
def local_panda(tmp_path):
    """Start a local PanDA in this process on the test port, its token in the environment."""
    from lsst.ctrl.bps.panda.local.server import LocalPandaServer
    from lsst.ctrl.bps.panda.local.state.state_dir import StateDir

    server = LocalPandaServer(
        StateDir(tmp_path / "state"), port=TEST_PANDA_PORT, max_cores=2, sample_interval=0.05
    )
    server.start_in_thread()
    os.environ["PANDA_AUTH_ID_TOKEN"] = server.token
    yield server
    server.close(kill_running=True)
    os.environ.pop("PANDA_AUTH_ID_TOKEN", None)


def call_ok(reply):
    """Return the value of a successful relay call, failing the test otherwise."""
    status, envelope = reply
    assert status == 0, f"HTTP/transport error: {reply}"
    ok, value = envelope
    assert ok is True, f"relay failure: {envelope}"
    if isinstance(value, list | tuple) and len(value) == 2 and value[0] is False:
        raise AssertionError(f"error inside the call: {value[1]}")
    return value


@pytest.fixture
def wait_request(idds_api):
    """Return a function that polls a request until it ends (bounded) and returns its record."""

    def wait(request_id, timeout=60.0, states=("Finished", "SubFinished", "Failed", "Cancelled")):
        deadline = time.monotonic() + timeout
        record = None
        while time.monotonic() < deadline:
            record = call_ok(idds_api.get_requests(request_id=request_id))[0]
            if record["status"].name in states:
                return record
            time.sleep(LOCAL_PANDA_POLL)
        raise AssertionError(f"request {request_id} did not reach {states} in {timeout} s: {record}")

    return wait


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


@pytest.fixture
def server_process(tmp_path):
    """Make `ServerProcess` objects; every process made is stopped at the end."""
    made = []

    def make(state_dir=None, max_jobs=2):
        process = ServerProcess(state_dir or tmp_path / "state", max_jobs)
        made.append(process)
        return process

    yield make
    for process in made:
        with contextlib.suppress(Exception):
            process.stop()
    os.environ.pop("PANDA_AUTH_ID_TOKEN", None)


@pytest.fixture
def unwrap():
    """Return `call_ok`, which gives the value of a successful relay call."""
    return call_ok


# --- The real PanDA relay and iDDS REST server (tests/test_real_idds_contract.py) ----------------
import atexit  # noqa: E402

from real_servers import RealServers, servers_venv_python, stop_process  # noqa: E402


def servers_venv_python_or_skip() -> Path:
    """Return the real servers' Python: skip without ``.venv-real-idds``, fail under ``CI=true``.

    ``make test`` installs it under CI, where a missing one is a failure.
    """
    python = servers_venv_python()
    if python is None:
        message = "the real servers' virtualenv is missing: run `make real-idds-venv`"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return python


@pytest.fixture(scope="session")
def real_servers():
    """PostgreSQL + the real iDDS REST app + the real PanDA server, for the whole session.

    Skips when ``.venv-real-idds`` is missing, except under ``CI=true``, where ``make test``
    installs it and a missing one is a failure.
    """
    python = servers_venv_python_or_skip()
    servers = RealServers(python)
    atexit.register(servers.stop)  # also when the session dies without running finalizers
    servers.start()
    print(f"\nreal PanDA relay + iDDS REST started in {servers.startup_seconds:.1f} s")
    yield servers
    servers.stop()


@pytest.fixture
def real_panda(real_servers, monkeypatch):
    """Point the PanDA client at the real relay, as a user with a grid proxy; return the servers."""
    from pandaclient import Client

    monkeypatch.setattr(Client, "baseURLSSL", real_servers.panda_url)
    monkeypatch.setattr(Client, "baseURL", real_servers.panda_url)
    for name in ("PANDA_URL", "PANDA_URL_SSL", "PANDACACHE_URL"):
        monkeypatch.setenv(name, real_servers.panda_url)
    monkeypatch.setenv("PANDA_AUTH", "x509")
    monkeypatch.setenv("X509_USER_PROXY", str(real_servers.user_cert))
    monkeypatch.delenv("PANDA_AUTH_ID_TOKEN", raising=False)
    return real_servers
