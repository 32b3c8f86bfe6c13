# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Who iDDS thinks the caller is.

Through the PanDA relay, iDDS records as a request's ``username`` the caller's identity as the
PanDA server sees it, not the ``username=`` the client passes: the relay takes the caller's DN
(``SSL_CLIENT_S_DN``: the certificate subject, or for a token its title-cased ``name`` claim,
else its ``sub``) and cleans it with ``pandaserver.srvcore.CoreUtils.clean_user_id``.  Listings
that filter on the local user name therefore find nothing on a real PanDA; they filter on the
name derived here, the same way.

``pandaclient`` is imported lazily (it reads the PanDA URLs when imported).
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["caller_identity", "relay_user_name", "token_dn", "token_identity"]

_LOG = logging.getLogger(__name__)


def relay_user_name(dn: str) -> str:
    """Return the user name the PanDA relay gives iDDS for a caller's DN.

    The rules of ``pandaserver.srvcore.CoreUtils.clean_user_id`` (panda-server 1.0.4), which the
    relay applies before ``set_original_user``; panda-server is not a client library, so they are
    restated here and checked against the real relay by the contract tests.

    Parameters
    ----------
    dn : `str`
        ``SSL_CLIENT_S_DN`` as the PanDA server has it.

    Returns
    -------
    name : `str`
        The ``username`` iDDS records.
    """
    name = re.sub(r"/(DC|O|OU|C|L)=[^/]+", "", dn)
    name = re.sub(r"/CN=[0-9]+", "", name)
    name = re.sub(r" [0-9]+", "", name)
    name = re.sub(r"_[0-9]+", "", name)
    for proxy in ("/CN=proxy", "/CN=limited proxy", "limited proxy"):
        name = name.replace(proxy, "")
    name = re.sub(r"/CN=Robot:[^/]+", "", name)
    name = re.sub(r"/CN=nickname:[^/]+", "", name)
    two_cns = re.match(r".*/CN=([^/]+)/CN=([^/]+)", name)
    name = two_cns.group(2) if two_cns else name.replace("/CN=", "")
    email_at = name.lower().find("/email")
    if email_at > 0:
        name = name[:email_at]
    limited = re.match(r".*(limited.*proxy).*", name)
    if limited:
        name = limited.group(1)
    name = name.replace("(", "").replace(")", "").replace("'", "")
    without_email = re.sub(r" [a-z][\w\.-]+@[\w\.-]+(?:\.\w+)+", "", name).strip()
    return without_email if " " in without_email else name


def token_dn(claims: dict[str, Any]) -> str | None:
    """Return the DN the PanDA server derives from an ID token's claims.

    Parameters
    ----------
    claims : `dict`
        The decoded token payload.

    Returns
    -------
    dn : `str` or `None`
        The title-cased ``name`` (with ``/CN=nickname:<preferred_username>``), else ``sub``.
    """
    if claims.get("name"):
        dn = " ".join(word[:1].upper() + word[1:].lower() for word in str(claims["name"]).split())
        if claims.get("preferred_username"):
            dn += f"/CN=nickname:{claims['preferred_username']}"
        return dn
    return str(claims["sub"]) if claims.get("sub") else None


def token_identity(token: str) -> str | None:
    """Return the user name a PanDA server records for requests sent with an ID token.

    Parameters
    ----------
    token : `str`
        The serialized token (its claims are read, not verified).

    Returns
    -------
    name : `str` or `None`
        The name, or `None` if the token is not a JWT or names nobody.
    """
    from pandaclient import openidc_utils

    try:
        claims = openidc_utils.decode_id_token(token)
    except (ValueError, IndexError):  # not a JWT (e.g. an opaque token)
        return None
    dn = token_dn(claims) if isinstance(claims, dict) else None
    return relay_user_name(dn) if dn else None


def _token_identity() -> str | None:
    """Read the token pandaclient would send: given in the environment, else its cached one."""
    from pandaclient import Client, openidc_utils

    token = Client.get_token_string(logging.getLogger("pandaclient"), False)
    if not token:
        # Where pandaclient keeps the token of an interactive login (OpenIdConnect_Utils's
        # token_dir); read without refreshing it: an expired token still names its owner.
        cached = Path(os.environ.get("PANDA_CONFIG_ROOT", ".")).expanduser() / openidc_utils.TOKEN_BASENAME
        try:
            token = json.loads(cached.read_text()).get("id_token")
        except (OSError, ValueError, AttributeError):
            return None
    return token_identity(token) if token else None


def _proxy_dn() -> str | None:
    from pandaclient import Client

    path = Client._x509_proxy_path()
    if not path or not Path(path).is_file():
        return None
    try:
        from cryptography import x509

        cert = x509.load_pem_x509_certificate(Path(path).read_bytes())
        parts = []
        for attr in cert.subject:
            value = attr.value.decode() if isinstance(attr.value, bytes) else attr.value
            parts.append(f"/{attr.rfc4514_attribute_name}={value}")
        return "".join(parts)
    except ImportError:
        command = ["openssl", "x509", "-noout", "-subject", "-nameopt", "compat", "-in", path]
        result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=30)
        return result.stdout.split("=", 1)[1].strip() if result.returncode == 0 else None
    except ValueError:
        return None


def caller_identity() -> str | None:
    """Return the ``username`` iDDS records for requests the current caller submits.

    With ``PANDA_AUTH=oidc`` it comes from the ID token pandaclient would send (the local PanDA's
    token too carries a subject); otherwise from the X.509 proxy's subject.

    Returns
    -------
    name : `str` or `None`
        The name, or `None` when no credential can be read (callers then fall back to the
        request ids recorded in the submit directories).
    """
    try:
        if os.environ.get("PANDA_AUTH") == "oidc":
            return _token_identity()
        dn = _proxy_dn()
    except OSError as error:
        _LOG.debug("Cannot read the PanDA credential: %s", error)
        return None
    return relay_user_name(dn) if dn else None
