# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The identity provider of a local PanDA: what the PanDA client's OIDC login asks for.

``pandaclient.openidc_utils`` logs in with the device authorization grant, and renews its token
with the refresh token grant.  It reads, in order:

``GET /auth/<vo>_auth_config.json`` (next to ``PANDA_URL_SSL``)
    The VO's client id, audience and the address of the OpenID configuration.
``GET /oidc/.well-known/openid-configuration``
    The device authorization and token endpoints.
``POST /oidc/device/code``
    A device code, and the page a user would visit to approve it.
``POST /oidc/token``
    Tokens, for an approved device code or a refresh token (RFC 8628, RFC 6749 §6).

Approval: a real identity provider asks the user to sign in in a browser.  A local PanDA issues
tokens for the Unix user who runs it, and approves a device code when the connection polling
for its token belongs to that same user (the kernel's socket table, ``/proc/net/tcp``, says whose
it is), so ``panda_auth reset`` completes without a browser; anyone else is refused.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify, request

from ...errors import TokenRejectedError
from ..core.token_authority import CLIENT_ID, ISSUER, TokenAuthority

__all__ = ["DEVICE_CODE_LIFETIME", "connection_uid", "oidc_blueprint"]

_LOG = logging.getLogger(__name__)

DEVICE_CODE_LIFETIME = 600
"""Seconds a device code waits for its token."""

_MAX_PENDING = 100
_PROC_NET_TCP = Path("/proc/net/tcp")
_IDENTITY_CLAIMS = ("sub", "name", "preferred_username")


def _proc_address(address: str, port: int) -> str:
    """Return ``address:port`` as ``/proc/net/tcp`` writes it (the IPv4 address in host byte order)."""
    packed = socket.inet_aton(address)
    if sys.byteorder == "little":
        packed = packed[::-1]
    return f"{packed.hex().upper()}:{port:04X}"


def connection_uid(
    client: tuple[str, int], server: tuple[str, int], table: Path = _PROC_NET_TCP
) -> int | None:
    """Return the uid owning the client end of a loopback TCP connection.

    Parameters
    ----------
    client : `tuple` [`str`, `int`]
        The client's address and port, as the server sees them.
    server : `tuple` [`str`, `int`]
        The server's address and port.
    table : `pathlib.Path`, optional
        The kernel's IPv4 TCP socket table.

    Returns
    -------
    uid : `int` or `None`
        The uid, `None` if the connection is not in the table (or there is no table).
    """
    local, remote = _proc_address(*client), _proc_address(*server)
    try:
        lines = table.read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) > 7 and fields[1] == local and fields[2] == remote:
            return int(fields[7])
    return None


def _error(status: int, error: str, description: str) -> Response:
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    return response


