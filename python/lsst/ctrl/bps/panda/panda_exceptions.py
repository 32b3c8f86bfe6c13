# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The published 30.x module of the token errors: the classes are this package's (`errors`).

Each is also an `~lsst.ctrl.bps.panda.errors.AuthError`, carrying the exit code ``panda_auth``
returns for it.
"""

from .errors import (
    AuthConfigError,
    PandaAuthError,
    TokenExpiredError,
    TokenNotFoundError,
    TokenRefreshError,
    TokenTooEarlyError,
)

__all__ = [
    "AuthConfigError",
    "PandaAuthError",
    "TokenExpiredError",
    "TokenNotFoundError",
    "TokenRefreshError",
    "TokenTooEarlyError",
]
