# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Who may call the local PanDA: one check, made before a request's body is read.

A request must carry a bearer ID token this local PanDA signed that has not expired
(`tokens.TokenAuthority.verify`); its claims name the caller.  `early_auth` is that check, for
every endpoint.  waitress reads (and above a threshold spools to disk) a whole request body before
handing it to the application, so the channel class made here runs `early_auth` as soon as the
headers are parsed: a request without a valid token gets its 401 (missing, expired) or 403 (not
ours, wrong VO) at once and its body is never read.  The application checks again
(`request_claims`) and takes the caller from the claims.

The identity provider's endpoints (``/auth/``, ``/oidc/``: a login has no token yet) are open,
with a small body limit; ``GET`` pages (the monitor) check their own cookie.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, current_app, request
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.utilities import Error

from ...errors import TokenRejectedError
from ..core.token_authority import TokenAuthority

__all__ = [
    "MISSING_TOKEN",
    "OPEN_PREFIXES",
    "Refusal",
    "channel_class_for",
    "early_auth",
    "install_authority",
    "request_claims",
    "request_refusal",
]

MISSING_TOKEN = (
    "Missing bearer token: set PANDA_AUTH=oidc and PANDA_AUTH_VO=local and log in "
    "('panda_auth reset', or eval \"$(panda_local env)\")"
)
"""Body of the 401 reply to a request without a token."""

OPEN_PREFIXES = ("/auth/", "/oidc/")
"""Paths served without a bearer token: the VO's auth configuration and the login endpoints."""

OPEN_BODY_LIMIT = 64 * 1024
"""Largest body accepted on an open path (a login form is a few hundred bytes)."""

_EXTENSION = "panda_local_authority"
_REASONS = {401: "Unauthorized", 403: "Forbidden", 413: "Request Entity Too Large"}


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: its HTTP status and the message the client shows."""

    status: int
    message: str


def early_auth(authorization: str | None, origin: str | None, authority: TokenAuthority) -> dict | Refusal:
    """Return the caller's token claims, or why the request is refused.

    Parameters
    ----------
    authorization : `str` or `None`
        The ``Authorization`` header.
    origin : `str` or `None`
        The ``Origin`` header: the PanDA client puts its ``PANDA_AUTH_VO`` there (a browser's
        origin, a URL, is not a VO and is ignored).
    authority : `tokens.TokenAuthority`
        This local PanDA's token authority.
    """
    if not authorization or not authorization.startswith("Bearer "):
        return Refusal(401, MISSING_TOKEN)
    if origin and "://" not in origin and origin != authority.vo:
        return Refusal(
            403,
            f"Wrong VO: this local PanDA serves PANDA_AUTH_VO={authority.vo}, the client sent {origin!r}",
        )
    try:
        return authority.verify(authorization[len("Bearer ") :].strip())
    except TokenRejectedError as error:
        return Refusal(error.status, error.message)


def install_authority(app: Flask, authority: TokenAuthority) -> None:
    """Make ``authority`` the one `request_claims` checks tokens with in ``app``.

    Parameters
    ----------
    app : `flask.Flask`
        The relay's application.
    authority : `TokenAuthority`
        Authority whose signing key and VO decide which tokens are accepted.
    """
    app.extensions[_EXTENSION] = authority


def request_claims() -> dict | Response:
    """Return the claims of the current Flask request's token, or the refusal to reply with.

    For any blueprint of the local PanDA: ``claims = request_claims()``, then
    ``if isinstance(claims, Response): return claims``.
    """
    authority = current_app.extensions[_EXTENSION]
    checked = early_auth(request.headers.get("Authorization"), request.headers.get("Origin"), authority)
    if isinstance(checked, Refusal):
        return Response(checked.message, status=checked.status, mimetype="text/plain")
    return checked


def request_refusal() -> Response | None:
    """Return the refusal of the current Flask request (bad or no token), or `None` to serve it.

    A ``before_request`` check for blueprints that need the caller authenticated but not named.
    """
    claims = request_claims()
    return claims if isinstance(claims, Response) else None


class _RefusedError(Error):
    """A refusal waitress answers by itself (the application never sees the request)."""

    def __init__(self, code: int, body: str) -> None:
        super().__init__(body)
        self.code = code
        self.reason = _REASONS[code]

    def to_response(self, ident: str | None = None) -> tuple[str, list[tuple[str, str]], bytes]:
        body = self.body.encode()
        headers = [("Content-Length", str(len(body))), ("Content-Type", "text/plain; charset=utf-8")]
        return f"{self.code} {self.reason}", headers, body


def channel_class_for(authority: TokenAuthority) -> type[HTTPChannel]:
    """Return a waitress channel class that refuses requests without a valid token before their body.

    Parameters
    ----------
    authority : `tokens.TokenAuthority`
        This local PanDA's token authority.
    """

    class TokenCheckingParser(HTTPRequestParser):
        def parse_header(self, header_plus: bytes) -> None:
            super().parse_header(header_plus)
            if self.command in ("GET", "HEAD"):
                # No body to spool: the pages (the monitor) check their own cookie in the application.
                return
            if self.path.startswith(OPEN_PREFIXES):
                length, chunked = getattr(self, "content_length", 0), getattr(self, "chunked", False)
                if length <= OPEN_BODY_LIMIT and not chunked:
                    return
                self.error = _RefusedError(413, f"A login request has at most {OPEN_BODY_LIMIT} bytes")
            else:
                checked: Any = early_auth(
                    self.headers.get("AUTHORIZATION"), self.headers.get("ORIGIN"), authority
                )
                if not isinstance(checked, Refusal):
                    return
                self.error = _RefusedError(checked.status, checked.message)
            # Read no body: the request is complete as it stands, and the connection closes.
            self.body_rcv = None
            self.content_length = 0
            self.chunked = False

    class TokenCheckingChannel(HTTPChannel):
        parser_class = TokenCheckingParser

    return TokenCheckingChannel
