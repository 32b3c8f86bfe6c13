# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The local PanDA's HTTP surface besides the relay: monitor, cache, identity provider, auth gate.

Layer: above `embedded`, `jedi` and `idds`; below `server`.

Modules
-------
`auth_gate`
    Who may call: one bearer-token check before a body is read.
`oidc_provider`
    The OIDC device login the PanDA client uses.
`file_cache`
    PanDA's file cache (``putFile``/``getFile``).
`monitor_pages`
    The monitor pages: requests, tasks, jobs, attempt logs.
"""

__all__: list[str] = []
