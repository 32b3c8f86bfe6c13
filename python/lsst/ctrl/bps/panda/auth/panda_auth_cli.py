# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""``panda_auth``: the PanDA client's OIDC token: who, which VO, how long; renew, replace, remove.

::

    panda_auth status                        # exit 0 while the token is valid
    panda_auth refresh [--days N] [--verbose]
    panda_auth reset                         # forget the token, log in again
    panda_auth clean                         # remove the token and the client's page cache
    panda_auth --log-level DEBUG --log-file auth.json refresh   # the published global options

The global logging options (``--log-level``, ``--long-log``, ``--log-file``, ``--log-tty``,
``--log-label``) come before the verb, as for the published command (`log_options`).

Works on the token the PanDA client uses (``$PANDA_CONFIG_ROOT/.token``, for
``PANDA_AUTH=oidc``, ``PANDA_AUTH_VO`` and ``PANDA_URL_SSL``) through the client's own OIDC
functions; the exit codes are `auth_token.AuthExit`.
"""

from __future__ import annotations

import argparse
import glob
import logging
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import AuthError
from .log_options import add_log_options, configured_logging
from .oidc_token import (
    AuthExit,
    TokenState,
    classify,
    client_oidc,
    environment_token,
    local_time,
    provider_config,
    read_token_file,
)

__all__ = ["main"]

_LOG = logging.getLogger("panda_auth")

DEFAULT_DAYS = 4.0
"""``refresh`` renews a token expiring within this many days."""

_JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*")


class _HideTokens(logging.Filter):
    """Keep tokens out of what is printed (the client's verbose log shows whole token replies)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _JWT.sub("<token>", record.getMessage())
        record.args = None
        return True


def _vo() -> str:
    return os.environ.get("PANDA_AUTH_VO", "")


def _print_token(token: TokenState) -> None:
    claims = token.claims
    rows = [
        ("Token:", token.source),
        ("Name:", claims.get("name") or claims.get("sub", "?")),
        ("Subject:", claims.get("sub", "?")),
        ("PanDA user:", token.panda_user or "?"),
        ("VO:", ", ".join(token.groups) or "(no groups claim)"),
    ]
    if claims.get("email"):
        rows.append(("Email:", claims["email"]))
    if claims.get("iat"):
        rows.append(("Valid starting:", local_time(float(claims["iat"]))))
    left = token.hours_left
    state = f"{left:.1f} hours left" if left > 0 else f"expired {-left:.1f} hours ago"
    rows.append(("Expires:", f"{local_time(token.expires)} ({state})"))
    for label, value in rows:
        print(f"{label:16}{value}")


def _current_token(oidc: Any) -> TokenState:
    return environment_token() or read_token_file(Path(oidc.get_token_path()))


def _check_usable(token: TokenState) -> None:
    if problem := token.vo_problem(_vo()):
        raise AuthError(AuthExit.WRONG_VO, f"{problem}: log in to {_vo()} with 'panda_auth reset'")
    if token.hours_left <= 0:
        raise AuthError(
            AuthExit.EXPIRED,
            f"the token expired at {local_time(token.expires)}: renew it with 'panda_auth refresh' "
            "(or log in again: 'panda_auth reset')",
        )


def _refuse_environment_token(verb: str) -> None:
    if token := environment_token():
        raise AuthError(
            AuthExit.USAGE,
            f"{token.source} is set: the PanDA client sends it and ignores its token file; unset it to "
            f"{verb} the login token",
        )


def status(oidc: Any) -> AuthExit:
    """Print who the token names, its VO and expiry; return `AuthExit.OK` while it is valid.

    Parameters
    ----------
    oidc : `pandaclient.openidc_utils.OpenIdConnect_Utils`
        The PanDA client's OIDC helper (from `client_oidc`), which locates the token file.
    """
    token = _current_token(oidc)
    _print_token(token)
    _check_usable(token)
    return AuthExit.OK


def refresh(oidc: Any, days: float, verbose: bool) -> AuthExit:
    """Renew the token with its refresh token if it expires within ``days``.

    Parameters
    ----------
    oidc : `pandaclient.openidc_utils.OpenIdConnect_Utils`
        The PanDA client's OIDC helper (from `client_oidc`), which refreshes and stores the token.
    days : `float`
        Refresh only if the token expires within this many days.
    verbose : `bool`
        Log the token file and the refresh exchange in detail.
    """
    _refuse_environment_token("refresh")
    token = read_token_file(Path(oidc.get_token_path()))
    if problem := token.vo_problem(_vo()):
        raise AuthError(AuthExit.WRONG_VO, f"{problem}: log in to {_vo()} with 'panda_auth reset'")
    left = token.hours_left
    _LOG.debug("Token file %s: expires %s (%.2f hours left)", token.source, local_time(token.expires), left)
    if left > days * 24:
        print(
            f"Not refreshed: the token is valid until {local_time(token.expires)} ({left:.1f} hours left), "
            f"more than {days:g} day(s); use --days to refresh earlier"
        )
        return AuthExit.OK
    if not token.refresh_token:
        raise AuthError(
            AuthExit.EXPIRED, f"{token.source} has no refresh token: log in with 'panda_auth reset'"
        )
    auth_config, endpoints = provider_config(oidc, _vo())
    if verbose:
        _LOG.info("Token endpoint: %s", endpoints["token_endpoint"])
    ok, reply = oidc.refresh_token(
        endpoints["token_endpoint"],
        auth_config["client_id"],
        auth_config.get("client_secret", ""),
        token.refresh_token,
    )
    if not ok:
        raise classify("refresh", str(reply), _vo())
    renewed = read_token_file(Path(oidc.get_token_path()))
    before = f"had {left:.1f} hours left" if left > 0 else f"had expired {-left:.1f} hours ago"
    print(
        f"Refreshed: the token {before}; it is now valid until {local_time(renewed.expires)} "
        f"({renewed.hours_left:.1f} hours left)"
    )
    return AuthExit.OK


def reset(oidc: Any) -> AuthExit:
    """Forget the token and log in again (the previous token is kept if the login fails).

    Parameters
    ----------
    oidc : `pandaclient.openidc_utils.OpenIdConnect_Utils`
        The PanDA client's OIDC helper (from `client_oidc`), which runs the device login.
    """
    _refuse_environment_token("reset")
    path = Path(oidc.get_token_path())
    previous = path.read_bytes() if path.is_file() else None
    oidc.cleanup()
    try:
        ok, reply = oidc.run_device_authorization_flow()
    except (EOFError, KeyboardInterrupt):
        ok, reply = False, "no answer to the prompt (answer y once the login is approved)"
    if not ok:
        if previous is not None:
            path.write_bytes(previous)
            path.chmod(0o600)
        error = classify("login", str(reply), _vo())
        if "no answer" in str(reply) or str(reply).endswith("aborted"):
            error = AuthError(AuthExit.USAGE, f"login: {reply}")
        kept = "; the previous token is kept" if previous is not None else ""
        raise AuthError(error.code, error.message + kept)
    path.chmod(0o600)
    token = read_token_file(path)
    print(f"Logged in as {token.claims.get('name') or token.claims.get('sub')}:")
    _print_token(token)
    return AuthExit.OK


def clean(oidc: Any) -> AuthExit:
    """Remove the token file and the client's cached pages.

    Parameters
    ----------
    oidc : `pandaclient.openidc_utils.OpenIdConnect_Utils`
        The PanDA client's OIDC helper (from `client_oidc`), whose token directory is cleaned.
    """
    from pandaclient.openidc_utils import CACHE_PREFIX, TOKEN_BASENAME

    directory = oidc.token_dir
    found = sorted(
        name
        for pattern in (TOKEN_BASENAME, CACHE_PREFIX)
        for name in glob.glob(os.path.join(directory, pattern + "*"))
    )
    oidc.cleanup()
    if found:
        print(f"Removed from {directory}: {', '.join(os.path.basename(name) for name in found)}")
    else:
        print(f"No token files in {directory}")
    return AuthExit.OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="panda_auth",
        description="The PanDA client's OIDC token (PANDA_AUTH_VO, $PANDA_CONFIG_ROOT/.token).",
    )
    add_log_options(parser)
    verbs = parser.add_subparsers(dest="verb", required=True)
    verbs.add_parser("status", help="who the token names, its VO, when it expires (exit 0 while valid)")
    verbs.add_parser("reset", help="forget the token and log in again")
    verbs.add_parser("clean", help="remove the token file and the client's cached pages")
    renew = verbs.add_parser("refresh", help="renew the token if it expires within --days")
    renew.add_argument(
        "--days",
        type=float,
        default=DEFAULT_DAYS,
        help=f"renew when it expires within this many days (default: {DEFAULT_DAYS:g})",
    )
    renew.add_argument("--verbose", action="store_true", help="show each step of the refresh")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``panda_auth``; return its exit code (`auth_token.AuthExit`).

    Parameters
    ----------
    argv : `~collections.abc.Sequence` [`str`], optional
        Command-line arguments without the program name; `None` reads ``sys.argv``.
    """
    args = _parser().parse_args(argv)
    verbose = bool(getattr(args, "verbose", False))
    try:
        with configured_logging(_LOG, args, filters=(_HideTokens(),)):
            if verbose:
                _LOG.setLevel(min(_LOG.getEffectiveLevel(), logging.DEBUG))
            return _run(args, verbose)
    except AuthError as error:  # a --log-file that cannot be written
        print(f"panda_auth: {error.message}", file=sys.stderr)
        return int(error.code)


def _run(args: argparse.Namespace, verbose: bool) -> int:
    try:
        oidc = client_oidc(_LOG, verbose)
        if args.verb == "status":
            return status(oidc)
        if args.verb == "refresh":
            return refresh(oidc, args.days, verbose)
        if args.verb == "reset":
            return reset(oidc)
        return clean(oidc)
    except AuthError as error:
        sys.stdout.flush()
        print(f"panda_auth: {error.message}", file=sys.stderr)
        return int(error.code)


if __name__ == "__main__":
    sys.exit(main())
