# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The version: written once, a final release that a resolver prefers to every published 30.x."""

import ast
import tomllib
from importlib.metadata import version

from packaging.version import Version
from support.paths import REPO_ROOT

VERSION_FILE = REPO_ROOT / "python/lsst/ctrl/bps/panda/version.py"

# Rubin numbers releases <major>.<minor>.<patch> and weeklies <major>.<year>.<week × 100>
# (30.0.0, 30.2026.300...): whatever 30.x is published next stays below 31.
NEWEST_PUBLISHED = Version("30.0.0")
BELOW_EVERY_31 = Version("31")


def test_the_version_is_a_final_release_sorting_after_every_30x():
    import lsst.ctrl.bps.panda

    ours = Version(lsst.ctrl.bps.panda.__version__)
    assert not (ours.is_prerelease or ours.is_postrelease or ours.is_devrelease or ours.local)
    assert ours >= BELOW_EVERY_31 > Version("30.9999.999999") > NEWEST_PUBLISHED
    assert sorted([Version("30.2026.5300"), ours, NEWEST_PUBLISHED])[-1] == ours


def test_the_version_is_written_once_and_everything_reads_it_from_there():
    import lsst.ctrl.bps.panda
    from lsst.ctrl.bps.panda import version as version_module

    assert version_module.__all__ == ["__version__"]
    assert lsst.ctrl.bps.panda.__version__ == version_module.__version__ == version("lsst-ctrl-bps-panda")
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and project["project"]["dynamic"] == ["version"]
    dynamic = project["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "lsst.ctrl.bps.panda.version.__version__"}
    # setuptools reads the attribute without importing the package: a plain string assignment.
    (assignment,) = [
        node
        for node in ast.parse(VERSION_FILE.read_text()).body
        if isinstance(node, ast.Assign) and node.targets[0].id == "__version__"
    ]
    assert isinstance(assignment.value, ast.Constant)
    versions = [
        line
        for path in REPO_ROOT.glob("python/**/*.py")
        for line in path.read_text().splitlines()
        if line.startswith("__version__ =")
    ]
    assert versions == [f'__version__ = "{version_module.__version__}"']
