# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Scripts run by the servers' virtualenv (``.venv-real-idds``) for the real PanDA stack, by path.

Nothing in the plugin imports them: they import only the standard library, panda-server and JEDI.

Modules
-------
`panda_front`
    panda-server's WSGI app under waitress on 127.0.0.1, doing Apache's part.
`jedi_master`
    Real JEDI's master in the foreground (no daemonising), with our PostgreSQL 15 patch of one SQL.
`jedi_messages`
    iDDS's messages to JEDI's own processing plugin, over HTTP instead of ActiveMQ.
`panda_daemons`
    The panda-server daemons the stack needs (the adder), in a short loop.
`local_ddm_client`
    JEDI's DDM client for ``wlcg``: the generic one, plus a dataset freeze.
"""

__all__: list[str] = []
