# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The published 30.x module of token functions, over `auth.oidc_token` and ``panda_auth``'s verbs.

The PanDA client's ``OpenIdConnect_Utils`` is looked up in this module when a function runs (the
published tests replace it here).  Failures are the published errors (`panda_exceptions`), each
also an `~lsst.ctrl.bps.panda.errors.AuthError` with ``panda_auth``'s exit code; an environment
that does not select OIDC raises an `OSError`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pandaclient.openidc_utils import OpenIdConnect_Utils

from .auth import panda_auth_cli
from .auth.oidc_token import AuthExit, TokenState, client_oidc, read_token_file
from .errors import (
    AuthConfigError,
    AuthError,
    PandaAuthError,
    TokenExpiredError,
    TokenNotFoundError,
    TokenRefreshError,
    TokenTooEarlyError,
)
from .wms.idds_port import IddsPort

__all__ = [
    "panda_auth_clean",
    "panda_auth_expiration",
    "panda_auth_refresh",
    "panda_auth_setup",
    "panda_auth_status",
    "panda_auth_update",
]

_LOG = logging.getLogger(__name__)

_PUBLISHED_ERRORS: dict[int, type[PandaAuthError]] = {
    AuthExit.NO_TOKEN: TokenNotFoundError,
    AuthExit.EXPIRED: TokenExpiredError,
    AuthExit.WRONG_VO: AuthConfigError,
    AuthExit.UNREACHABLE: AuthConfigError,
    AuthExit.REFUSED: TokenRefreshError,
}


def _published(error: AuthError) -> AuthError:
    """Return ``error`` as the published class of its exit code (itself when it already is one)."""
    if isinstance(error, PandaAuthError | OSError):
        return error
    return _PUBLISHED_ERRORS.get(error.code, PandaAuthError)(error.message, error.code)


def panda_auth_setup(verbose: bool | None = None) -> Any:
    """Return the PanDA client's OIDC helper for ``PANDA_URL_SSL`` and ``PANDA_AUTH_VO``.

    Parameters
    ----------
    verbose : `bool`, optional
        Log the client's HTTP exchanges (default: when this module logs at DEBUG).

    Returns
    -------
    oidc : `pandaclient.openidc_utils.OpenIdConnect_Utils`
        The helper, built from this module's ``OpenIdConnect_Utils``.

    Raises
    ------
    AuthEnvironmentError
        Raised (an `OSError`) if the environment does not select OIDC authentication.
    """
    if verbose is None:
        verbose = _LOG.isEnabledFor(logging.DEBUG)
    return client_oidc(_LOG, verbose, oidc_class=OpenIdConnect_Utils)


def _token(oidc: Any) -> TokenState:
    try:
        return read_token_file(Path(oidc.get_token_path()))
    except AuthError as error:
        raise _published(error) from None


def panda_auth_status() -> dict[str, Any] | None:
    """Return the token file's name and the token's claims (``exp``...), `None` without a token.

    Raises
    ------
    AuthEnvironmentError
        Raised (an `OSError`) if the environment does not select OIDC authentication.
    """
    oidc = panda_auth_setup()
    try:
        token = _token(oidc)
    except TokenNotFoundError:
        return None
    return {"filename": token.source, **token.claims}


def panda_auth_expiration() -> int:
    """Return when the token expires (seconds since the epoch), 0 without a token."""
    status = panda_auth_status()
    return int(status["exp"]) if status else 0


def panda_auth_clean() -> None:
    """Remove the token file and the PanDA client's cached pages."""
    panda_auth_cli.clean(panda_auth_setup())


def panda_auth_update(idds_server: str | None = None, reset: bool = False) -> None:
    """Log in again if ``reset`` (device login), then check that PanDA accepts the token.

    Parameters
    ----------
    idds_server : `str`, optional
        The iDDS server behind the relay; `None` lets the relay choose.
    reset : `bool`, optional
        Forget the token and log in again first.

    Raises
    ------
    IddsError
        Raised (a `RuntimeError`) if PanDA or iDDS does not answer the check.
    """
    if reset:
        try:
            panda_auth_cli.reset(panda_auth_setup())
        except AuthError as error:
            raise _published(error) from None
    IddsPort(idds_server).ping()


def panda_auth_refresh(days: float = 4, verbose: bool = False) -> dict[str, Any] | None:
    """Renew the token with its refresh token; it must expire within ``days`` and not have expired.

    Parameters
    ----------
    days : `float`, optional
        Renew only a token that expires within this many days.
    verbose : `bool`, optional
        Show each step of the refresh.

    Returns
    -------
    status : `dict` or `None`
        `panda_auth_status` after the refresh.

    Raises
    ------
    TokenExpiredError
        Raised if the ID token has expired (``panda_auth refresh`` would still try its refresh token).
    TokenTooEarlyError
        Raised if it expires after ``days``.
    PandaAuthError
        Raised (a subclass) if the token is missing, or the identity provider did not renew it.
    """
    oidc = panda_auth_setup(verbose)
    token = _token(oidc)
    if token.hours_left <= 0:
        raise TokenExpiredError("Token already expired: log in again with 'panda_auth reset'")
    if token.hours_left > days * 24:
        raise TokenTooEarlyError(
            f"Too early to refresh: the token expires in more than {days:g} day(s); "
            "pass a larger days (panda_auth refresh --days N) to refresh now"
        )
    try:
        panda_auth_cli.refresh(oidc, days, verbose)
    except AuthError as error:
        raise _published(error) from None
    status = panda_auth_status()
    print("Success to refresh token")
    return status
