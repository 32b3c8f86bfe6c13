# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The real iDDS server side of the idds engine: PostgreSQL, REST app, daemons, relay.

Layer: above `engine`; below `http`.

Modules
-------
`idds_engine`
    `IddsEngine`: the ``idds`` engine (its stack, relay, PanDA API).
`idds_stack`
    `IddsStack`: start, watch and stop the whole stack.
`idds_postgres`
    A private PostgreSQL cluster for iDDS.
`idds_config`
    iDDS's configuration files and environment.
`stack_processes`
    Ports, probes and process groups of the stack.
`idds_relay`
    PanDA's ``relay_idds_command`` forwarded to the real iDDS.
`scripts`
    Files the servers' virtualenv runs; never imported by the plugin.
"""

__all__: list[str] = []
