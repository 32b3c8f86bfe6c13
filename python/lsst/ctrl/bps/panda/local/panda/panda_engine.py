# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The ``panda`` engine: the real iDDS daemons submit to the real panda-server and JEDI.

``panda_local start --engine panda`` starts, in ``<state dir>/panda/``, the real PanDA stack
(`~lsst.ctrl.bps.panda.local.panda.panda_stack.PandaStack`: PostgreSQL with PanDA's schema,
panda-server, JEDI and JEDI's message processing), then in ``<state dir>/idds/`` the real iDDS
stack of the ``idds`` engine, whose daemons call that panda-server (no token: its front plays
Apache), and whose conductor's notifier posts to JEDI's message processing.  The relay forwards
every iDDS command to the real iDDS, as on the ``idds`` engine, and our executor is the pilot of
each queue on the real pilot API (`~lsst.ctrl.bps.panda.local.pilot.pilot_loop.PilotLoop`).

**Who releases a job whose pseudo inputs are met: JEDI.**  ``DomaPanDAWork`` submits a task with
dependencies with ``inputPreStaging``: JEDI holds its pseudo inputs ``staging``.  When a job's
parents end, the iDDS conductor sends a ``file_processing`` message; ``scripts/jedi_messages.py``
hands it, unchanged, to JEDI's own ``ProcessingMsgProcPlugin`` (what JEDI's message processor
agent runs on messages from ActiveMQ in production), which marks the inputs staged through JEDI's
task buffer; JEDI's agents then generate and activate the jobs.  Nothing of ours reads or writes
JEDI's tables.

