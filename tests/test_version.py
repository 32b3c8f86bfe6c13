# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause

"""The published ``version`` module gives the package's one version."""

from importlib.metadata import version

import lsst.ctrl.bps.panda as package
from lsst.ctrl.bps.panda import version as version_module


def test_the_version_module_the_package_and_the_metadata_agree():
    assert version_module.__version__ == package.__version__ == version("lsst-ctrl-bps-panda")
