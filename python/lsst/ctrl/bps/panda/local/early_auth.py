# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause

"""Refuse a request without the right bearer token before its body is read.

waitress reads (and above a threshold spools to disk) a whole request body before
handing it to the application.  The channel class made here checks the
``Authorization`` header as soon as the headers are parsed: a request without
the token gets its 401 (missing) or 403 (wrong) at once, and its body is never
read.  The relay checks the token again (`create_app`).
"""

from __future__ import annotations

import hmac

from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.utilities import Error

__all__ = ["MISSING_TOKEN", "WRONG_TOKEN", "channel_class_for"]

MISSING_TOKEN = "Missing bearer token: set PANDA_AUTH=oidc and PANDA_AUTH_ID_TOKEN (panda_local env)"
"""Body of the 401 reply."""

WRONG_TOKEN = "Wrong bearer token for this local PanDA (see: panda_local env)"
"""Body of the 403 reply."""

_REASONS = {401: "Unauthorized", 403: "Forbidden"}


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


def channel_class_for(token: str) -> type[HTTPChannel]:
    """Return a waitress channel class that refuses requests without ``token`` before their body.

    Parameters
    ----------
    token : `str`
        The bearer token every request must carry.
    """
    expected = f"Bearer {token}".encode()

    class TokenCheckingParser(HTTPRequestParser):
        def parse_header(self, header_plus: bytes) -> None:
            super().parse_header(header_plus)
            if self.command in ("GET", "HEAD"):
                # No body to spool: the pages (the monitor) check their own cookie in the application.
                return
            authorization = self.headers.get("AUTHORIZATION")
            if not authorization or not authorization.startswith("Bearer "):
                self.error = _RefusedError(401, MISSING_TOKEN)
            elif not hmac.compare_digest(authorization.encode(), expected):
                self.error = _RefusedError(403, WRONG_TOKEN)
            else:
                return
            # Read no body: the request is complete as it stands, and the connection closes.
            self.body_rcv = None
            self.content_length = 0
            self.chunked = False

    class TokenCheckingChannel(HTTPChannel):
        parser_class = TokenCheckingParser

    return TokenCheckingChannel
