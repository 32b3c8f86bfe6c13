# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause

"""The published 30.x module of the version: the package's ``__version__``, kept in one place."""

from . import __version__

__all__ = ["__version__"]
