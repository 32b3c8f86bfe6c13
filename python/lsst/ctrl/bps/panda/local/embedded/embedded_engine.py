# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The ``embedded`` engine: the local PanDA plays iDDS itself, with no other server."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from ..engine.engine_plugin import Engine, EngineParts, Refusal

if TYPE_CHECKING:
    from ..engine.engine_thread import LocalPanda

__all__ = ["EmbeddedEngine"]


class EmbeddedEngine(Engine):
    """The local PanDA plays iDDS: no relay elsewhere, no servers, no more endpoints.

    The relay answers the iDDS commands and the monitor reads from the local store, both through
    `~lsst.ctrl.bps.panda.local.embedded.embedded_verbs.Verbs` (which the server makes).
    """

    name: ClassVar[str] = "embedded"

    def parts(self, engine: LocalPanda, token: str, refusal: Refusal) -> EngineParts:
        # Docstring inherited from Engine.parts.
        return EngineParts()
