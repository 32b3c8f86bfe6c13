# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The environment every attempt of a local PanDA runs in, as a pilot sets it."""

from __future__ import annotations

import os

from ..core.installation import installation_environment
from ..state.state_dir import StateDir

__all__ = ["job_environment"]


def job_environment(state: StateDir) -> dict[str, str]:
    """Return the environment of every attempt: the server's, plus the installation's roots.

    Parameters
    ----------
    state : `StateDir`
        State directory of the local PanDA, whose token file the jobs are pointed at.
    """
    env = {name: value for name, value in os.environ.items() if name != "PANDA_AUTH_ID_TOKEN"}
    for name, value in installation_environment().items():
        env.setdefault(name, value)
    python_bin = os.path.dirname(env["PANDA_LOCAL_PYTHON"])
    if env.get("PATH", "").split(os.pathsep)[0] != python_bin:
        env["PATH"] = os.pathsep.join([python_bin, env.get("PATH", "")])
    # What a pilot gives jobs that call PanDA back (a remote build's job): where the token is.
    env["PANDA_AUTH_DIR"] = str(state.token_path)
    env["PANDA_AUTH_ORIGIN"] = env.get("PANDA_AUTH_VO") or "local"
    return env
