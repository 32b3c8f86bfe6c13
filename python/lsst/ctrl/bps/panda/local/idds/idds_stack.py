# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The real iDDS server side, run by ``panda_local start --engine idds``.

`IddsStack` starts, in this order, PostgreSQL (`idds_postgres`), iDDS's schema (once), Redis, the
real iDDS REST app (`idds_rest_app`, waitress on 127.0.0.1) and the real iDDS daemons
(``idds.agents.main`` through `idds_daemons`: the agents of `idds_config.DAEMON_AGENTS`), and stops
them in the reverse order.  They run from the servers' virtualenv (``make real-idds-venv``), each
in a process group of its own, with everything under ``<state dir>/idds/``::

    idds/stack.json     ports and pids of the running pieces (read by `recover` and ``status``)
    idds/pgdata/        PostgreSQL's data (a link to /var/tmp/panda_local-postgres/... as root)
    idds/redis/         Redis's working directory (nothing persisted: iDDS uses it as a cache)
    idds/etc/           idds.cfg, auth.cfg, alembic.ini (written at each start)
    idds/logs/          postgres.log, redis.log, rest.log, daemons.log
    idds/plugins/       idds_notifier.py, the conductor's notifier (copied at each start)

The daemons reach the local PanDA through the PanDA client they import: ``PANDA_URL`` and
``PANDA_URL_SSL`` are the local PanDA's ``/server/panda`` URL (the client calls its ``/api/v1/``),
with its bearer token as ``PANDA_AUTH=oidc`` / ``PANDA_AUTH_ID_TOKEN``.

When the ``panda_local`` server was killed (its process or its whole group, PostgreSQL, Redis and
the daemons included), the next `IddsStack.start` on the same state directory first ends what is
left of the last stack (`recover`): processes it recorded that still run (recognised by the
``PANDA_LOCAL_IDDS_HOME`` variable in their environment), a stale ``postmaster.pid``; the data in
PostgreSQL are kept, so the daemons go on with the runs they had.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from ...atomic_file import write_atomically
from ...errors import IddsStackError, PostgresError
from .idds_config import (
    RELAY_DN,
    StackConfig,
    redis_command,
    release_delay_setting,
    server_environment,
    write_configs,
)
from .idds_postgres import PostgresCluster, postgres_bin
from .stack_processes import free_port, http_ok, owned_by, terminate_group

__all__ = ["IDDS_PYTHON_ENV", "IddsStack", "default_server_python", "find_server_python"]

_LOG = logging.getLogger(__name__)

IDDS_PYTHON_ENV = "PANDA_LOCAL_IDDS_PYTHON"
"""Environment variable naming the servers' Python (default: the checkout's ``.venv-real-idds``)."""

START_TIMEOUT = 120.0
"""Seconds the REST app may take to answer ``ping``."""

STOP_GRACE = 10.0
"""Seconds a piece may take to exit after SIGTERM before it is killed."""

HERE = Path(__file__).resolve().parent
SCRIPTS = HERE / "scripts"
"""The scripts the servers' virtualenv runs (never imported by the plugin)."""
NOTIFIER_MODULE = SCRIPTS / "idds_notifier.py"
"""The conductor's notifier (stdlib only), written by the PanDA-layer side of the local PanDA."""


def default_server_python() -> Path | None:
    """Return ``$PANDA_LOCAL_IDDS_PYTHON``, else the checkout's ``.venv-real-idds/bin/python``."""
    if os.environ.get(IDDS_PYTHON_ENV):
        return Path(os.environ[IDDS_PYTHON_ENV])
    # python/lsst/ctrl/bps/panda/local/idds/ -> the checkout (an editable install).
    candidate = HERE.parents[6] / ".venv-real-idds" / "bin" / "python"
    return candidate if candidate.exists() else None


