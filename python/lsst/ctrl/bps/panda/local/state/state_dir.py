# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The state directory of a local PanDA: database, keys and tokens, server record, lock.

Layout::

    <state dir>/panda_local.sqlite3   requests, tasks, jobs, attempts
    <state dir>/oidc.key              key signing the tokens this local PanDA issues (mode 0600)
    <state dir>/token                 the server's own token (a JWT for its owner, mode 0600), renewed
                                      when it has less than a week left
    <state dir>/client/.token         the PanDA client's token file (PANDA_CONFIG_ROOT of panda_local env)
    <state dir>/server.json           {"pid", "port", "url", "started_at"} of the running server
    <state dir>/server.port           port of the last server, reused by the next start when free
    <state dir>/server.lock           held (flock) by the running server: one server per directory
    <state dir>/server.log            log of a server started with --background
    <state dir>/engine                the engine of the last start (embedded or idds), kept across restarts
    <state dir>/idds/                 the real iDDS stack of --engine idds (see idds_stack)
    <state dir>/work/request_<id>/<PANDAID>/   one working directory (and payload.log) per attempt
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import stat
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ...atomic_file import write_atomically
from ...errors import AlreadyServedError
from ...local_panda_record import LOCK_NAME, RECORD_NAME, STATE_DIR_ENV, lock_is_held, read_server_record

if TYPE_CHECKING:
    from ..core.token_authority import TokenAuthority

__all__ = [
    "DEFAULT_STATE_DIR_ENV",
    "StateDir",
    "default_state_dir",
    "local_url",
]

_LOG = logging.getLogger(__name__)

DEFAULT_STATE_DIR_ENV = STATE_DIR_ENV
"""Environment variable naming the default state directory."""

SERVER_TOKEN_LIFETIME = 30 * 86400.0
"""Seconds the server's own token (``<state dir>/token``) is valid."""

SERVER_TOKEN_RENEWAL = 7 * 86400.0
"""A server's own token with less time than this left is replaced by a new one."""


def local_url(port: int) -> str:
    """Return the ``PANDA_URL`` of a local PanDA listening on ``port`` of 127.0.0.1.

    Parameters
    ----------
    port : `int`
        The port.
    """
    return f"http://127.0.0.1:{port}/server/panda"


def default_state_dir() -> Path:
    """Return ``$PANDA_LOCAL_STATE_DIR``, else ``~/.panda_local``."""
    return Path(os.environ.get(DEFAULT_STATE_DIR_ENV) or Path.home() / ".panda_local").expanduser()


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (mode 0600), atomically."""
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as stream:
        stream.write(text)
    temporary.replace(path)


def _private(path: Path) -> Path:
    """Return ``path`` after making sure only its owner can read it."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        _LOG.warning("%s had mode %o; setting it to 0600", path, mode)
        path.chmod(0o600)
    return path


