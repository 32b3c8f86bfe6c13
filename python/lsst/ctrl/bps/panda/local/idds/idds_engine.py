# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The ``idds`` engine: the real iDDS (REST service and daemons) runs the workflows.

The relay forwards each iDDS command to the real iDDS (`IddsRelay`), the monitor reads it
(`RelayedVerbs`), and the server also serves PanDA's task/job API to its daemons and their
conductor's messages (`~lsst.ctrl.bps.panda.local.jedi.panda_api`); the local engine then only
runs the PanDA jobs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self

from ...identity import token_identity
from ..engine.engine_plugin import Engine, EngineParts, Refusal
from ..state.state_dir import StateDir, local_url
from .idds_relay import IddsRelay, RelayedVerbs
from .idds_stack import IddsStack, IddsStackError, find_server_python

if TYPE_CHECKING:
    from ..engine.engine_thread import LocalPanda

__all__ = ["IddsEngine", "ServerStack"]


class ServerStack(Protocol):
    """What the idds engine needs of its stack (`IddsStack`; tests stand in)."""

    @property
    def rest_url(self) -> str:
        """The iDDS REST service, once started."""
        ...

    def client_env(self) -> dict[str, str]:
        """Return the environment an iDDS client needs to call `rest_url`."""
        ...

    def start(
        self,
        panda_url: str,
        notifier_url: str,
        notifier_token: str,
        *,
        notifier_token_file: Path | None = None,
    ) -> None:
        """Start every piece (see `IddsStack.start`).

        Parameters
        ----------
        panda_url : `str`
            The local PanDA's URL, which the daemons call.
        notifier_url : `str`
            Where the conductor's notifier posts its messages.
        notifier_token : `str`
            The token the notifier sends.
        notifier_token_file : `pathlib.Path`, optional
            A file the notifier reads the token from at each call (renewed by the server).
        """
        ...

    def stop(self) -> None:
        """Stop every piece (idempotent)."""
        ...


class IddsEngine(Engine):
    """The real iDDS stack of the state directory, with the relay forwarding to it.

    Parameters
    ----------
    server_python : `pathlib.Path`, optional
        Python of the iDDS servers' virtualenv (default:
        `~lsst.ctrl.bps.panda.local.idds.idds_stack.default_server_python`).
    stack_factory : `~collections.abc.Callable`, optional
        Makes the iDDS stack from the state directory (default: `IddsStack`; tests stand in).
    """

    name: ClassVar[str] = "idds"
    start_timeout: ClassVar[float] = 240.0  # PostgreSQL, schema, Redis, REST app, daemons come first
    min_http_threads: ClassVar[int] = 8
    runs_servers: ClassVar[bool] = True
    user_errors: ClassVar[tuple[type[Exception], ...]] = (IddsStackError,)

    def __init__(
        self,
        server_python: Path | None = None,
        stack_factory: Callable[[StateDir], ServerStack] | None = None,
    ) -> None:
        self.server_python = server_python
        self._stack_factory = stack_factory
        self.stack: ServerStack | None = None
        """The running stack (`None` before `start_servers` and after `stop_servers`)."""
        self.relay: IddsRelay | None = None
        """The relay forwarding to the stack (made by `parts`)."""
        self.notifier_url = ""
        """Where the conductor's notifier posts its messages (set by `start_servers`)."""

    @classmethod
    def from_arguments(cls, args: argparse.Namespace) -> Self:
        # Docstring inherited from Engine.from_arguments.
        return cls(server_python=find_server_python(args.idds_python))

    def parts(self, engine: LocalPanda, token: str, refusal: Refusal) -> EngineParts:
        # Docstring inherited from Engine.parts.
        from ..jedi.final_reruns import FinalReruns
        from ..jedi.panda_api import panda_api_blueprint  # Flask: the local extra
        from ..jedi.panda_tasks import PandaTasks

        reruns = FinalReruns(engine)
        self.relay = IddsRelay(reruns=reruns)
        return EngineParts(
            relay=self.relay,
            # The monitor pages read iDDS as the server's owner (they are logged in with its token).
            monitor_verbs=RelayedVerbs(self.relay, token_identity(token), engine.store),
            # The daemons and the notifier call with the server's own token (a JWT for its owner).
            blueprints=(panda_api_blueprint(PandaTasks(engine), refusal),),
            pass_hooks=(reruns.release_due,),
        )

    def start_servers(self, state: StateDir, port: int, token: str) -> None:
        # Docstring inherited from Engine.start_servers.
        from ..jedi.panda_api import NOTIFIER_PATH

        if self._stack_factory is None:
            self.stack = IddsStack(state.root, server_python=self.server_python)
        else:
            self.stack = self._stack_factory(state)
        self.notifier_url = f"http://127.0.0.1:{port}{NOTIFIER_PATH}"
        self.stack.start(local_url(port), self.notifier_url, token, notifier_token_file=state.token_path)
        assert self.relay is not None  # made by parts
        self.relay.connect(self.stack.rest_url, self.stack.client_env())

    def stop_servers(self) -> None:
        # Docstring inherited from Engine.stop_servers.
        stack, self.stack = self.stack, None
        if stack is not None:
            # The daemons first: they call the relay until they stop.
            stack.stop()
        if self.relay is not None:
            self.relay.disconnect()

    @classmethod
    def status(cls, state: StateDir) -> dict[str, Any]:
        # Docstring inherited from Engine.status.
        return {"idds": IddsStack.read_status(state.root)}

    @classmethod
    def clean_up(cls, state: StateDir) -> str | None:
        # Docstring inherited from Engine.clean_up.
        return "the iDDS stack" if IddsStack.clean_up(state.root) else None
