# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The real PanDA stack: PostgreSQL with PanDA's schema, panda-server and JEDI, on 127.0.0.1.

`PandaStack` starts, in this order, a private PostgreSQL cluster with pg_cron (`PandaPostgres`,
the iDDS stack's `~lsst.ctrl.bps.panda.local.idds.idds_postgres.PostgresCluster` with PanDA's
settings), PanDA's schema (once, `panda_schema`), the configuration and CRIC files
(`panda_config`, `cric_queues`), panda-server's WSGI app behind its front (`scripts.panda_front`),
the configurator (CRIC files into the database), the adder (`scripts.panda_daemons`), JEDI
(`scripts.jedi_master`) and JEDI's message processing of iDDS's messages (`scripts.jedi_messages`,
at `PandaStack.messages_url`: where the idds conductor's notifier posts on ``--engine panda``).
Each runs from the servers' virtualenv (``.venv-real-idds``, which holds panda-server 1.0.4) in
a process group of its own, and outlives the process that started it (``make real-panda``
returns); `PandaStack.stop` ends them from the record ``stack.json``.
Everything lives under the stack's directory::

    stack.json      ports and pids            etc/panda/  panda_{common,server,jedi}.cfg
    pgdata/         PostgreSQL's data         logs/       every log (panda-*.log: server and JEDI)
    cric/           our CRIC files            cache/      panda-server's cache_dir (/cache/)

Nothing here needs root: PostgreSQL runs as the current user (as root, as ``postgres``, as the
iDDS stack does).  Installing pg_cron (Debian's ``postgresql-15-cron``) is ``make
real-panda-install``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import time
from pathlib import Path
from typing import Any

from ...atomic_file import write_atomically
from ...errors import PostgresError, RealPandaError
from ..idds.idds_postgres import PostgresCluster, postgres_bin
from ..idds.stack_processes import free_port, http_ok, terminate_group
from .cric_queues import write_cric
from .panda_config import PandaHome, client_environment, server_environment, write_configs
from .panda_schema import load_schema

__all__ = ["DB_PORT", "HTTP_PORT", "MESSAGES_PORT", "PandaPostgres", "PandaStack"]

_LOG = logging.getLogger(__name__)

DB_PORT = 25439
"""PostgreSQL's preferred port (the iDDS stack takes a free one; the front's is `HTTP_PORT`)."""

HTTP_PORT = 25480
"""The front's preferred port."""

START_TIMEOUT = 180.0
"""Seconds a piece may take to start (the configurator, the front's first answer)."""

STOP_GRACE = 10.0
"""Seconds a piece may take to exit after SIGTERM."""

MESSAGES_PORT = 25481
"""The preferred port of JEDI's message listener (`scripts.jedi_messages`)."""

SCRIPTS = Path(__file__).resolve().parent / "scripts"
PIECES = ("front", "daemons", "jedi", "messages")


class PandaPostgres(PostgresCluster):
    """The PostgreSQL cluster of PanDA: superuser ``postgres``, pg_cron preloaded, no database made."""

    DATABASE = None
    USER = "postgres"
    SETTINGS = {
        "shared_preload_libraries": "pg_cron",
        "cron.database_name": "postgres",
        "max_connections": "200",
    }


class PandaStack:
    """PostgreSQL + panda-server + JEDI of one directory.

    Parameters
    ----------
    root : `pathlib.Path`
        The stack's directory.
    venv : `pathlib.Path`
        The servers' virtualenv (panda-server 1.0.4).
    schema_checkout : `pathlib.Path`, optional
        A ``PanDAWMS/panda-database`` checkout (``PANDA_DATABASE_DIR``): needed when the
        database is new.
    """

    def __init__(self, root: Path, venv: Path, schema_checkout: Path | None = None) -> None:
        self.root = Path(root).absolute()
        self.venv = Path(venv).absolute()
        self.schema_checkout = schema_checkout
        self.record_path = self.root / "stack.json"
        self.home: PandaHome | None = None
        self.startup_seconds: float | None = None
        self.messages_url = ""
        """``http://127.0.0.1:PORT/``: JEDI's processing of iDDS's messages (after `start`)."""

    @property
    def python(self) -> Path:
        """The servers' Python."""
        return self.venv / "bin" / "python"

    def _postgres(self) -> PandaPostgres:
        bin_dir = postgres_bin(sorted(self.venv.glob("lib/python3*/site-packages")))
        return PandaPostgres(self.root, bin_dir, self.root / "logs" / "postgres.log")

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> PandaHome:
        """Start every piece (loading the schema when the database is new); return the stack's home.

        Raises
        ------
        RealPandaError
            Raised if a piece does not start; what was started is stopped again.
        """
        began = time.monotonic()
        if not self.python.exists():
            raise RealPandaError(f"no servers' virtualenv at {self.venv}: run `make real-idds-venv`")
        self.stop()
        (self.root / "logs").mkdir(parents=True, exist_ok=True)
        home = PandaHome(self.root, self.venv, free_port(DB_PORT), free_port(HTTP_PORT))
        self.home = home
        pids: dict[str, int] = {}
        try:
            postgres = self._postgres()
            if not (postgres.bin_dir.parent / "lib" / "pg_cron.so").exists():
                raise RealPandaError(
                    f"PostgreSQL in {postgres.bin_dir.parent} has no pg_cron: run `make real-panda-install`"
                )
            postgres.start(home.db_port)
            pids["postgres"] = postgres.postmaster_pid() or 0
            self._record(home, pids)
            if not (self.root / "schema.loaded").exists():
                if self.schema_checkout is None:
                    raise RealPandaError(
                        "a new PanDA database needs PANDA_DATABASE_DIR (the schema checkout)"
                    )
                load_schema(
                    postgres.bin_dir / "psql",
                    home.db_port,
                    postgres.data,
                    self.schema_checkout,
                    home.logs / "schema.log",
                )
                (self.root / "schema.loaded").touch()
            write_configs(home)
            write_cric(home.cric, self.root / "storage")
            env = server_environment(home)
            pids["front"] = self._spawn("front", [str(SCRIPTS / "panda_front.py"), str(home.http_port)], env)
            self._record(home, pids)
            self._wait_for_front(home, pids["front"])
            self._configure(env)
            pids["daemons"] = self._spawn("daemons", [str(SCRIPTS / "panda_daemons.py")], env)
            pids["jedi"] = self._spawn("jedi", [str(SCRIPTS / "jedi_master.py")], env)
            messages_port = free_port(MESSAGES_PORT)
            self.messages_url = f"http://127.0.0.1:{messages_port}/"
            pids["messages"] = self._spawn(
                "messages", [str(SCRIPTS / "jedi_messages.py"), str(messages_port)], env
            )
            self._record(home, pids)
            time.sleep(6)  # JediMaster kills its group when an agent dies in its first 5 s
            self._check_alive(pids)
        except (PostgresError, OSError, subprocess.SubprocessError, RealPandaError) as exc:
            self.stop()
            raise RealPandaError(f"the real PanDA stack in {self.root} did not start: {exc}") from exc
        self.startup_seconds = time.monotonic() - began
        _LOG.info("Real PanDA up in %.1f s at %s", self.startup_seconds, home.url)
        return home

    def stop(self) -> None:
        """Stop JEDI, the adder, the front and PostgreSQL (idempotent; keeps the data)."""
        record = self.read_record(self.root) or {}
        for name in reversed(PIECES):
            pid = record.get("pids", {}).get(name)
            if pid and Path(f"/proc/{pid}").exists():
                terminate_group(pid, None, STOP_GRACE)
        if (self.root / "pgdata").exists():
            try:
                postgres = self._postgres()
                postgres.stop()
                postgres.recover()
            except (PostgresError, subprocess.SubprocessError) as exc:
                _LOG.warning("Stopping PanDA's PostgreSQL in %s failed: %s", self.root, exc)
        with contextlib.suppress(FileNotFoundError):
            self.record_path.unlink()

    # -- pieces --------------------------------------------------------------------------------
    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> int:
        assert self.home is not None
        with open(self.home.logs / f"{name}.log", "ab") as log:
            process = subprocess.Popen(
                [str(self.python), "-u", *command],
                env=env,
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return process.pid

    def _wait_for_front(self, home: PandaHome, pid: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not Path(f"/proc/{pid}").exists():
                raise RealPandaError(f"panda-server's front exited: see {home.logs}/front.log")
            if http_ok(f"{home.url}/api/v1/system/is_alive"):
                return
            time.sleep(0.5)
        raise RealPandaError(
            f"panda-server did not answer in {START_TIMEOUT:.0f} s: see {home.logs}/front.log"
        )

    def _configure(self, env: dict[str, str]) -> None:
        """Load our CRIC files with the real configurator (queues, sites, endpoints, schedconfig_json)."""
        assert self.home is not None
        for arguments in (["configurator"], ["configurator", "--json_dump"]):
            script = f"from pandaserver.daemons.scripts import configurator as c; c.main(argv={arguments!r})"
            with open(self.home.logs / "configurator.log", "ab") as log:
                done = subprocess.run(
                    [str(self.python), "-c", script],
                    env=env,
                    cwd=self.root,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=START_TIMEOUT,
                    check=False,
                )
            if done.returncode != 0:
                raise RealPandaError(f"the configurator failed: see {self.home.logs}/configurator.log")

    def _check_alive(self, pids: dict[str, int]) -> None:
        for name in PIECES:
            if not Path(f"/proc/{pids[name]}").exists():
                raise RealPandaError(f"the {name} exited: see {self.root / 'logs' / name}.log")

    def _record(self, home: PandaHome, pids: dict[str, int]) -> None:
        record = {
            "url": home.url,
            "db_port": home.db_port,
            "http_port": home.http_port,
            "venv": str(self.venv),
            "messages_url": self.messages_url,
            "pids": pids,
            "client_env": client_environment(home),
        }
        write_atomically(self.record_path, json.dumps(record, indent=1))

    @staticmethod
    def read_record(root: Path) -> dict[str, Any] | None:
        """Return the record of the stack in ``root`` (`None` when none runs).

        Parameters
        ----------
        root : `pathlib.Path`
            The stack's directory.
        """
        try:
            return json.loads((Path(root) / "stack.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
