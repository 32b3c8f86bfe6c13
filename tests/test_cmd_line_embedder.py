# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The published ``CommandLineEmbedder``: static files filled, per-job values in the pseudo input name."""

import pytest
from lsst.ctrl.bps import BpsConfig, GenericWorkflowFile
from lsst.ctrl.bps.panda.cmd_line_embedder import CommandLineEmbedder
from lsst.ctrl.bps.panda.edgenode.job_contract import parse_pseudo_input
from lsst.ctrl.bps.panda.errors import PandaPrepareError

IN_PLACE = GenericWorkflowFile("butlerConfig", "/repo/butler.yaml", wms_transfer=False)
STAGED = GenericWorkflowFile("runQgraphFile", "/submit/run.qgraph", wms_transfer=True)


def test_files_read_in_place_get_their_path_and_staged_ones_stay_for_the_worker():
    line = "pipetask -b <FILE:butlerConfig> -g <FILE:runQgraphFile>"
    filled = CommandLineEmbedder({}).replace_static_files(line, [IN_PLACE, STAGED])
    assert filled == "pipetask -b /repo/butler.yaml -g <FILE:runQgraphFile>"


def test_a_file_key_the_job_does_not_have_is_a_runtime_error_naming_it():
    with pytest.raises(RuntimeError, match="<FILE:other>") as raised:
        CommandLineEmbedder({}).replace_static_files("run <FILE:other> <FILE:butlerConfig>", [IN_PLACE])
    assert isinstance(raised.value, PandaPrepareError)


def test_substitute_fills_static_values_and_carries_the_placeholders_in_the_name():
    values = {"qgraphNodeId": "a1b2", "qgraphId": "77", "butlerConfig": "/repo"}
    line = "run -b {butlerConfig} --node {qgraphNodeId} -c <FILE:butlerConfig>"

    command, name = CommandLineEmbedder({}).substitute_command_line(line, values, "isr_903342_10", [IN_PLACE])

    assert command == "run -b /repo --node {qgraphNodeId} -c /repo/butler.yaml"
    assert parse_pseudo_input(name) == ("isr_903342_10", {"qgraphNodeId": "a1b2"})


def test_placeholder_params_come_from_the_configuration():
    embedder = CommandLineEmbedder(BpsConfig({"placeholderParams": ["visit"]}))
    command, name = embedder.substitute_command_line(
        "run {visit} {qgraphId}", {"visit": 9, "qgraphId": 1}, "j", []
    )
    assert (command, name) == ("run {visit} 1", "j+visit:9")
