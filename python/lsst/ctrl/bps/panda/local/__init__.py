# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause

"""The local PanDA: relay server, SQLite state and an executor that plays pilot.

Modules: `server` (the relay on 127.0.0.1), `codec` (wire format and class
allowlist), `intake` (workflow to request plan), `store` (SQLite),
`scheduler` and `retry` (state rules), `executor` (the pilot), `engine` (the
scheduling thread), `records` (iDDS-shaped replies), `statedir` and `cli`
(``panda_local``).  Nothing is imported here: the CLI stays light.
"""

__all__: list[str] = []
