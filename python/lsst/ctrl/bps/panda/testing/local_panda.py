# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""An embedded local PanDA for tests: a temporary state directory, a loopback port, its environment.

``pandaclient`` reads ``PANDA_URL*`` once, when it is first imported.  So the order is:

1. `LocalPandaSession.reserve` picks the port and sets the environment (the pytest plugin does it
   in ``pytest_configure``, before test modules are imported);
2. anything may import ``pandaclient`` from then on;
3. `LocalPandaSession.start` starts the server on that port (the ``local_panda`` fixture, once per
   session), and `LocalPandaSession.stop` stops it and removes the state directory.

It needs the ``[local]`` extra (``pip install 'lsst-ctrl-bps-panda[local]'``) and says so when it
is missing.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..errors import PandaEnvironmentError

__all__ = ["LocalPandaSession"]

_LOG = logging.getLogger(__name__)

_URL_NAMES = ("PANDA_URL", "PANDA_URL_SSL", "PANDACACHE_URL")


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalPandaSession:
    """One embedded local PanDA for a test session.

    Parameters
    ----------
    port : `int`
        The loopback port it will serve.
    max_cores : `int`, optional
        Cores its jobs may use at once.
    """

    def __init__(self, port: int, max_cores: int = 2) -> None:
        self.port = port
        self.max_cores = max_cores
        self.url = f"http://127.0.0.1:{port}/server/panda"
        self.state_dir: Path | None = None
        self.server: Any = None

    @classmethod
    def reserve(cls, max_cores: int = 2) -> LocalPandaSession:
        """Pick a free loopback port and point this process's environment at it.

        Call it before anything imports ``pandaclient``.

        Parameters
        ----------
        max_cores : `int`, optional
            Cores the jobs may use at once.

        Returns
        -------
        session : `LocalPandaSession`
            The session, not started.
        """
        session = cls(_free_loopback_port(), max_cores)
        os.environ.update(session.environment())
        return session

    def environment(self) -> dict[str, str]:
        """Return the variables that point the PanDA client, bps and jobs at this local PanDA."""
        from ..local.core.installation import installation_environment

        values = dict.fromkeys(_URL_NAMES, self.url)
        values.update(
            PANDA_BEHIND_REAL_LB="1",
            PANDA_AUTH="oidc",
            PANDA_AUTH_VO="local",
            BPS_WMS_SERVICE_CLASS="lsst.ctrl.bps.panda.PanDAService",
        )
        for name, value in installation_environment().items():
            values[name] = os.environ.get(name) or value
        return values

    def check_client_order(self) -> None:
        """Fail clearly if ``pandaclient`` was imported before the environment pointed at this server.

        Raises
        ------
        PandaEnvironmentError
            Raised if the PanDA client already holds another URL.
        """
        client = sys.modules.get("pandaclient.Client")
        held = getattr(client, "baseURLSSL", self.url)
        if client is not None and held != self.url:
            raise PandaEnvironmentError(
                f"pandaclient was imported before the local PanDA's environment was set (it holds "
                f"{held}, the local PanDA serves {self.url}): load the plugin with "
                "`-p lsst.ctrl.bps.panda.testing.pytest_plugin` or call LocalPandaSession.reserve() "
                "before anything imports pandaclient"
            )

    def start(self) -> None:
        """Start the server in a thread, in a new temporary state directory; set its token.

        Raises
        ------
        PandaEnvironmentError
            Raised if the ``[local]`` extra is not installed, or ``pandaclient`` holds another URL.
        """
        missing = [name for name in ("flask", "waitress", "jwt") if importlib.util.find_spec(name) is None]
        if missing:
            raise PandaEnvironmentError(
                f"The local_panda fixture needs the [local] extra ({', '.join(missing)} missing): "
                "pip install 'lsst-ctrl-bps-panda[local]'"
            )
        self.check_client_order()
        from ..local.server import LocalPandaServer
        from ..local.state.state_dir import StateDir

        self.state_dir = Path(tempfile.mkdtemp(prefix="panda_local_"))
        self.server = LocalPandaServer(
            StateDir(self.state_dir / "state"), port=self.port, max_cores=self.max_cores
        )
        self.server.start_in_thread()
        os.environ["PANDA_AUTH_ID_TOKEN"] = self.server.token
        os.environ["PANDA_LOCAL_STATE_DIR"] = str(self.state_dir / "state")
        _LOG.info("Local PanDA for tests at %s (state in %s)", self.url, self.state_dir)

    def stop(self) -> None:
        """Stop the server (killing running jobs) and remove its state directory."""
        if self.server is not None:
            self.server.close(kill_running=True)
            self.server = None
        for name in ("PANDA_AUTH_ID_TOKEN", "PANDA_LOCAL_STATE_DIR"):
            os.environ.pop(name, None)
        if self.state_dir is not None:
            shutil.rmtree(self.state_dir, ignore_errors=True)
            self.state_dir = None

    def __enter__(self) -> LocalPandaSession:
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()
