# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Where this installation lives, as the jobs of the local PanDA see it (EUPS-style variables)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

__all__ = ["DECODER_PATH", "installation_environment", "package_root"]


DECODER_PATH = "python/lsst/ctrl/bps/panda/edgenode/cmd_line_decoder.py"
"""Where EUPS-style runners find the decoder under ``CTRL_BPS_PANDA_DIR``."""


def package_root() -> Path:
    """Return the directory to use as ``CTRL_BPS_PANDA_DIR`` for this installation.

    A checkout (or an editable install of one) is its own EUPS-style root. A
    pip install ships that layout as package data: ``resources/config`` and
    ``resources/python/.../cmd_line_decoder.py`` inside the installed package,
    so runners written for EUPS find the decoder and the configuration there.
    """
    package_dir = Path(__file__).resolve().parents[2]
    checkout = package_dir.parents[4]
    if (checkout / DECODER_PATH).is_file() and (checkout / "config" / "bps_panda.yaml").is_file():
        return checkout
    return package_dir / "resources"


def installation_environment() -> dict[str, str]:
    """Return the EUPS-style variables of the running installation.

    Returns
    -------
    environment : `dict` [`str`, `str`]
        ``CTRL_BPS_PANDA_DIR``: `package_root`; ``CTRL_MPEXEC_DIR`` and
        ``DAF_BUTLER_DIR``: the environment whose ``bin/`` holds ``pipetask``
        and ``butler`` (``sys.prefix`` in a virtualenv);
        ``PANDA_LOCAL_PYTHON``: the server's Python.
    """
    root = package_root()
    env = {"PANDA_LOCAL_PYTHON": sys.executable, "CTRL_BPS_PANDA_DIR": str(root)}
    for name, script in (("CTRL_MPEXEC_DIR", "pipetask"), ("DAF_BUTLER_DIR", "butler")):
        if (Path(sys.prefix) / "bin" / script).exists():
            env[name] = sys.prefix
        elif found := shutil.which(script):
            env[name] = str(Path(found).parent.parent)
    return env
