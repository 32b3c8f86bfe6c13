# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The real PanDA (panda-server 1.0.4, JEDI, their PostgreSQL) on 127.0.0.1, and the ``panda`` engine.

``make real-panda`` runs the stack alone; ``panda_local start --engine panda`` runs workflows on it.

Layer: beside `embedded`, `jedi` and `idds` (it reuses the iDDS stack, its PostgreSQL, process
helpers and relay; `idds` never imports it); below `http`.

Modules
-------
`panda_engine`
    `PandaEngine` (``--engine panda``): the real iDDS submits to the real panda-server and JEDI,
    JEDI releases the jobs, our executor is the pilot of each queue.
`panda_stack`
    `PandaStack`: start, record and stop PostgreSQL, panda-server, the adder, JEDI and its
    message processing.
`panda_schema`
    PanDA's schema from a ``panda-database`` checkout, the recipe's workarounds, our retry rules.
`panda_config`
    panda-server's and JEDI's configuration files (JEDI's short loop cycles), their environment.
`cric_queues`
    Our CRIC files: one queue per memory class.
`stack_cli`
    ``start``/``stop``/``status``/``env`` of the stack (``make real-panda``).
`scripts`
    Files the servers' virtualenv runs; never imported by the plugin.
"""

__all__: list[str] = []
