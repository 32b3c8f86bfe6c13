# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The local PanDA: a PanDA relay, its state and a pilot on one machine.

It imports only the plugin's shared words (`lsst.ctrl.bps.panda.errors`,
`~lsst.ctrl.bps.panda.states`, ...) and `~lsst.ctrl.bps.panda.edgenode.job_contract`;
the plugin never imports it.  Nothing is imported here: the CLI stays light.

Layers, top to bottom (each imports only the ones below it):

`cli`, `server`, `engines`
    ``panda_local``, the relay server on 127.0.0.1 and the engines by name.
`relay_probe`
    Whether a running local PanDA answers, and its engine's health (for ``panda_local``).
`http`
    Monitor pages, file cache, identity provider, auth gate.
`embedded`, `jedi`, `idds`, `panda`
    The engines' sides: the embedded iDDS verbs; the PanDA task/job API
    and the real iDDS stack of the idds engine; the real panda-server + JEDI
    stack (``make real-panda``).
`engine`
    The scheduling thread, its rules, retry and build requests.
`pilot`
    The executor that plays pilot, and its client of the real pilot API.
`state`
    State directory and SQLite store.
`core`
    Pure parts: job states, request plans, wire codec, tokens.
"""

__all__: list[str] = []