class StateDir:
    """Paths and small files of one state directory.

    Parameters
    ----------
    root : `pathlib.Path` or `str`
        The directory (created, mode 0700, by `ensure`).
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser().absolute()
        self.db_path = self.root / "panda_local.sqlite3"
        self.token_path = self.root / "token"
        self.key_path = self.root / "oidc.key"
        self.client_dir = self.root / "client"
        self.record_path = self.root / RECORD_NAME
        self.lock_path = self.root / LOCK_NAME
        self.log_path = self.root / "server.log"
        self.engine_path = self.root / "engine"
        self.work_dir = self.root / "work"
        self._lock_file: IO[str] | None = None

    def ensure(self) -> None:
        """Create the directory (private to the user) if needed."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.work_dir.mkdir(exist_ok=True)

    def signing_key(self) -> bytes:
        """Return the key that signs this local PanDA's tokens, made (mode 0600) on first use."""
        self.ensure()
        try:
            fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            key = _private(self.key_path).read_text().strip()
            if key:
                return key.encode()
            _LOG.warning(
                "Key file %s was empty; writing a new key (tokens issued before are void)", self.key_path
            )
            _write_private(self.key_path, secrets.token_hex(32))
        else:
            with os.fdopen(fd, "w") as stream:
                stream.write(secrets.token_hex(32))
        return self.key_path.read_text().strip().encode()

    def authority(self) -> TokenAuthority:
        """Return the authority of this directory's tokens, with the last server's token lifetimes."""
        from ..core.token_authority import DEFAULT_ID_LIFETIME, DEFAULT_REFRESH_LIFETIME, TokenAuthority

        record = self.read_record() or {}
        return TokenAuthority(
            self.signing_key(),
            float(record.get("id_lifetime") or DEFAULT_ID_LIFETIME),
            float(record.get("refresh_lifetime") or DEFAULT_REFRESH_LIFETIME),
        )

    def token(self) -> str:
        """Return the server's own token: a JWT for its owner, signed with `signing_key`.

        A new one replaces a missing, empty, foreign or expiring one (less than a week left).
        """
        from ..core.token_authority import TokenAuthority

        authority = TokenAuthority(self.signing_key())
        current = self.read_token()
        if current and authority.seconds_left(current) > SERVER_TOKEN_RENEWAL:
            _private(self.token_path)
            return current
        if self.token_path.exists() and not current:
            _LOG.warning("Token file %s was empty; writing a new token", self.token_path)
        _write_private(self.token_path, authority.mint("id", lifetime=SERVER_TOKEN_LIFETIME))
        return self.token_path.read_text().strip()

    def read_token(self) -> str | None:
        """Return the bearer token if one was generated (`None` for none or an empty file)."""
        try:
            return self.token_path.read_text().strip() or None
        except FileNotFoundError:
            return None

    def acquire(self) -> None:
        """Take the server lock for this process.

        Raises
        ------
        AlreadyServedError
            Raised if a running server holds it.
        """
        self.ensure()
        stream = open(self.lock_path, "a+")
        try:
            fcntl.flock(stream, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            stream.close()
            record = self.read_record() or {}
            raise AlreadyServedError(
                f"A local PanDA already serves {self.root} (pid {record.get('pid', '?')}, "
                f"{record.get('url', 'url unknown')}); stop it first "
                f"(panda_local stop --state-dir {self.root})"
            ) from None
        self._lock_file = stream

    def release(self) -> None:
        """Drop the server record and the lock."""
        with contextlib.suppress(FileNotFoundError):
            self.record_path.unlink()
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def is_served(self) -> bool:
        """Return whether a server (this process or another) holds the lock."""
        return self._lock_file is not None or lock_is_held(self.root)

    def write_record(self, port: int, **settings: Any) -> None:
        """Record the running server's pid and port, and ``settings`` (atomically).

        Parameters
        ----------
        port : `int`
            Port the server listens on.
        **settings : `typing.Any`
            More values to record, such as the token lifetimes.
        """
        record = {
            "pid": os.getpid(),
            "port": port,
            "url": local_url(port),
            "started_at": time.time(),
            **settings,
        }
        write_atomically(self.record_path, json.dumps(record))

    def read_record(self) -> dict[str, Any] | None:
        """Return the server record, or `None` when there is none."""
        return read_server_record(self.root)

    def last_port(self) -> int | None:
        """Return the port of the last server (kept in ``server.port`` across stops)."""
        try:
            return int((self.root / "server.port").read_text())
        except (FileNotFoundError, ValueError):
            return None

    def remember_port(self, port: int) -> None:
        """Keep the port so that the next start can reuse it.

        Parameters
        ----------
        port : `int`
            Port the server listens on.
        """
        (self.root / "server.port").write_text(str(port))

    def engine(self) -> str | None:
        """Return the name of the engine of the last start (`None` before the first).

        `lsst.ctrl.bps.panda.local.engines.last_engine` checks it names a known one.
        """
        try:
            engine = self.engine_path.read_text().strip()
        except FileNotFoundError:
            return None
        return engine or None

    def remember_engine(self, engine: str) -> None:
        """Keep the engine, so that a restart without ``--engine`` runs the same one.

        Parameters
        ----------
        engine : `str`
            The engine's name (one of `ENGINES`).
        """
        self.ensure()
        write_atomically(self.engine_path, engine)
