# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause

"""The package's version (also the published 30.x module path): that of its installed metadata."""

from importlib import metadata

__all__ = ["__version__"]

try:
    __version__ = metadata.version("lsst-ctrl-bps-panda")
except metadata.PackageNotFoundError:  # an EUPS setup of a checkout, not pip-installed
    __version__ = "unknown"
