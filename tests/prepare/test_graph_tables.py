# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""The adapter that reads GenericWorkflow's tables must agree with ctrl_bps's public API.

If ctrl_bps or networkx change how a workflow is stored, these tests fail (and prepare stops
with `GraphTablesError`) instead of the plugin silently seeing no files or no parents.
"""

import pytest
from lsst.ctrl.bps import GenericWorkflow
from lsst.ctrl.bps.panda.prepare.graph_tables import GraphTables, GraphTablesError
from support.synthetic import make_drp_workflow


@pytest.fixture(scope="module")
def workflow():
    gw = make_drp_workflow(200, detectors=4, patches=2)
    return gw


def test_nodes_are_the_workflow_jobs_in_insertion_order(workflow):
    tables = GraphTables.of(workflow)
    assert list(tables.nodes) == list(workflow.nodes)
    assert all(tables.nodes[name]["job"] is workflow.get_job(name) for name in workflow)


def test_predecessors_and_successors_match_the_public_graph(workflow):
    tables = GraphTables.of(workflow)
    for name in workflow:
        assert list(tables.predecessors[name]) == list(workflow.predecessors(name))
        assert list(tables.successors[name]) == list(workflow.successors(name))


def test_file_tables_match_get_job_inputs_and_outputs(workflow):
    tables = GraphTables.of(workflow)
    for name in workflow:
        assert list(tables.inputs.get(name, [])) == workflow.get_job_inputs(name, data=True)
        assert list(tables.outputs.get(name, [])) == workflow.get_job_outputs(name, data=True)
    assert any(tables.inputs.values())


def test_a_workflow_without_its_file_table_is_refused_naming_it():
    gw = GenericWorkflow("changed")
    del gw._inputs
    with pytest.raises(GraphTablesError, match="_inputs.*graph_tables"):
        GraphTables.of(gw)
