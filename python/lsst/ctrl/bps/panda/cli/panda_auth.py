# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The published 30.x path of the ``panda_auth`` command: its ``main`` is `auth.panda_auth_cli`'s."""

from ..auth.panda_auth_cli import main

__all__ = ["main"]
