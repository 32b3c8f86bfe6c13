# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Remote build: the quantum graph is built by a PanDA job, not on the submit host.

Layer: above `wms`.

Modules
-------
`build_archive`
    Pack the build's archive and put it in the PanDA cache.
`build_submission`
    The submit side (``submit_build``) and the build job's hand-back.
"""

__all__: list[str] = []