def find_server_python(explicit: Path | None = None) -> Path:
    """Return the servers' Python: ``explicit``, else `default_server_python`.

    Parameters
    ----------
    explicit : `pathlib.Path`, optional
        The servers' Python as the caller names it.

    Raises
    ------
    IddsStackError
        Raised if it does not exist; the message names ``make real-idds-venv``.
    """
    python = explicit or default_server_python()
    if python is None or not Path(python).exists():
        where = python or f"${IDDS_PYTHON_ENV} or the checkout's .venv-real-idds"
        raise IddsStackError(
            f"--engine idds needs the iDDS servers' virtualenv, not found at {where}: build it with "
            "`make real-idds-venv` in the ctrl_bps_panda checkout, or name its Python with "
            f"--idds-python / ${IDDS_PYTHON_ENV}"
        )
    return Path(python)


class IddsStack:
    """PostgreSQL + Redis + the real iDDS REST app + the real iDDS daemons of one state directory.

    Parameters
    ----------
    state_root : `pathlib.Path`
        The ``panda_local`` state directory; the stack lives in ``state_root/idds``.
    server_python : `pathlib.Path`, optional
        Python of the servers' virtualenv (default: `default_server_python`).
    notifier_module : `pathlib.Path`, optional
        The conductor's notifier module (default: ``local/idds_notifier.py``).

    Raises
    ------
    IddsStackError
        Raised if there is no servers' virtualenv (it names ``make real-idds-venv``).
    """

    def __init__(
        self, state_root: Path, *, server_python: Path | None = None, notifier_module: Path | None = None
    ) -> None:
        self.python = find_server_python(server_python)
        self.home = Path(state_root).absolute() / "idds"
        self.notifier_module = notifier_module or NOTIFIER_MODULE
        self.record_path = self.home / "stack.json"
        self.logs = self.home / "logs"
        self._processes: dict[str, subprocess.Popen] = {}
        self._postgres: PostgresCluster | None = None
        self._config: StackConfig | None = None
        self._ports: dict[str, int] = {}
        self.startup_seconds: float | None = None

    # -- what callers read ---------------------------------------------------------------------
    @property
    def rest_url(self) -> str:
        """``http://127.0.0.1:PORT/idds``, the real iDDS REST app (after `start`)."""
        if self._config is None:
            raise IddsStackError("the iDDS stack is not started")
        return self._config.rest_url

    def client_env(self) -> dict[str, str]:
        """Return the environment an iDDS client needs to call `rest_url` directly.

        The REST app authenticates every caller as `idds_config.RELAY_DN`, a super user: the
        identity recorded for a request is the ``username`` the caller passes (as it is for the real
        PanDA relay acting for a user).  ``X509_USER_PROXY`` is a non-empty placeholder because the
        iDDS client refuses to call without one, even over http.
        """
        if self._config is None:
            raise IddsStackError("the iDDS stack is not started")
        return {
            "IDDS_HOST": self._config.rest_url,
            "IDDS_CONFIG": str(self._config.idds_cfg),
            "IDDS_AUTH_CONFIG": str(self._config.auth_cfg),
            "IDDS_LOCAL_CONFIG_ROOT": str(self._config.client_root),
            "X509_USER_PROXY": str(self._config.proxy),
        }

    @property
    def pids(self) -> dict[str, int]:
        """Pids of the running pieces (``postgres``, ``redis``, ``rest``, ``daemons``)."""
        pids = {name: process.pid for name, process in self._processes.items() if process.poll() is None}
        if self._postgres is not None and (postmaster := self._postgres.postmaster_pid()):
            pids["postgres"] = postmaster
        return pids

    def health(self) -> dict[str, Any]:
        """Return whether each piece runs, and whether the REST app answers ``ping``."""
        running = self.pids
        report: dict[str, Any] = {name: name in running for name in ("postgres", "redis", "rest", "daemons")}
        report["rest_ping"] = self._config is not None and http_ok(f"{self._config.rest_url}/ping")
        return report

    # -- lifecycle -----------------------------------------------------------------------------
    def start(
        self,
        panda_url: str,
        notifier_url: str,
        notifier_token: str,
        *,
        notifier_token_file: Path | None = None,
        panda_client_env: dict[str, str] | None = None,
    ) -> None:
        """Start every piece; return once the REST app answers ``ping`` and the daemons run.

        Parameters
        ----------
        panda_url : `str`
            The local PanDA's ``PANDA_URL`` (``http://127.0.0.1:PORT/server/panda``): the daemons'
            PanDA client calls ``http://127.0.0.1:PORT/api/v1/...``.
        notifier_url : `str`
            Where the notifier posts the conductor's messages (its ``url`` argument).
        notifier_token : `str`
            The local PanDA's bearer token: the notifier's ``token`` argument, and what the
            daemons' PanDA client sends (``PANDA_AUTH_ID_TOKEN``).
        notifier_token_file : `pathlib.Path`, optional
            The file holding that token (the state directory's ``token``): when given, the
            notifier gets ``token_file`` and the daemons ``OIDC_AUTH_TOKEN_FILE`` instead of the
            token itself.
        panda_client_env : `dict` [`str`, `str`], optional
            Replaces the daemons' PanDA client variables (``PANDA_*``) when the PanDA they call is
            not the local PanDA (``--engine panda``: the real panda-server, no token).

        Raises
        ------
        IddsStackError
            Raised if a piece does not start; what was started is stopped again.
        """
        began = time.monotonic()
        if not self.notifier_module.exists():
            raise IddsStackError(f"the conductor's notifier module {self.notifier_module} is missing")
        self.home.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        last = self._read_record().get("ports", {})
        try:
            release_delay = release_delay_setting()
        except ValueError as exc:
            raise IddsStackError(f"the iDDS stack in {self.home} cannot start: {exc}") from exc
        try:
            self.recover()
            ports = {name: free_port(last.get(name)) for name in ("postgres", "redis", "rest")}
            self._ports = ports
            self._postgres = PostgresCluster(
                self.home, postgres_bin(self._site_packages()), self.logs / "postgres.log"
            )
            self._postgres.start(ports["postgres"])
            self._config = StackConfig(
                home=self.home,
                database_url=self._postgres.url(),
                rest_url=f"http://127.0.0.1:{ports['rest']}/idds",
                redis_port=ports["redis"],
                notifier_url=notifier_url,
                notifier_token=notifier_token,
                notifier_token_file=notifier_token_file,
                release_delay=release_delay,
            )
            write_configs(self._config)
            shutil.copyfile(self.notifier_module, self._config.plugins / "idds_notifier.py")
            env = server_environment(self._config, self.python, panda_url)
            if panda_client_env is not None:
                env = {key: value for key, value in env.items() if not key.startswith("PANDA_AUTH")}
                env.pop("OIDC_AUTH_TOKEN_FILE", None)
                env.update(panda_client_env)
            self._start_servers(env, ports)
        except (PostgresError, OSError, subprocess.SubprocessError) as exc:
            self.stop()
            raise IddsStackError(f"the iDDS stack in {self.home} did not start: {exc}") from exc
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        _LOG.info("iDDS stack up in %.1f s: REST at %s", self.startup_seconds, self.rest_url)

    def _start_servers(self, env: dict[str, str], ports: dict[str, int]) -> None:
        """Build the schema, then start Redis, the REST app (until it answers) and the daemons.

        Parameters
        ----------
        env : `dict` [`str`, `str`]
            The servers' environment (`server_environment`).
        ports : `dict` [`str`, `int`]
            The ports of ``redis`` and ``rest``.
        """
        self._build_schema(env)
        self._spawn("redis", redis_command(self._site_packages(), ports["redis"], self.home / "redis"), env)
        self._spawn(
            "rest",
            [str(self.python), str(SCRIPTS / "idds_rest_app.py"), str(ports["rest"]), RELAY_DN],
            env,
        )
        self._wait_for_rest()
        self._spawn("daemons", [str(self.python), str(SCRIPTS / "idds_daemons.py")], env)
        self._check_alive("daemons", wait=1.0)

    def stop(self) -> None:
        """Stop the daemons, the REST app, Redis and PostgreSQL, in that order (idempotent)."""
        for name in ("daemons", "rest", "redis"):
            process = self._processes.pop(name, None)
            if process is not None:
                terminate_group(process.pid, process, STOP_GRACE)
        if self._postgres is not None:
            try:
                self._postgres.stop()
            except Exception as exc:  # a failing stop must not hide why we stop
                _LOG.warning("Stopping PostgreSQL of %s failed: %s", self.home, exc)
        with contextlib.suppress(FileNotFoundError):
            self.record_path.unlink()

    def recover(self) -> None:
        """End what a killed server left of the last stack; keep its data."""
        record = self._read_record()
        for name, pid in record.get("pids", {}).items():
            if name != "postgres" and owned_by(pid, self.home):
                _LOG.warning("Ending the iDDS %s left running by the last server (pid %d)", name, pid)
                terminate_group(pid, None, STOP_GRACE)
        if (self.home / "pgdata").exists():
            PostgresCluster(
                self.home, postgres_bin(self._site_packages()), self.logs / "postgres.log"
            ).recover()
        with contextlib.suppress(FileNotFoundError):
            self.record_path.unlink()

    # -- pieces --------------------------------------------------------------------------------
    def _site_packages(self) -> list[Path]:
        return sorted(self.python.parent.parent.glob("lib/python3*/site-packages"))

    def _build_schema(self, env: dict[str, str]) -> None:
        done = self.home / "schema.built"
        if done.exists():
            return
        script = "from idds.orm.base.utils import build_database; build_database(echo=False)"
        with open(self.logs / "schema.log", "wb") as log:
            result = subprocess.run(
                [str(self.python), "-c", script],
                env=env,
                cwd=self.home,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=START_TIMEOUT,
                check=False,
            )
        if result.returncode != 0:
            raise IddsStackError(f"building iDDS's schema failed:\n{self._tail('schema.log')}")
        done.touch()

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        with open(self.logs / f"{name}.log", "ab") as log:
            self._processes[name] = subprocess.Popen(
                command,
                env=env,
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._write_record()  # at once: a server killed from here on leaves a stack to recover

    def _check_alive(self, name: str, wait: float = 0.0) -> None:
        deadline = time.monotonic() + wait
        while True:
            process = self._processes[name]
            if process.poll() is not None:
                raise IddsStackError(
                    f"the iDDS {name} exited ({process.returncode}); end of {self.logs / name}.log:\n"
                    f"{self._tail(f'{name}.log')}"
                )
            if time.monotonic() >= deadline:
                return
            time.sleep(0.2)

    def _wait_for_rest(self) -> None:
        assert self._config is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            self._check_alive("redis")
            self._check_alive("rest")
            if http_ok(f"{self._config.rest_url}/ping"):
                return
            time.sleep(0.2)
        raise IddsStackError(
            f"the iDDS REST app did not answer in {START_TIMEOUT:.0f} s:\n{self._tail('rest.log')}"
        )

    def _tail(self, name: str, chars: int = 3000) -> str:
        path = self.logs / name
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    # -- record --------------------------------------------------------------------------------
    def _write_record(self) -> None:
        record = {
            "ports": self._ports,
            "pids": self.pids,
            "rest_url": self.rest_url,
            "python": str(self.python),
        }
        write_atomically(self.record_path, json.dumps(record))

    def _read_record(self) -> dict[str, Any]:
        try:
            return json.loads(self.record_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    @classmethod
    def clean_up(cls, state_root: Path) -> bool:
        """End the stack a killed server left in ``state_root`` (`recover`); return whether one was left.

        Parameters
        ----------
        state_root : `pathlib.Path`
            State directory of the local PanDA.
        """
        record_path = Path(state_root).absolute() / "idds" / "stack.json"
        try:
            python = Path(json.loads(record_path.read_text())["python"])
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            return False
        cls(state_root, server_python=python).recover()
        return True

    @staticmethod
    def read_status(state_root: Path) -> dict[str, Any] | None:
        """Return the pieces' pids and whether they run, from the record of a running stack.

        Parameters
        ----------
        state_root : `pathlib.Path`
            State directory of the local PanDA.
        """
        try:
            record = json.loads((Path(state_root).absolute() / "idds" / "stack.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        alive = {name: Path(f"/proc/{pid}").exists() for name, pid in record.get("pids", {}).items()}
        return {"rest_url": record.get("rest_url"), "pids": record.get("pids", {}), "running": alive}
