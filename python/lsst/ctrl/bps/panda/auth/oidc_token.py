# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The PanDA client's OIDC token, read and renewed through the client's own machinery.

The PanDA client (``pandaclient.Client._HttpClient.get_oidc``) keeps the token of a login in
``$PANDA_CONFIG_ROOT/.token`` (the token endpoint's reply: ``id_token`` and ``refresh_token``),
finds the identity provider from ``<PANDA_URL_SSL host>/auth/<PANDA_AUTH_VO>_auth_config.json``
and logs in with the device authorization flow (``openidc_utils.OpenIdConnect_Utils``).  This
module reads that file, and renews or replaces the token by calling those same functions; every
failure becomes an `AuthError` with a one-line message and the exit code ``panda_auth`` returns.

``pandaclient`` is imported lazily (it reads the PanDA URLs when imported).
"""

from __future__ import annotations

import enum
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..errors import AuthEnvironmentError, AuthError
from ..identity import relay_user_name, token_dn

__all__ = [
    "AuthExit",
    "TokenState",
    "auth_config_url",
    "client_oidc",
    "environment_token",
    "local_time",
    "provider_config",
    "read_token_file",
]

_LOG = logging.getLogger(__name__)

_UNREACHABLE = re.compile(
    r"urlopen error|timed out|Connection refused|Name or service not known|No route to host|"
    r"Network is unreachable|Temporary failure in name resolution|Connection reset",
    re.IGNORECASE,
)
_TOKEN_VARIABLES = ("PANDA_AUTH_ID_TOKEN", "OIDC_AUTH_TOKEN_FILE", "OIDC_AUTH_ID_TOKEN")


class AuthExit(enum.IntEnum):
    """Exit codes of ``panda_auth`` (documented in the README)."""

    OK = 0
    """The token is valid (status), was renewed or did not need to be (refresh), login done, cleaned."""
    USAGE = 1
    """The environment does not select OIDC (``PANDA_AUTH``, ``PANDA_AUTH_VO``, ``PANDA_URL_SSL``),
    a token in the environment overrides the token file, or no answer to the login prompt."""
    NO_TOKEN = 2
    """No token file, or one that cannot be read."""
    EXPIRED = 3
    """The ID token expired (status), or the refresh token did (refresh): log in again."""
    WRONG_VO = 4
    """The token is for another VO, or the PanDA server has no auth configuration for ``PANDA_AUTH_VO``."""
    UNREACHABLE = 5
    """The PanDA server or the identity provider cannot be reached."""
    REFUSED = 6
    """The identity provider refused the login or the refresh for another reason."""


def local_time(epoch: float) -> str:
    """Return ``epoch`` as a local date and time with its zone.

    Parameters
    ----------
    epoch : `float`
        Time in seconds since the Unix epoch.
    """
    return datetime.fromtimestamp(epoch).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


@dataclass
class TokenState:
    """A token the PanDA client would send, and what its claims say."""

    source: str
    """Where it comes from: the token file's path, or the environment variable."""
    id_token: str
    claims: dict[str, Any]
    refresh_token: str | None = None
    now: float = field(default_factory=time.time)

    @property
    def expires(self) -> float:
        """``exp`` (seconds since the epoch)."""
        return float(self.claims.get("exp", 0))

    @property
    def hours_left(self) -> float:
        """Hours until it expires (negative once expired)."""
        return (self.expires - self.now) / 3600

    @property
    def groups(self) -> list[str]:
        """The ``groups`` claim (the VOs and their groups)."""
        groups = self.claims.get("groups") or []
        return [str(group) for group in groups] if isinstance(groups, list) else [str(groups)]

    @property
    def panda_user(self) -> str | None:
        """The user name the PanDA server records for requests sent with this token."""
        dn = token_dn(self.claims)
        return relay_user_name(dn) if dn else None

    def vo_problem(self, vo: str) -> str | None:
        """Return why this token is not for ``vo`` (`None`: it is, or it names no group).

        Parameters
        ----------
        vo : `str`
            Virtual organisation the token should belong to (``PANDA_AUTH_VO``).
        """
        groups = self.groups
        wanted = vo.lower()
        if not groups or any(
            g.lower().strip("/") == wanted or g.lower().startswith(f"{wanted}/") for g in groups
        ):
            return None
        return f"the token is for {', '.join(groups)}, not PANDA_AUTH_VO={vo}"


def _decode(id_token: str, source: str) -> dict[str, Any]:
    from pandaclient.openidc_utils import decode_id_token

    try:
        claims = decode_id_token(id_token)
    except (ValueError, IndexError, AttributeError) as error:
        raise AuthError(AuthExit.NO_TOKEN, f"the token in {source} is not a JWT ({error})") from None
    if not isinstance(claims, dict) or "exp" not in claims:
        raise AuthError(AuthExit.NO_TOKEN, f"the token in {source} has no expiry time (exp)")
    return claims


def environment_token() -> TokenState | None:
    """Return the token set in the environment, which the PanDA client sends instead of its file."""
    from pandaclient import Client

    token = Client.get_token_string(_LOG, False)
    if not token:
        return None
    source = next((f"${name}" for name in _TOKEN_VARIABLES if os.environ.get(name)), "the environment")
    return TokenState(source, token.strip(), _decode(token.strip(), source))


def read_token_file(path: Path) -> TokenState:
    """Return the token in the PanDA client's token file.

    Parameters
    ----------
    path : `pathlib.Path`
        The PanDA client's token file (JSON with ``id_token`` and ``refresh_token``).

    Raises
    ------
    AuthError
        Raised (`AuthExit.NO_TOKEN`) if there is no file or it holds no token.
    """
    try:
        # open() is looked up at call time: the published suite patches builtins.open.
        with open(path) as stream:
            content = json.load(stream)
        id_token = content["id_token"]
    except FileNotFoundError:
        raise AuthError(AuthExit.NO_TOKEN, f"no token in {path}: log in with 'panda_auth reset'") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise AuthError(
            AuthExit.NO_TOKEN, f"cannot read a token from {path} ({error}): log in with 'panda_auth reset'"
        ) from None
    return TokenState(str(path), id_token, _decode(id_token, str(path)), content.get("refresh_token"))


def auth_config_url() -> str:
    """Return the URL of ``PANDA_AUTH_VO``'s auth configuration on the PanDA server.

    The PanDA client's own address for it (``Client._HttpClient.get_oidc``): the host of its
    ``PANDA_URL_SSL``, ``/auth/<PANDA_AUTH_VO>_auth_config.json``.
    """
    from pandaclient import Client

    parsed = urlparse(Client.baseURLSSL)
    host = f"{parsed.hostname}:{parsed.port}" if parsed.port else parsed.hostname
    return f"{parsed.scheme}://{host}/auth/{os.environ.get('PANDA_AUTH_VO', '')}_auth_config.json"


def client_oidc(log: logging.Logger, verbose: bool = False, oidc_class: Any = None) -> Any:
    """Return the PanDA client's ``OpenIdConnect_Utils`` for ``PANDA_URL_SSL`` and ``PANDA_AUTH_VO``.

    Parameters
    ----------
    log : `logging.Logger`
        Logger the PanDA client writes its messages to.
    verbose : `bool`, optional
        Make the PanDA client log its HTTP exchanges.
    oidc_class : `type`, optional
        The class to build (default: ``pandaclient.openidc_utils.OpenIdConnect_Utils``, looked up
        when called); ``panda_auth_utils`` passes its own module's name for it.

    Raises
    ------
    AuthEnvironmentError
        Raised (`AuthExit.USAGE`) if the environment does not select OIDC authentication.
    """
    if os.environ.get("PANDA_AUTH") != "oidc":
        raise AuthEnvironmentError(
            AuthExit.USAGE, "PANDA_AUTH is not 'oidc': panda_auth manages OIDC tokens only"
        )
    missing = [name for name in ("PANDA_AUTH_VO", "PANDA_URL_SSL") if not os.environ.get(name)]
    if missing:
        raise AuthEnvironmentError(
            AuthExit.USAGE,
            f'set {" and ".join(missing)} (e.g. PANDA_AUTH_VO=Rubin, or eval "$(panda_local env)")',
        )
    if oidc_class is None:
        from pandaclient import openidc_utils

        oidc_class = openidc_utils.OpenIdConnect_Utils
    return oidc_class(auth_config_url(), log_stream=log, verbose=verbose)


def _description(text: str) -> str:
    """Return the readable part of a failure message of ``openidc_utils``."""
    found = re.search(r'"error_description"\s*:\s*"([^"]*)"', text)
    if found:
        return found.group(1)
    found = re.search(r"description=b?['\"](.*)['\"]$", text.strip(), re.DOTALL)
    return (found.group(1) if found else text).replace("\\n", " ").strip()


def classify(step: str, text: str, vo: str) -> AuthError:
    """Turn a failure message of ``openidc_utils`` into an `AuthError`.

    Parameters
    ----------
    step : `str`
        What was being done (``refresh``, ``login``, ``auth config``...).
    text : `str`
        The message ``openidc_utils`` returned.
    vo : `str`
        ``PANDA_AUTH_VO``.
    """
    if _UNREACHABLE.search(text):
        return AuthError(
            AuthExit.UNREACHABLE, f"{step}: cannot reach the identity provider ({_description(text)})"
        )
    if (step == "auth config" or text.startswith("Failed to get Auth configuration")) and "code=404" in text:
        return AuthError(
            AuthExit.WRONG_VO,
            f"the PanDA server has no auth configuration for PANDA_AUTH_VO={vo} ({_description(text)})",
        )
    if "invalid_grant" in text or "expired_token" in text:
        return AuthError(
            AuthExit.EXPIRED, f"{step} refused: {_description(text)}; log in again with 'panda_auth reset'"
        )
    return AuthError(AuthExit.REFUSED, f"{step} failed: {_description(text)}")


def provider_config(oidc: Any, vo: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the VO's auth configuration and its identity provider's endpoints (as the client reads them).

    Parameters
    ----------
    oidc : `pandaclient.openidc_utils.OpenIdConnect_Utils`
        The PanDA client's OIDC helper (from `client_oidc`), which fetches the pages.
    vo : `str`
        Virtual organisation, named in error messages.

    Raises
    ------
    AuthError
        Raised if either cannot be fetched.
    """
    ok, auth_config = oidc.fetch_page(oidc.auth_config_url)
    if not ok:
        raise classify("auth config", str(auth_config), vo)
    ok, endpoints = oidc.fetch_page(auth_config["oidc_config_url"])
    if not ok:
        raise classify("identity provider configuration", str(endpoints), vo)
    return auth_config, endpoints
