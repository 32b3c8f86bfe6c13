# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Configuration files and environment of the real panda-server and JEDI (``make real-panda``).

The three files ``panda_common.cfg``, ``panda_server.cfg`` and ``panda_jedi.cfg`` are made from
the templates the panda-server wheel ships (``<venv>/etc/panda/*.cfg.rpmnew``), with the values of
a one-machine stack: PostgreSQL on 127.0.0.1, the ``DOMA_*`` schemas, dummy adder and setupper
for VO ``wlcg``, token authentication off (the WSGI front sets the caller's DN and VOMS role as
Apache's mod_gridsite would), our own CRIC files, one process per JEDI agent.

JEDI's loop cycles are short for a test loop (`JEDI_LOOP_CYCLES`, seconds; production runs
10-600 s): a task goes from ``registered`` to activated jobs in about half a minute, and a kill,
retry or finish command is taken within `JEDI_LOOP_CYCLES` ``["tcommando"]`` seconds.
"""

from __future__ import annotations

import configparser
import os
import re
from dataclasses import dataclass
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent / "scripts"
"""The scripts the servers' virtualenv runs; on JEDI's ``PYTHONPATH`` for `DDM_CLIENT`."""

__all__ = [
    "DB_PASSWORD",
    "client_environment",
    "JEDI_LOOP_CYCLES",
    "JEDI_WORKERS",
    "PandaHome",
    "server_environment",
    "write_configs",
]

DB_PASSWORD = "password"
"""Password of PostgreSQL's ``panda`` role (the cluster trusts loopback connections anyway)."""

JEDI_LOOP_CYCLES: dict[str, int] = {
    "confeeder": 5,
    "taskrefine": 5,
    "jobgen": 5,
    "postprocessor": 10,
    "taskbroker": 10,
    "tcommando": 5,
    "watchdog": 30,
}
"""Seconds between two passes of each JEDI agent (templates: 10, 10, 10, 20, 600, 60, 300)."""

DDM_CLIENT = "local_ddm_client:LocalDDMClient"
"""JEDI's DDM client for ``wlcg`` (``scripts/local_ddm_client.py``: the generic one cannot freeze)."""

JEDI_WORKERS: dict[str, str] = {
    "db/nWorkers": "2",
    "confeeder/nWorkers": "1",
    "taskrefine/nWorkers": "1",
    "jobgen/nWorkers": "1",
    "jobgen/procConfig": "wlcg:any:1:",
    "postprocessor/nWorkers": "1",
    "tcommando/nWorkers": "1",
}
"""Process counts of JEDI (one per agent: the machine has two cores)."""


@dataclass
class PandaHome:  # numpydoc ignore=PR02
    """Where the stack's files are, and its ports.

    Parameters
    ----------
    root : `pathlib.Path`
        The stack's directory (``PANDA_HOME``).
    venv : `pathlib.Path`
        The servers' virtualenv (panda-server 1.0.4).
    db_port : `int`
        PostgreSQL's port on 127.0.0.1.
    http_port : `int`
        The WSGI front's port on 127.0.0.1.
    """

    root: Path
    venv: Path
    db_port: int
    http_port: int

    @property
    def etc(self) -> Path:
        """``root/etc/panda``: the configuration files."""
        return self.root / "etc" / "panda"

    @property
    def logs(self) -> Path:
        """``root/logs``: every log of the stack."""
        return self.root / "logs"

    @property
    def cache(self) -> Path:
        """``root/cache``: panda-server's ``cache_dir`` (served at ``/cache/``)."""
        return self.root / "cache"

    @property
    def cric(self) -> Path:
        """``root/cric``: our CRIC files, read by the configurator."""
        return self.root / "cric"

    @property
    def site_packages(self) -> Path:
        """The servers' ``site-packages``."""
        return next(iter(sorted(self.venv.glob("lib/python3*/site-packages"))))

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: the front."""
        return f"http://127.0.0.1:{self.http_port}"


def _set(text: str, key: str, value: str) -> str:
    """Replace the first ``key = ...`` line of ``text`` (as the templates write it)."""
    return re.sub(rf"(?m)^{re.escape(key)}\s*=.*$", lambda _: f"{key} = {value}", text, count=1)


def _server_cfg(home: PandaHome, template: str) -> str:
    values = {
        "logdir": str(home.logs),
        "cache_dir": str(home.cache),
        "home_dir_cwd": str(home.root),
        "dbhost": "127.0.0.1",
        "dbport": str(home.db_port),
        "dbpasswd": DB_PASSWORD,
        "pserverporthttp": str(home.http_port),
        "pserveralias": "127.0.0.1",
        "adder_plugins": "wlcg:dataservice.adder_dummy_plugin:AdderDummyPlugin",
        "setupper_plugins": "wlcg:dataservice.setupper_dummy_plugin:SetupperDummyPlugin",
        "token_authType": "None",
        "auth_config": str(home.etc / "auth") + "/",
        "legacy_token_issuers": "",
    }
    for key, value in values.items():
        template = _set(template, key, value)
    cric = {
        "CRIC_URL_SCHEDCONFIG": "panda_queues.json",
        "CRIC_URL_SITES": "sites.json",
        "CRIC_URL_DDMENDPOINTS": "ddm_endpoints.json",
        "CRIC_URL_DDMBLACKLIST": "ddm_blacklist.json",
        "CRIC_URL_CM": "cm.json",
    }
    extra = [
        "backend = postgres",
        "pserverhost = 127.0.0.1",
        "pserverhosthttp = 127.0.0.1",
        "disableHTTP = False",
        "production_dns = Robot,Pilot,iddssv1",
        "pilot_owners = pilot",
        "configurator_use_cert = False",
        "sandboxHostname = 127.0.0.1",
        *(f"{key} = file://{home.cric / name}" for key, name in cric.items()),
        f"RUCIO_RSE_USAGE = {home.cric / 'rucio_rse_usage.json'}",
    ]
    return template.replace("[server]\n", "[server]\n" + "\n".join(extra) + "\n", 1)


def _jedi_cfg(home: PandaHome, template: str, path: Path) -> None:
    template = _set(template, "dbhost", f"127.0.0.1\ndbport = {home.db_port}\nbackend = postgres")
    template = _set(template, "dbpasswd", DB_PASSWORD)
    template = _set(template, "voWithScope", "wlcg")
    template = _set(template, "modConfig", f"wlcg:1:{DDM_CLIENT}")
    path.write_text(template)
    jedi = configparser.ConfigParser(interpolation=None, strict=False)
    jedi.optionxform = str  # type: ignore[assignment,method-assign]
    jedi.read(path)
    for agent, seconds in JEDI_LOOP_CYCLES.items():
        jedi.set(agent, "loopCycle", str(seconds))
    for key, value in JEDI_WORKERS.items():
        part, option = key.split("/")
        jedi.set(part, option, value)
    with open(path, "w") as stream:
        jedi.write(stream)


def write_configs(home: PandaHome) -> None:
    """Write ``panda_common.cfg``, ``panda_server.cfg`` and ``panda_jedi.cfg`` under ``home.etc``.

    Parameters
    ----------
    home : `PandaHome`
        The stack's directory and ports.
    """
    templates = home.venv / "etc" / "panda"
    for directory in (home.etc / "auth", home.logs, home.cache / "jedilog", home.cric):
        directory.mkdir(parents=True, exist_ok=True)
    common = _set((templates / "panda_common.cfg.rpmnew").read_text(), "logdir", str(home.logs))
    (home.etc / "panda_common.cfg").write_text(common)
    server = _server_cfg(home, (templates / "panda_server.cfg.rpmnew").read_text())
    (home.etc / "panda_server.cfg").write_text(server)
    _jedi_cfg(home, (templates / "panda_jedi.cfg.rpmnew").read_text(), home.etc / "panda_jedi.cfg")
    # panda-server imports iDDS's client (its relay), which refuses to load without a configuration
    (home.root / "etc" / "idds.cfg").write_text(f"[common]\nlogdir = {home.logs}\nloglevel = INFO\n")


def server_environment(home: PandaHome) -> dict[str, str]:
    """Return the environment of panda-server, JEDI and a ``pandaclient`` that calls them.

    JEDI imports panda-server's and panda-common's legacy top-level names (``taskbuffer``,
    ``liveconfigparser``), hence their package directories on ``PYTHONPATH``; its internal client
    needs ``PANDA_API_URL(_SSL)`` and ``PANDA_BEHIND_REAL_LB``, else it calls pandaserver.cern.ch.

    Parameters
    ----------
    home : `PandaHome`
        The stack's directory and ports.
    """
    site = home.site_packages
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PANDA", "PYTHON"))}
    env.update(
        {
            "PANDA_HOME": str(home.root),
            "PANDA_NO_ROOT": "1",
            "PYTHONPATH": os.pathsep.join(
                str(p) for p in (SCRIPTS, site / "pandacommon", site / "pandaserver", site)
            ),
            "PATH": f"{home.venv / 'bin'}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
            "PANDA_API_URL": f"{home.url}/api/v1",
            "PANDA_API_URL_SSL": f"{home.url}/api/v1",
            "PANDA_BEHIND_REAL_LB": "1",
            "IDDS_CONFIG": str(home.root / "etc" / "idds.cfg"),
            **client_environment(home),
        }
    )
    return env


def client_environment(home: PandaHome) -> dict[str, str]:
    """Return what a ``pandaclient`` needs to call the stack (no authentication: the front sets it).

    Parameters
    ----------
    home : `PandaHome`
        The stack's directory and ports.
    """
    return {
        "PANDA_URL": f"{home.url}/server/panda",
        "PANDA_URL_SSL": f"{home.url}/server/panda",
        "PANDACACHE_URL": f"{home.url}/server/panda",
        "PANDAMON_URL": home.url,
        "PANDA_AUTH": "none",
        "PANDA_VERIFY_HOST": "off",
        "PANDA_CONFIG_ROOT": str(home.root / ".pathena"),
    }
