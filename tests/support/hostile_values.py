# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Placeholder values that must survive the command line's encoding unchanged."""

from support.pilot import (
    HOSTILE_ARGS,
)

# Placeholder values: the hostile arguments plus a few that matter to pseudo input names.
HOSTILE_VALUES = [*HOSTILE_ARGS, "plain-value_1.2", "1,2,3", "{braces}", "@at-start"]
