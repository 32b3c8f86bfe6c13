# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The tokens a local PanDA issues and accepts: signed JWTs with real expiry times.

A local PanDA is its own identity provider for one virtual organisation (``local``): it signs
ID tokens and refresh tokens (HS256) with a key kept in its state directory, and accepts as a
bearer token only an ID token it signed that has not expired.  The claims are those the PanDA
client and the PanDA server read from a real IAM token: ``sub``, ``name`` (when the account has
a full name), ``preferred_username``, ``groups`` (the VO), ``aud`` (the VO's client id),
``iat`` and ``exp``.  Tokens are issued for the Unix user who runs the server.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import pwd
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jwt

from ...errors import TokenRejectedError

__all__ = [
    "CLIENT_ID",
    "DEFAULT_ID_LIFETIME",
    "DEFAULT_REFRESH_LIFETIME",
    "ISSUER",
    "LOCAL_VO",
    "TokenAuthority",
    "owner_claims",
]

_LOG = logging.getLogger(__name__)

ISSUER = "panda_local"
"""``iss`` of every token a local PanDA signs."""

LOCAL_VO = "local"
"""The virtual organisation a local PanDA serves (``PANDA_AUTH_VO=local``)."""

CLIENT_ID = "panda_local_client"
"""The OIDC client id of the local VO: the ``aud`` of its tokens."""

DEFAULT_ID_LIFETIME = 24 * 3600.0
"""Seconds an ID token is valid (``panda_local start --token-lifetime``)."""

DEFAULT_REFRESH_LIFETIME = 30 * 86400.0
"""Seconds a refresh token is valid: after that, ``panda_auth reset`` logs in again."""

_ALGORITHM = "HS256"


def owner_claims() -> dict[str, Any]:
    """Return the identity claims of the Unix user running this process.

    ``name`` is the account's full name (GECOS) when it has one other than the login name: the
    PanDA server then records that name, title-cased, as it does for a real IAM token.
    """
    login = getpass.getuser()
    claims: dict[str, Any] = {"sub": login, "preferred_username": login}
    try:
        full_name = pwd.getpwuid(os.getuid()).pw_gecos.split(",")[0].strip()
    except KeyError:
        full_name = ""
    if full_name and full_name != login:
        claims["name"] = full_name
    return claims


def _local_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


@dataclass(frozen=True)
class TokenAuthority:  # numpydoc ignore=PR02
    """Signs and checks the tokens of one local PanDA.

    Parameters
    ----------
    key : `bytes`
        The signing key (``StateDir.signing_key``).
    id_lifetime : `float`, optional
        Seconds an ID token is valid.
    refresh_lifetime : `float`, optional
        Seconds a refresh token is valid.
    vo : `str`, optional
        The virtual organisation served.
    """

    key: bytes
    id_lifetime: float = DEFAULT_ID_LIFETIME
    refresh_lifetime: float = DEFAULT_REFRESH_LIFETIME
    vo: str = LOCAL_VO

    def mint(
        self,
        kind: str = "id",
        lifetime: float | None = None,
        now: float | None = None,
        claims: dict[str, Any] | None = None,
    ) -> str:
        """Return a signed token for the owner of this process.

        Parameters
        ----------
        kind : `str`, optional
            ``id`` (a bearer token) or ``refresh``.
        lifetime : `float`, optional
            Seconds it is valid (default: this authority's lifetime for ``kind``).
        now : `float`, optional
            Its issue time (default: now); tests issue tokens that already expired.
        claims : `dict`, optional
            Identity claims (default: `owner_claims`).
        """
        issued = time.time() if now is None else now
        if lifetime is None:
            lifetime = self.id_lifetime if kind == "id" else self.refresh_lifetime
        payload = {
            **(claims if claims is not None else owner_claims()),
            "iss": ISSUER,
            "aud": CLIENT_ID,
            "groups": [self.vo],
            "organisation_name": self.vo,
            "token_use": kind,
            "iat": int(issued),
            "exp": int(issued + lifetime),
        }
        return jwt.encode(payload, self.key, algorithm=_ALGORITHM)

    def token_reply(self, refresh_token: str | None = None, claims: dict[str, Any] | None = None) -> dict:
        """Return a token endpoint's reply: a new ID token, and a refresh token.

        Parameters
        ----------
        refresh_token : `str`, optional
            The refresh token to hand back (a refresh keeps it, and so its expiry); default: a new one.
        claims : `dict`, optional
            Identity claims (default: `owner_claims`).
        """
        id_token = self.mint("id", claims=claims)
        return {
            "access_token": id_token,
            "id_token": id_token,
            "refresh_token": refresh_token or self.mint("refresh", claims=claims),
            "token_type": "Bearer",
            "expires_in": int(self.id_lifetime),
            "scope": "openid profile offline_access",
        }

    def verify(self, token: str, kind: str = "id", now: float | None = None) -> dict[str, Any]:
        """Return the claims of a token this local PanDA signed and that has not expired.

        Parameters
        ----------
        token : `str`
            The serialized token.
        kind : `str`, optional
            The kind it must be (``id`` or ``refresh``).
        now : `float`, optional
            The time to check the expiry against (default: now).

        Raises
        ------
        TokenRejectedError
            Raised (403) for a token this local PanDA did not sign or of another kind, and
            (401) for an expired one.
        """
        try:
            claims = jwt.decode(
                token,
                self.key,
                algorithms=[_ALGORITHM],
                audience=CLIENT_ID,
                issuer=ISSUER,
                options={"verify_exp": False, "require": ["exp", "iat", "sub"]},
            )
        except jwt.InvalidTokenError as error:
            raise TokenRejectedError(
                403,
                f"Wrong bearer token for this local PanDA ({error}); get one with 'panda_auth reset' "
                'or eval "$(panda_local env)"',
            ) from None
        if claims.get("token_use") != kind:
            raise TokenRejectedError(
                403, f"Wrong bearer token: a {claims.get('token_use')} token, not {kind}"
            )
        expires = float(claims["exp"])
        left = expires - (time.time() if now is None else now)
        if left <= 0:
            raise TokenRejectedError(
                401,
                f"Expired bearer token: it expired at {_local_time(expires)} ({-left / 3600:.1f} h ago); "
                "renew it with 'panda_auth refresh' (or log in again: 'panda_auth reset')",
            )
        return claims

    def seconds_left(self, token: str | None, kind: str = "id") -> float:
        """Return how long ``token`` stays valid (0 when it is not one this authority accepts).

        Parameters
        ----------
        token : `str` or `None`
            The token; `None` or empty counts as no time left.
        kind : `str`, optional
            Kind of token: ``"id"`` or ``"refresh"``.
        """
        if not token:
            return 0.0
        try:
            return float(self.verify(token, kind)["exp"]) - time.time()
        except TokenRejectedError:
            return 0.0

    def ensure_client_login(self, directory: Path) -> Path:
        """Write a logged-in PanDA client's token file in ``directory`` unless a usable one is there.

        The file is what ``pandaclient.openidc_utils`` writes after a login (the token endpoint's
        reply): the client reads its ID token and renews it with its refresh token by itself.

        Parameters
        ----------
        directory : `pathlib.Path`
            The client's ``PANDA_CONFIG_ROOT``.

        Returns
        -------
        path : `pathlib.Path`
            The token file.
        """
        from pandaclient.openidc_utils import TOKEN_BASENAME

        path = directory / TOKEN_BASENAME
        try:
            current = json.loads(path.read_text())
        except (OSError, ValueError):
            current = None
        if isinstance(current, dict) and self.seconds_left(current.get("refresh_token"), "refresh") > 0:
            return path
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as stream:
            json.dump(self.token_reply(), stream)
        temporary.replace(path)
        _LOG.info("Wrote a token for %s to %s", getpass.getuser(), path)
        return path
