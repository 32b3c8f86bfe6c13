# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The published path of the ``panda_auth`` command runs ours."""

from lsst.ctrl.bps.panda.auth import panda_auth_cli
from lsst.ctrl.bps.panda.cli import panda_auth


def test_main_is_the_panda_auth_command(monkeypatch, capsys):
    assert panda_auth.main is panda_auth_cli.main
    monkeypatch.setenv("PANDA_AUTH", "x509")
    assert panda_auth.main(["status"]) == 1
    assert "PANDA_AUTH is not 'oidc'" in capsys.readouterr().err
