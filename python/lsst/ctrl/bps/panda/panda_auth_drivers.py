# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The published 30.x module of ``panda_auth``'s verbs: each runs the verb of `auth.panda_auth_cli`.

Each prints what ``panda_auth <verb>`` prints and returns its exit code
(`~lsst.ctrl.bps.panda.auth.oidc_token.AuthExit`) instead of raising.
"""

from __future__ import annotations

import logging

from .auth.panda_auth_cli import main

__all__ = [
    "panda_auth_clean_driver",
    "panda_auth_refresh_driver",
    "panda_auth_reset_driver",
    "panda_auth_status_driver",
]

_LOG = logging.getLogger(__name__)


def panda_auth_clean_driver() -> int:
    """Remove the token file and the PanDA client's cached pages (``panda_auth clean``)."""
    return main(["clean"])


def panda_auth_reset_driver() -> int:
    """Forget the token and log in again (``panda_auth reset``)."""
    return main(["reset"])


def panda_auth_refresh_driver(days: float | None, verbose: bool) -> int:
    """Renew the token if it expires within ``days`` (``panda_auth refresh``).

    Parameters
    ----------
    days : `float` or `None`
        Renew only a token that expires within this many days; `None` for ``panda_auth``'s default.
    verbose : `bool`
        Show each step of the refresh.
    """
    days_option = [] if days is None else ["--days", str(days)]
    return main(["refresh", *days_option, *(["--verbose"] if verbose else [])])


def panda_auth_status_driver() -> int:
    """Print who the token names, its VO and when it expires (``panda_auth status``)."""
    return main(["status"])
