# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The plug point of the workflow engines: what the server and ``panda_local`` need of one.

A local PanDA always runs its PanDA jobs with `~lsst.ctrl.bps.panda.local.engine.engine_thread.LocalPanda`;
an `Engine` says who plays iDDS (and, later, PanDA's server and JEDI): the embedded verbs, or real
servers it starts next to the relay.  The server asks it for the parts it adds to the relay's
application (`EngineParts`), starts and stops its servers, and ``panda_local`` asks it what
``status`` shows and what a killed server left behind.  The engines are registered by name in
`lsst.ctrl.bps.panda.local.engines`.

Nothing heavy is imported here: ``panda_local`` reads the registry before it checks the ``local``
extra (Flask) is installed.
"""

from __future__ import annotations

import argparse
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self

if TYPE_CHECKING:
    from flask import Blueprint, Response

    from ..core.wire_codec import RelayCall
    from ..state.state_dir import StateDir
    from .engine_thread import LocalPanda

__all__ = ["CommandRelay", "Engine", "EngineParts", "MonitorVerbs", "Refusal"]

Refusal = Callable[[], "Response | None"]
"""The server's token check of a request (`None`: serve it); endpoints an engine adds call it first."""


class MonitorVerbs(Protocol):
    """What the monitor pages read: the two iDDS ``ClientManager`` reads they show (by keyword)."""

    def get_requests(
        self, *, request_id: int | None = None, with_detail: bool = False
    ) -> list[dict[str, Any]]:
        """Return iDDS's request records (every request without ``request_id``).

        Parameters
        ----------
        request_id : `int`, optional
            The request; every request when `None`.
        with_detail : `bool`, optional
            One record per transform (task) instead of one per request.
        """
        ...

    def get_contents_output_ext(
        self, *, request_id: int | None = None, transform_id: int | None = None
    ) -> dict[int, list[dict[str, Any]]]:
        """Return iDDS's job records by transform id, each with the ``path`` of its job's log.

        Parameters
        ----------
        request_id : `int`, optional
            The request.
        transform_id : `int`, optional
            Only this transform's jobs.
        """
        ...


class CommandRelay(Protocol):
    """Where the relay forwards the iDDS commands it does not answer itself."""

    def forward(self, call: RelayCall, args: list[Any], kwargs: dict[str, Any], caller: str | None) -> str:
        """Run one command; return the relay's reply body (``[true, value]`` or ``[false, msg]``).

        Parameters
        ----------
        call : `~lsst.ctrl.bps.panda.local.core.wire_codec.RelayCall`
            The decoded call (command name, manager flag).
        args, kwargs : `list`, `dict`
            Its arguments, decoded and checked.
        caller : `str` or `None`
            The identity the request is recorded under (the token's subject).
        """
        ...


@dataclass(frozen=True)
class EngineParts:
    """What an engine adds to the relay's application and to the scheduling thread."""

    relay: CommandRelay | None = None
    """Where iDDS commands go (`None`: the embedded verbs answer them); ``local_status`` never goes."""

    monitor_verbs: MonitorVerbs | None = None
    """What the monitor pages read (`None`: the embedded verbs)."""

    blueprints: tuple[Blueprint, ...] = ()
    """More endpoints of the relay's application (the idds engine's PanDA task/job API)."""

    pass_hooks: tuple[Callable[[], Any], ...] = ()
    """Called in each scheduling pass of the `LocalPanda` (see its ``pass_hooks``)."""


class Engine(ABC):
    """What runs the workflows of a local PanDA, as the server and ``panda_local`` see it.

    One instance serves one server, from `parts` (once, when the application is made) through
    `start_servers` to `stop_servers`; the class methods work on a state directory with no server.
    """

    name: ClassVar[str]
    """Its ``--engine`` name, kept in ``<state dir>/engine``."""

    start_timeout: ClassVar[float] = 60.0
    """Seconds ``panda_local start --background`` waits for a server of this engine to answer."""

    stop_timeout: ClassVar[float] = 30.0
    """Seconds ``panda_local stop`` waits for a server of this engine to exit before killing it."""

    min_http_threads: ClassVar[int] = 1
    """HTTP worker threads the relay needs at least (its servers call it while it serves)."""

    runs_servers: ClassVar[bool] = False
    """Whether `start_servers` starts servers that call the relay while they start: the relay
    then serves from a thread before `start_servers`."""

    user_errors: ClassVar[tuple[type[Exception], ...]] = ()
    """Errors of `from_arguments` and `start_servers` whose message tells the user what to do:
    ``panda_local`` prints them without a traceback."""

    @classmethod
    def from_arguments(cls, args: argparse.Namespace) -> Self:
        """Return the engine that ``panda_local start`` with ``args`` asks for.

        Parameters
        ----------
        args : `argparse.Namespace`
            The parsed arguments of ``panda_local start``.

        Raises
        ------
        Exception
            One of `user_errors` when what it needs is missing (the message names the fix).
        """
        return cls()

    @abstractmethod
    def parts(self, engine: LocalPanda, token: str, refusal: Refusal) -> EngineParts:
        """Return what this engine adds to the server of ``engine`` (called once, before serving).

        Parameters
        ----------
        engine : `~lsst.ctrl.bps.panda.local.engine.engine_thread.LocalPanda`
            The scheduling thread that runs the PanDA jobs.
        token : `str`
            The server's own token (a JWT for its owner).
        refusal : `~collections.abc.Callable`
            The server's token check for the endpoints an engine adds: returns the response
            refusing the current request (missing or wrong bearer token), or `None` to serve it.
        """

    def start_servers(self, state: StateDir, port: int, token: str) -> None:  # noqa: B027 - default: none
        """Start the servers this engine runs next to the relay (default: none).

        Parameters
        ----------
        state : `~lsst.ctrl.bps.panda.local.state.state_dir.StateDir`
            The server's state directory (its ``token`` file is renewed while it runs).
        port : `int`
            The relay's port on 127.0.0.1.
        token : `str`
            The server's own token.

        Raises
        ------
        Exception
            One of `user_errors` if a server does not start (the message names its log).
        """

    def stop_servers(self) -> None:  # noqa: B027 - default: nothing to stop
        """Stop the servers of `start_servers` (idempotent; before the relay stops serving)."""

    @classmethod
    def status(cls, state: StateDir) -> dict[str, Any]:
        """Return what ``panda_local status`` shows of this engine's servers (default: nothing).

        Parameters
        ----------
        state : `StateDir`
            The state directory.
        """
        return {}

    @classmethod
    def clean_up(cls, state: StateDir) -> str | None:
        """End what a killed server of this engine left running in ``state``.

        Parameters
        ----------
        state : `StateDir`
            The state directory.

        Returns
        -------
        ended : `str` or `None`
            What was ended (``"the iDDS stack"``), `None` when nothing was left.
        """
        return None
