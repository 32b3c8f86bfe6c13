# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""What a submission needs from the environment, checked before anything is sent."""

from __future__ import annotations

import glob
import os

from ..errors import PandaEnvironmentError

__all__ = ["check_environment"]


def _has_token() -> bool:
    if os.environ.get("PANDA_AUTH_ID_TOKEN") or os.environ.get("OIDC_AUTH_ID_TOKEN"):
        return True
    token_file = os.environ.get("OIDC_AUTH_TOKEN_FILE")
    if token_file and os.path.isfile(token_file):
        return True
    config_root = os.path.expanduser(os.environ.get("PANDA_CONFIG_ROOT", "~/.pathena"))
    return bool(glob.glob(os.path.join(config_root, ".token")))


def check_environment() -> None:
    """Raise `PandaEnvironmentError` unless PanDA URLs and credentials are set.

    Raises
    ------
    PandaEnvironmentError
        Raised with a message naming the variables to set.
    """
    problems = []
    missing = [name for name in ("PANDA_URL_SSL", "PANDA_URL") if not os.environ.get(name)]
    if missing:
        problems.append(
            f"set {' and '.join(missing)} to the PanDA server (e.g. https://host:25443/server/panda), "
            'or `eval "$(panda_local env)"` for the local PanDA'
        )
    if os.environ.get("PANDA_AUTH") == "oidc":
        if not os.environ.get("PANDA_AUTH_VO") and not os.environ.get("OIDC_AUTH_VO"):
            problems.append("PANDA_AUTH=oidc needs PANDA_AUTH_VO (e.g. Rubin)")
        if not _has_token():
            problems.append(
                "PANDA_AUTH=oidc needs a token: PANDA_AUTH_ID_TOKEN, OIDC_AUTH_TOKEN_FILE, or a token in "
                "$PANDA_CONFIG_ROOT (get one with the PanDA client's authentication)"
            )
    else:
        proxy = os.environ.get("X509_USER_PROXY") or f"/tmp/x509up_u{os.getuid()}"
        if not os.path.isfile(proxy):
            problems.append(
                "no credentials: set PANDA_AUTH=oidc with PANDA_AUTH_VO and a token, or provide an X.509 "
                f"proxy ({proxy} or X509_USER_PROXY)"
            )
    if problems:
        raise PandaEnvironmentError("PanDA environment incomplete: " + "; ".join(problems))
