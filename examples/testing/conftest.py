# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

# Enables the kit's fixtures (idds_double, local_panda, bps_config) for this folder's tests.
# Keep pandaclient (and the plugin's service) out of this file's imports: the plugin sets PANDA_URL*
# first, in its pytest_configure.
pytest_plugins = ["lsst.ctrl.bps.panda.testing.pytest_plugin"]
