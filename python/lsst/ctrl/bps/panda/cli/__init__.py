# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The published 30.x command-line module paths of ``panda_auth``, over `~lsst.ctrl.bps.panda.auth`.

Layer: with `panda_service` (the published adapters).

Modules
-------
`panda_auth`
    ``main``, the ``panda_auth`` command.
`cmd`
    One function per verb (status, reset, clean, refresh).
"""

__all__: list[str] = []