The engine needs the servers' virtualenv (``make real-idds-venv``), pg_cron in the PostgreSQL of
the system (``make real-panda-install``) and, for a new state directory, the schema checkout
named by ``PANDA_DATABASE_DIR`` (GitHub's ``PanDAWMS/panda-database``).
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

from ...errors import IddsStackError, PilotApiError, RealPandaError
from ...identity import token_identity
from ..engine.engine_plugin import Engine, EngineParts, Refusal
from ..idds.idds_postgres import postgres_bin
from ..idds.idds_relay import IddsRelay, RelayedVerbs
from ..idds.idds_stack import IddsStack, find_server_python
from ..pilot.job_environment import job_environment
from ..pilot.pilot_api import PilotApi
from ..pilot.pilot_loop import PilotLoop
from ..state.state_dir import StateDir, default_state_dir, local_url
from .cric_queues import MEMORY_CLASSES
from .panda_config import client_environment
from .panda_stack import PandaStack

if TYPE_CHECKING:
    from ..engine.engine_thread import LocalPanda

__all__ = ["SCHEMA_ENV", "PandaEngine", "check_prerequisites"]

_LOG = logging.getLogger(__name__)

SCHEMA_ENV = "PANDA_DATABASE_DIR"
"""Names the ``PanDAWMS/panda-database`` checkout (needed when the state directory's database is new)."""


def check_prerequisites(server_python: Path, stack_root: Path, schema: Path | None) -> None:
    """Check what the real PanDA stack needs before anything starts.

    Parameters
    ----------
    server_python : `pathlib.Path`
        The servers' Python.
    stack_root : `pathlib.Path`
        The stack's directory (``<state dir>/panda``).
    schema : `pathlib.Path` or `None`
        The schema checkout (``$PANDA_DATABASE_DIR``).

    Raises
    ------
    RealPandaError
        Raised if pg_cron is missing (the message names ``make real-panda-install``), or a new
        database has no schema checkout (it names ``PANDA_DATABASE_DIR``).
    """
    site_packages = sorted(server_python.parent.parent.glob("lib/python3*/site-packages"))
    try:
        bin_dir = postgres_bin(site_packages)
    except Exception as exc:
        raise RealPandaError(f"--engine panda needs PostgreSQL: {exc}") from exc
    if not (bin_dir.parent / "lib" / "pg_cron.so").exists():
        raise RealPandaError(
            f"--engine panda needs pg_cron in the PostgreSQL of {bin_dir.parent}: run `make "
            "real-panda-install` (apt postgresql-15-cron, as root or with sudo)"
        )
    if (stack_root / "schema.loaded").exists():
        return
    if schema is None:
        raise RealPandaError(
            f"--engine panda on a new state directory needs ${SCHEMA_ENV}: a checkout of GitHub's "
            "PanDAWMS/panda-database (PanDA's schema, not on PyPI)"
        )
    if not (schema / "schema").is_dir():
        raise RealPandaError(f"${SCHEMA_ENV}={schema} is not a PanDAWMS/panda-database checkout (no schema/)")


class PandaEngine(Engine):
    """The real PanDA and the real iDDS stacks of the state directory, our executor as their pilot.

    Parameters
    ----------
    server_python : `pathlib.Path`
        Python of the servers' virtualenv (panda-server 1.0.4 and iDDS).
    schema : `pathlib.Path`, optional
        The schema checkout (``$PANDA_DATABASE_DIR``), for a new database.
    stack_factory : `~collections.abc.Callable`, optional
        Makes the two stacks from the state directory (default: `PandaStack` and `IddsStack`;
        tests stand in).
    """

    name: ClassVar[str] = "panda"
    start_timeout: ClassVar[float] = 480.0  # PanDA's schema, panda-server, JEDI, then the iDDS stack
    stop_timeout: ClassVar[float] = 120.0  # the pilots, iDDS's and PanDA's pieces, two PostgreSQLs
    min_http_threads: ClassVar[int] = 8
    runs_servers: ClassVar[bool] = True
    user_errors: ClassVar[tuple[type[Exception], ...]] = (IddsStackError, RealPandaError)

    def __init__(
        self,
        server_python: Path,
        schema: Path | None = None,
        stack_factory: Callable[[StateDir], tuple[Any, Any]] | None = None,
    ) -> None:
        self.server_python = Path(server_python)
        self.schema = schema
        self._stack_factory = stack_factory
        self.panda: Any = None
        """The running `PandaStack` (`None` before `start_servers` and after `stop_servers`)."""
        self.idds: Any = None
        """The running `IddsStack`."""
        self.relay: IddsRelay | None = None
        self.pilots: PilotLoop | None = None
        self._engine: LocalPanda | None = None

    @classmethod
    def from_arguments(cls, args: argparse.Namespace) -> Self:
        # Docstring inherited from Engine.from_arguments.
        python = find_server_python(getattr(args, "idds_python", None))
        schema = Path(os.environ[SCHEMA_ENV]) if os.environ.get(SCHEMA_ENV) else None
        state = StateDir(getattr(args, "state_dir", None) or default_state_dir())
        check_prerequisites(python, state.root / "panda", schema)
        return cls(python, schema)

    def parts(self, engine: LocalPanda, token: str, refusal: Refusal) -> EngineParts:
        # Docstring inherited from Engine.parts.
        self._engine = engine
        self.relay = IddsRelay()  # no final reruns of ours: JEDI decides what a retry reruns
        return EngineParts(
            relay=self.relay, monitor_verbs=RelayedVerbs(self.relay, token_identity(token), engine.store)
        )

    def _stacks(self, state: StateDir) -> tuple[Any, Any]:
        if self._stack_factory is not None:
            return self._stack_factory(state)
        check_prerequisites(self.server_python, state.root / "panda", self.schema)
        venv = self.server_python.parent.parent
        return PandaStack(state.root / "panda", venv, self.schema), IddsStack(
            state.root, server_python=self.server_python
        )

    def start_servers(self, state: StateDir, port: int, token: str) -> None:
        # Docstring inherited from Engine.start_servers.
        self.panda, self.idds = self._stacks(state)
        home = self.panda.start()
        self.idds.start(
            local_url(port),
            self.panda.messages_url,
            token,
            notifier_token_file=state.token_path,
            panda_client_env=client_environment(home),
        )
        assert self.relay is not None and self._engine is not None  # made by parts
        self.relay.connect(self.idds.rest_url, self.idds.client_env())
        try:
            api = PilotApi(home.url)
        except PilotApiError as exc:
            raise RealPandaError(f"the real PanDA stack answers off loopback: {exc}") from exc
        self.pilots = PilotLoop(
            api,
            list(MEMORY_CLASSES),
            job_environment(state),
            state.root / "pilot",
            self.panda.root / "storage",
            self._engine.policy.max_cores,
        )
        self.pilots.start()

    def stop_servers(self) -> None:
        # Docstring inherited from Engine.stop_servers.
        began = time.monotonic()
        pilots, self.pilots = self.pilots, None
        if pilots is not None:
            pilots.stop()
        idds, self.idds = self.idds, None
        if idds is not None:
            idds.stop()  # the daemons first: they call PanDA until they stop
        if self.relay is not None:
            self.relay.disconnect()
        stopped_idds = time.monotonic()
        panda, self.panda = self.panda, None
        if panda is not None:
            panda.stop()
        _LOG.info(
            "Stopped the pilots and iDDS in %.1f s, the real PanDA in %.1f s",
            stopped_idds - began,
            time.monotonic() - stopped_idds,
        )

    @classmethod
    def status(cls, state: StateDir) -> dict[str, Any]:
        # Docstring inherited from Engine.status.
        record = PandaStack.read_record(state.root / "panda")
        panda = None
        if record is not None:
            alive = {name: Path(f"/proc/{pid}").exists() for name, pid in record.get("pids", {}).items()}
            panda = {"url": record.get("url"), "pids": record.get("pids", {}), "running": alive}
        return {"idds": IddsStack.read_status(state.root), "panda": panda}

    @classmethod
    def clean_up(cls, state: StateDir) -> str | None:
        # Docstring inherited from Engine.clean_up.
        ended = ["the iDDS stack"] if IddsStack.clean_up(state.root) else []
        record = PandaStack.read_record(state.root / "panda")
        if record is not None:
            PandaStack(state.root / "panda", Path(record["venv"])).stop()
            ended.append("the real PanDA stack")
        return " and ".join(ended) or None
