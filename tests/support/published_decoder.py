# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Run the decoder of the published plugin (``lsst-ctrl-bps-panda`` on PyPI) next to ours.

``make published-decoder`` installs the published wheel with ``--no-deps`` into
``.published-decoder/``, apart from our editable install.  Jobs run in a
subprocess of the project's python started by
``tests/data/compat/run_published_decoder.py``, which makes
``lsst.ctrl.bps.panda`` the published package and asserts that every module of
that name comes from ``.published-decoder``.  Importing that package takes
about two seconds, so one server process imports it once and runs each job in
a forked child with the job's own working directory, environment and output
files.

A missing install fails the tests, naming the command that installs it (never a skip).
"""

import dataclasses
import json
import os
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from support.paths import DATA_DIR, REPO_ROOT

__all__ = [
    "OUR_DECODER",
    "PACKAGE_DIR",
    "PUBLISHED_DIR",
    "PUBLISHED_VERSION",
    "DecoderRun",
    "PublishedDecoder",
    "loopback_panda_env",
    "published_install",
    "run_our_decoder",
]

PACKAGE_DIR = REPO_ROOT
PUBLISHED_VERSION = "30.0.0"
"""Must match ``PUBLISHED_PANDA_VERSION`` in the Makefile."""
PUBLISHED_DIR = PACKAGE_DIR / ".published-decoder"
LAUNCHER = DATA_DIR / "compat" / "run_published_decoder.py"
OUR_DECODER = PACKAGE_DIR / "python" / "lsst" / "ctrl" / "bps" / "panda" / "edgenode" / "cmd_line_decoder.py"
LOOPBACK_PANDA_URL = "http://127.0.0.1:1/server/panda"
JOB_TIMEOUT = 120


def loopback_panda_env() -> dict[str, str]:
    """PanDA client settings that keep ``import pandaclient`` off the network."""
    env = {name: LOOPBACK_PANDA_URL for name in ("PANDA_URL", "PANDA_URL_SSL", "PANDACACHE_URL")}
    env["PANDA_BEHIND_REAL_LB"] = "1"
    return env


def published_install() -> Path:
    """Return the published package's install directory; fail when it is missing."""
    metadata = PUBLISHED_DIR / f"lsst_ctrl_bps_panda-{PUBLISHED_VERSION}.dist-info"
    decoder = PUBLISHED_DIR / "lsst" / "ctrl" / "bps" / "panda" / "edgenode" / "cmd_line_decoder.py"
    if metadata.is_dir() and decoder.is_file():
        return PUBLISHED_DIR
    reason = (
        f"lsst-ctrl-bps-panda=={PUBLISHED_VERSION} is not installed in {PUBLISHED_DIR}; "
        "run `make published-decoder` (`make test` does)"
    )
    pytest.fail(reason, pytrace=False)


@dataclasses.dataclass(frozen=True)
class DecoderRun:
    """What one decoder run gave."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_our_decoder(args: Sequence[str], cwd: Path, env: Mapping[str, str]) -> DecoderRun:
    """Run ``python cmd_line_decoder.py <args>`` with our decoder."""
    result = subprocess.run(
        [sys.executable, str(OUR_DECODER), *args],
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=JOB_TIMEOUT,
    )
    return DecoderRun(result.returncode, result.stdout, result.stderr)


class PublishedDecoder:
    """A server process with the published package imported, running one forked child per job.

    Parameters
    ----------
    install_dir : `pathlib.Path`
        Where the published wheel is installed.
    log : `pathlib.Path`
        File for the server's own stderr.
    """

    def __init__(self, install_dir: Path, log: Path) -> None:
        env = {**os.environ, **loopback_panda_env()}
        self._log = open(log, "w")  # noqa: SIM115  (closed in close())
        self._process = subprocess.Popen(
            [sys.executable, str(LAUNCHER), str(install_dir), "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
            text=True,
        )
        self._lock = threading.Lock()
        hello = self._process.stdout.readline()
        if not hello:
            self._fail()
        self.module_files: dict[str, str] = json.loads(hello)["modules"]
        """File of each ``lsst.ctrl.bps.panda`` module loaded in the server, by module name."""

    def _fail(self) -> None:
        self._log.flush()
        log = Path(self._log.name).read_text()[-3000:]
        self.close()
        raise AssertionError(f"the published decoder server died; its stderr ends with:\n{log}")

    def run(self, args: Sequence[str], cwd: Path, env: Mapping[str, str]) -> DecoderRun:
        """Run the published decoder with ``args`` in ``cwd``; ``env`` is the job's whole environment."""
        out, err = cwd.parent / f"{cwd.name}.stdout", cwd.parent / f"{cwd.name}.stderr"
        request = {
            "args": list(args),
            "cwd": str(cwd),
            "env": {**env, **loopback_panda_env()},
            "stdout": str(out),
            "stderr": str(err),
            "timeout": JOB_TIMEOUT,
        }
        with self._lock:
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
            reply = self._process.stdout.readline()
        if not reply:
            self._fail()
        return DecoderRun(json.loads(reply)["returncode"], out.read_text(), err.read_text())

    def close(self) -> None:
        """Stop the server."""
        if self._log.closed:
            return
        self._process.stdin.close()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)
        finally:
            self._process.stdout.close()
            self._log.close()
