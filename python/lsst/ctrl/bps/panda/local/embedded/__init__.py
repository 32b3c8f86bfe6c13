# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The embedded engine: the iDDS verbs answered by the local PanDA itself.

Layer: above `engine`; below `http`.

Modules
-------
`embedded_engine`
    `EmbeddedEngine`: the ``embedded`` engine (no servers of its own).
`embedded_verbs`
    The ``ClientManager`` verbs served through the relay.
`idds_replies`
    Replies in the shape of iDDS's records.
`build_verbs`
    ``submit_build`` and ``update_build_request``.
"""

__all__: list[str] = []
