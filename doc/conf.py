# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Sphinx configuration for the ctrl_bps_panda package documentation (documenteer)."""

from documenteer.conf.pipelinespkg import *  # noqa: F403

project = "ctrl_bps_panda"
html_theme_options["logotext"] = project  # noqa: F405
html_title = project
html_short_title = project
extensions.append("myst_parser")  # noqa: F405  # the user guide includes README.md
