# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The published drivers of ``panda_auth``'s verbs run the verbs and return their exit codes."""

from lsst.ctrl.bps.panda import panda_auth_drivers
from lsst.ctrl.bps.panda.auth import panda_auth_cli


def test_each_driver_runs_its_verb_with_the_published_arguments(monkeypatch):
    ran = []
    monkeypatch.setattr(panda_auth_drivers, "main", lambda argv: ran.append(argv) or 7)
    assert panda_auth_drivers.panda_auth_status_driver() == 7
    assert panda_auth_drivers.panda_auth_reset_driver() == 7
    assert panda_auth_drivers.panda_auth_clean_driver() == 7
    assert panda_auth_drivers.panda_auth_refresh_driver(3, True) == 7
    assert panda_auth_drivers.panda_auth_refresh_driver(None, False) == 7
    assert ran == [["status"], ["reset"], ["clean"], ["refresh", "--days", "3", "--verbose"], ["refresh"]]


def test_a_driver_returns_the_exit_code_instead_of_raising(monkeypatch, capsys):
    monkeypatch.delenv("PANDA_AUTH", raising=False)
    assert panda_auth_drivers.main is panda_auth_cli.main
    assert panda_auth_drivers.panda_auth_status_driver() == 1
    assert "PANDA_AUTH" in capsys.readouterr().err
