# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause

"""A kit for code downstream of the plugin to test what it reads from PanDA runs.

Layer: the top of the plugin (may import any of it; nothing in the plugin imports it).

Modules
-------
`campaign_verdicts`
    The verdicts a campaign manager (lsst-dm/cm-service) reaches from ``get_status``
    and ``report``, on its two code paths, as pure functions.
"""

__all__: list[str] = []