class _DeviceCodes:
    """Device codes waiting for their token (in memory: a login does not outlive a restart)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[str, float]] = {}

    def new(self) -> tuple[str, str]:
        device_code = secrets.token_urlsafe(32)
        letters = "".join(secrets.choice("BCDFGHJKLMNPQRSTVWXZ") for _ in range(8))
        user_code = f"{letters[:4]}-{letters[4:]}"
        now = time.monotonic()
        with self._lock:
            self._pending = {code: item for code, item in self._pending.items() if item[1] > now}
            if len(self._pending) >= _MAX_PENDING:
                raise OverflowError("too many logins waiting")
            self._pending[device_code] = (user_code, now + DEVICE_CODE_LIFETIME)
        return device_code, user_code

    def take(self, device_code: str) -> bool:
        with self._lock:
            item = self._pending.pop(device_code, None)
        return item is not None and item[1] > time.monotonic()


def _approves(environ: dict[str, Any]) -> str | None:
    """Return why the login polling on this connection is refused (`None`: it is approved)."""
    try:
        client = (environ["REMOTE_ADDR"], int(environ["REMOTE_PORT"]))
        server = ("127.0.0.1", int(environ["SERVER_PORT"]))  # the local PanDA binds 127.0.0.1 only
    except (KeyError, ValueError):
        return "the connection's addresses are unknown"
    if not _PROC_NET_TCP.exists():
        return (
            "this system has no /proc/net/tcp to tell who asked; use the token 'panda_local env' "
            "writes instead of a login"
        )
    uid = connection_uid(client, server)
    if uid != os.getuid():
        return (
            f"the login was asked for by uid {uid}, and this local PanDA issues tokens to uid {os.getuid()}"
        )
    return None


def oidc_blueprint(authority: TokenAuthority) -> Blueprint:
    """Return the blueprint of the identity provider endpoints.

    Parameters
    ----------
    authority : `tokens.TokenAuthority`
        Signs the tokens issued.
    """
    provider = Blueprint("panda_local_oidc", __name__)
    _add_discovery(provider, authority)
    _add_device_login(provider, authority, _DeviceCodes())
    return provider


def _add_discovery(provider: Blueprint, authority: TokenAuthority) -> None:
    """Add the routes that tell the PanDA client where and how to log in."""

    @provider.get("/auth/<vo>_auth_config.json")
    def auth_config(vo: str) -> Response:
        if vo != authority.vo:
            return Response(
                f"No VO {vo!r} here: this local PanDA serves PANDA_AUTH_VO={authority.vo} only",
                status=404,
                mimetype="text/plain",
            )
        return jsonify(
            client_id=CLIENT_ID,
            client_secret="",
            audience=CLIENT_ID,
            oidc_config_url=f"{request.host_url}oidc/.well-known/openid-configuration",
            vo=authority.vo,
        )

    @provider.get("/oidc/.well-known/openid-configuration")
    def openid_configuration() -> Response:
        base = f"{request.host_url}oidc"
        return jsonify(
            issuer=ISSUER,
            device_authorization_endpoint=f"{base}/device/code",
            token_endpoint=f"{base}/token",
            grant_types_supported=["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"],
            id_token_signing_alg_values_supported=["HS256"],
        )


def _add_device_login(provider: Blueprint, authority: TokenAuthority, codes: _DeviceCodes) -> None:
    """Add the routes of the device authorization grant and of the token endpoint."""

    @provider.post("/oidc/device/code")
    def device_code() -> Response:
        if request.form.get("client_id") != CLIENT_ID:
            return _error(400, "invalid_client", f"unknown client id {request.form.get('client_id')!r}")
        try:
            device, user = codes.new()
        except OverflowError as error:
            return _error(429, "slow_down", str(error))
        page = f"{request.host_url}oidc/device"
        return jsonify(
            device_code=device,
            user_code=user,
            verification_uri=page,
            verification_uri_complete=f"{page}?user_code={user}",
            expires_in=DEVICE_CODE_LIFETIME,
            interval=1,
        )

    @provider.get("/oidc/device")
    def device_page() -> Response:
        return Response(
            "This local PanDA approves a login when the PanDA client that asked for it, run by the "
            "user who runs the server, asks for its token: answer 'y' in the terminal.\n",
            mimetype="text/plain",
        )

    @provider.post("/oidc/token")
    def token() -> Response:
        grant = request.form.get("grant_type", "")
        if request.form.get("client_id") != CLIENT_ID:
            return _error(400, "invalid_client", f"unknown client id {request.form.get('client_id')!r}")
        if grant == "refresh_token":
            try:
                claims = authority.verify(request.form.get("refresh_token", ""), "refresh")
            except TokenRejectedError as error:
                return _error(400, "invalid_grant", error.message.replace("bearer token", "refresh token"))
            identity = {name: claims[name] for name in _IDENTITY_CLAIMS if name in claims}
            return jsonify(authority.token_reply(request.form["refresh_token"], claims=identity))
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            if not codes.take(request.form.get("device_code", "")):
                return _error(400, "expired_token", "unknown or expired device code: log in again")
            refused = _approves(request.environ)
            if refused:
                _LOG.warning("Login refused: %s", refused)
                return _error(400, "access_denied", refused)
            _LOG.info("Login approved for uid %d", os.getuid())
            return jsonify(authority.token_reply())
        return _error(400, "unsupported_grant_type", f"grant_type {grant!r} is not served")
