# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Scripts run by the servers' virtualenv (``.venv-real-idds``), by path.

Nothing in the plugin imports them: they import only the standard library
and iDDS.  Tests import them to check their pieces.

Modules
-------
`idds_daemons`
    The iDDS daemons with restful idle loops and the clerk's fixes.
`idds_rest_app`
    The iDDS REST app under waitress on 127.0.0.1.
`idds_notifier`
    The conductor's notifier, posting to the local PanDA.
"""

__all__: list[str] = []
