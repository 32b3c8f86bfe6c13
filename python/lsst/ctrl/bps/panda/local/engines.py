# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The workflow engines of a local PanDA, by name: ``--engine`` and ``<state dir>/engine``.

Each is one implementation of `~lsst.ctrl.bps.panda.local.engine.engine_plugin.Engine`; a new
engine is one more entry in `ENGINES`.
"""

from __future__ import annotations

from ..errors import UnknownEngineError
from .embedded.embedded_engine import EmbeddedEngine
from .engine.engine_plugin import Engine
from .idds.idds_engine import IddsEngine
from .panda.panda_engine import PandaEngine
from .state.state_dir import StateDir

__all__ = ["DEFAULT_ENGINE", "ENGINES", "UnknownEngineError", "engine_class", "last_engine"]

ENGINES: dict[str, type[Engine]] = {
    engine.name: engine for engine in (EmbeddedEngine, IddsEngine, PandaEngine)
}
"""What runs the workflows, by ``--engine`` name: the local engine, the real iDDS (REST service
and daemons) with our PanDA layer, or the real iDDS with the real panda-server and JEDI."""

DEFAULT_ENGINE = EmbeddedEngine.name
"""The engine of a state directory's first start without ``--engine``."""


def engine_class(name: str) -> type[Engine]:
    """Return the engine called ``name``.

    Parameters
    ----------
    name : `str`
        The ``--engine`` name.

    Returns
    -------
    engine : `type` [`Engine`]
        The engine's class.

    Raises
    ------
    UnknownEngineError
        Raised if there is none; the message lists the engines.
    """
    try:
        return ENGINES[name]
    except KeyError:
        raise UnknownEngineError(f"Unknown engine {name!r}: choose one of {', '.join(ENGINES)}") from None


def last_engine(state: StateDir) -> type[Engine]:
    """Return the engine of the last start on ``state`` (before the first: `DEFAULT_ENGINE`).

    Parameters
    ----------
    state : `StateDir`
        The state directory.

    Returns
    -------
    engine : `type` [`Engine`]
        The engine's class.

    Raises
    ------
    UnknownEngineError
        Raised if ``<state dir>/engine`` names no known engine; the message names the file and
        how to choose one.
    """
    name = state.engine()
    if name is None:
        return ENGINES[DEFAULT_ENGINE]
    try:
        return engine_class(name)
    except UnknownEngineError:
        raise UnknownEngineError(
            f"{state.engine_path} names an unknown engine {name!r}: start with --engine "
            f"{{{','.join(ENGINES)}}} to choose one"
        ) from None
