# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""panda-server's and JEDI's configuration files, made from the templates of the servers' virtualenv."""

import configparser
from pathlib import Path

from lsst.ctrl.bps.panda.local.panda.panda_config import (
    DDM_CLIENT,
    JEDI_LOOP_CYCLES,
    PandaHome,
    server_environment,
    write_configs,
)

VENV = Path(__file__).resolve().parents[3] / ".venv-real-idds"


def test_configs_hold_our_ports_cric_files_and_short_jedi_cycles(tmp_path):
    home = PandaHome(tmp_path, VENV, db_port=25439, http_port=25480)
    write_configs(home)
    jedi = configparser.ConfigParser(interpolation=None, strict=False)
    jedi.optionxform = str
    jedi.read(home.etc / "panda_jedi.cfg")
    assert {agent: int(jedi[agent]["loopCycle"]) for agent in JEDI_LOOP_CYCLES} == JEDI_LOOP_CYCLES
    assert (jedi["db"]["dbport"], jedi["db"]["backend"]) == ("25439", "postgres")
    assert jedi["ddm"]["modConfig"] == f"wlcg:1:{DDM_CLIENT}"
    server = (home.etc / "panda_server.cfg").read_text()
    assert "pserverporthttp = 25480" in server and "dbport = 25439" in server
    assert f"CRIC_URL_SCHEDCONFIG = file://{home.cric / 'panda_queues.json'}" in server
    assert (home.cache / "jedilog").is_dir()
    env = server_environment(home)
    assert env["PANDA_URL_SSL"] == "http://127.0.0.1:25480/server/panda"
    assert env["PANDA_API_URL"] == "http://127.0.0.1:25480/api/v1" and env["PANDA_BEHIND_REAL_LB"] == "1"
    assert env["PYTHONPATH"].split(":")[0].endswith("local/panda/scripts")
