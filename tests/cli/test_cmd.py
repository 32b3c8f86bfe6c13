# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The published verbs of ``panda_auth`` (``cli.cmd``) run ours and return the exit code."""

import json
import time

import pytest
from lsst.ctrl.bps.panda.auth.oidc_token import AuthExit
from lsst.ctrl.bps.panda.cli import cmd

pytestmark = pytest.mark.real_servers


def test_each_verb_runs_the_command_and_returns_its_exit_code(oidc_panda, capsys):
    assert cmd.status() == AuthExit.NO_TOKEN
    oidc_panda.client_dir.mkdir(parents=True, exist_ok=True)
    token = {
        "id_token": oidc_panda.authority.mint("id", now=time.time() - 3000),
        "refresh_token": oidc_panda.authority.mint("refresh", now=time.time()),
    }
    (oidc_panda.client_dir / ".token").write_text(json.dumps(token))
    assert cmd.refresh(days=0.001) == AuthExit.OK
    assert "Not refreshed" in capsys.readouterr().out
    assert cmd.refresh(verbose=True) == AuthExit.OK
    assert "Refreshed:" in capsys.readouterr().out
    assert cmd.status() == AuthExit.OK
    assert cmd.clean() == AuthExit.OK
    assert not (oidc_panda.client_dir / ".token").exists()
