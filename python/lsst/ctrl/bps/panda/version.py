# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The package's version: the one place it is written (pyproject.toml reads it from here)."""

__all__ = ["__version__"]

__version__ = "31.0.0"
