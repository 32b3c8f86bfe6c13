# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The PanDA client's OIDC token, as a user manages it.

Layer: above `wms` (nothing in the plugin imports it but the ``panda_auth``
command).

Modules
-------
`oidc_token`
    Read, renew and remove the token the PanDA client keeps, through the
    client's own machinery.
`panda_auth_cli`
    The ``panda_auth`` command (status, renew, reset, clean).
`log_options`
    Its global logging options, as the published command takes them.
"""

__all__: list[str] = []
