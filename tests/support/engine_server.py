# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""A ``panda_local start`` subprocess for one engine (the shared engine suite)."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from support.loopback import TEST_PANDA_PORT, TEST_PANDA_URL
from support.real_servers import required_servers_venv_python, servers_venv_python


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
        if self.engine in ("idds", "panda"):
            command += ["--idds-python", str(servers_venv_python())]
        self.state_dir.mkdir(parents=True, exist_ok=True)
        log = self.state_dir.parent / f"server_{self.engine}.log"
        with open(log, "ab") as stream:
            self.process = subprocess.Popen(
                command, stdout=stream, stderr=subprocess.STDOUT, start_new_session=True
            )
        token_path = self.state_dir / "token"
        deadline = time.monotonic() + (480 if self.engine == "panda" else 240)
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
        """Pids of the servers' pieces (iDDS's; and the real PanDA's on the panda engine), if any."""
        pids = []
        for piece in ("idds", "panda"):
            try:
                record = json.loads((self.state_dir / piece / "stack.json").read_text())
            except FileNotFoundError:
                continue
            pids += list(record["pids"].values())
        return pids

    def kill_server(self) -> None:
        """SIGKILL the ``panda_local`` process alone."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def kill_everything(self) -> None:
        """SIGKILL the server's process group and every group of its iDDS stack."""
        assert self.process is not None
        stack = self.stack_pids()
        assert bool(stack) == (self.engine != "embedded")
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
            timeout=300,
            check=False,
        )
        # Safety net: nothing of the stack may outlive the module (found by cwd/environment).
        from lsst.ctrl.bps.panda.local.idds.stack_processes import owned_by

        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and owned_by(int(entry.name), self.state_dir / "idds"):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(entry.name), signal.SIGKILL)
        if self.engine == "panda":
            from lsst.ctrl.bps.panda.local.panda.panda_stack import PandaStack

            record = PandaStack.read_record(self.state_dir / "panda")
            if record is not None:
                PandaStack(self.state_dir / "panda", Path(record["venv"])).stop()


@contextlib.contextmanager
def running_engine(engine: str, state_root: Path):
    """Run ``panda_local start --engine engine`` in ``state_root/state`` until the block ends.

    On the way out the server stops, an idds engine's PostgreSQL cluster is removed and the token
    leaves the environment.
    """
    if engine in ("idds", "panda"):
        required_servers_venv_python()
    running = EngineServer(engine, state_root / "state")
    running.start()
    try:
        yield running
    finally:
        running.stop()
        with contextlib.suppress(Exception):
            from lsst.ctrl.bps.panda.local.idds.idds_postgres import PostgresCluster, postgres_bin

            PostgresCluster(running.state_dir / "idds", postgres_bin(), running.state_dir / "pg.log").remove()
        if engine == "panda":
            with contextlib.suppress(Exception):
                from lsst.ctrl.bps.panda.local.panda.panda_stack import PandaPostgres

                PandaPostgres(
                    running.state_dir / "panda", postgres_bin(), running.state_dir / "pg.log"
                ).remove()
        os.environ.pop("PANDA_AUTH_ID_TOKEN", None)
