# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The published 30.x path of ``panda_auth``'s verbs: each runs the verb and returns its exit code."""

from __future__ import annotations

from ..panda_auth_drivers import (
    panda_auth_clean_driver,
    panda_auth_refresh_driver,
    panda_auth_reset_driver,
    panda_auth_status_driver,
)

__all__ = ["clean", "refresh", "reset", "status"]


def status() -> int:
    """Print who the token names, its VO and when it expires; 0 while it is valid."""
    return panda_auth_status_driver()


def reset() -> int:
    """Forget the token and log in again."""
    return panda_auth_reset_driver()


def clean() -> int:
    """Remove the token file and the PanDA client's cached pages."""
    return panda_auth_clean_driver()


def refresh(days: float | None = None, verbose: bool = False) -> int:
    """Renew the token if it expires within ``days``.

    Parameters
    ----------
    days : `float`, optional
        Renew only a token that expires within this many days (default: ``panda_auth``'s).
    verbose : `bool`, optional
        Show each step of the refresh.
    """
    return panda_auth_refresh_driver(days, verbose)
