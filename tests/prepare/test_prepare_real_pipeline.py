# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""`bps prepare` with this plugin on a real pipeline and butler repository.

Builds the demo's repository (``examples/demo/make_repo.py``, chained
``AddTask``s over two detectors), then runs ctrl_bps's own submission
pipeline (``prepare_driver``: pipetask qgraph, clustering, transform, our
prepare) on ``examples/demo/demo.yaml`` with a test site whose queue names are
fixed here, and checks what the plugin wrote into the submit directory
against the QuantumGraph that ctrl_bps built.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lsst.ctrl.bps.drivers import prepare_driver
from lsst.ctrl.bps.panda.edgenode.job_contract import (
    NAME_MAP_CHUNK,
    NAME_MAP_DIR,
    NAME_MAP_PREFIX,
    name_map_path,
    parse_pseudo_input,
)
from lsst.ctrl.bps.panda.prepare.prepared_workflow import (
    IDDS_WORKFLOW_FILE,
    MANIFEST_FILE,
    SUMMARY_FILE,
    PandaBpsWmsWorkflow,
)
from lsst.pipe.base.pipeline_graph import TaskImportMode
from lsst.pipe.base.quantum_graph import PredictedQuantumGraph
from support.demo_repo import DEMO_DIR, PACKAGE_DIR, _load_make_repo

DETECTORS = 2

QUEUES = {"conventional": "TEST_4G", "high": "TEST_HIMEM", "merge": "TEST_MERGE"}

SUBMIT_YAML = """\
includeConfigs:
  - {demo_dir}/demo.yaml
computeSite: TEST
site:
  TEST:
    runnerCommand: >-
      python3 ${{CTRL_BPS_PANDA_DIR}}/python/lsst/ctrl/bps/panda/edgenode/cmd_line_decoder.py _cmd_line_
    memoryClasses:
      - {{name: conventional, maxMemory: 4000, queue: {conventional}}}
      - {{name: high, maxMemory: 10500, queue: {high}}}
    mergeQueue: {merge}
submitPath: {work}/submit
"""


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """Run ctrl_bps up to our prepare once; return (make_repo module, submit dir, QuantumGraph)."""
    make_repo = _load_make_repo()
    work = tmp_path_factory.mktemp("demo")
    make_repo.make_repo(work, detectors=DETECTORS)
    config = work / "submit.yaml"
    config.write_text(SUBMIT_YAML.format(demo_dir=DEMO_DIR, work=work, **QUEUES))

    venv = Path(sys.executable).parent.parent
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CTRL_BPS_PANDA_DIR", str(PACKAGE_DIR))
        patch.setenv("DEMO_WORK_DIR", str(work))
        # ctrl_bps runs ${CTRL_MPEXEC_DIR}/bin/pipetask to build the graph; a virtualenv has no EUPS.
        for name in ("CTRL_MPEXEC_DIR", "DAF_BUTLER_DIR"):
            if not os.environ.get(name):
                patch.setenv(name, str(venv))
        patch.chdir(work)
        # The submission checks need a live PanDA; this test is about what prepare writes.
        prepare_driver(str(config), runWmsSubmissionChecks=False)

    submit_dir = work / "submit"
    (qgraph_file,) = submit_dir.glob("*.qg")
    with PredictedQuantumGraph.open(qgraph_file, import_mode=TaskImportMode.DO_NOT_IMPORT) as reader:
        reader.read_thin_graph()
        qgraph = reader.finish()
    return make_repo, submit_dir, qgraph


@pytest.fixture(scope="module")
def workflow(prepared):
    """The prepared workflow, read back with `PandaBpsWmsWorkflow.read`."""
    _, submit_dir, _ = prepared
    return PandaBpsWmsWorkflow.read(str(submit_dir))


@pytest.fixture(scope="module")
def works(workflow):
    """The prepared iDDS works by label."""
    summary_by_task = {task.name: task for task in workflow.tasks}
    by_label = {}
    for work in workflow.idds_workflow.get_all_works():
        by_label.setdefault(summary_by_task[work.task_name].label, []).append(work)
    return by_label


def test_prepare_writes_workflow_manifest_and_summary(prepared):
    _, submit_dir, _ = prepared
    for name in (IDDS_WORKFLOW_FILE, MANIFEST_FILE, SUMMARY_FILE):
        assert (submit_dir / name).is_file(), f"{name} missing in {submit_dir}"


def _full_pseudo_input(workflow, name):
    """Resolve a compact ``@task.order`` pseudo input through the job-name map that submit stages."""
    if not name.startswith(NAME_MAP_PREFIX):
        return name
    task, order = (int(part) for part in name[len(NAME_MAP_PREFIX) :].split("."))
    map_root = Path(workflow.files_to_stage[NAME_MAP_DIR]).parent
    return json.loads((map_root / name_map_path(task, order)).read_text())[order % NAME_MAP_CHUNK]


def _entries(workflow, works):
    """Yield (label, task name, entry, qgraphNodeId or None) for every dependency-map entry."""
    for label, label_works in works.items():
        for work in label_works:
            for entry in work.dependency_map:
                values = parse_pseudo_input(_full_pseudo_input(workflow, entry["name"]))[1]
                yield label, work.task_name, entry, values.get("qgraphNodeId")


def test_every_quantum_is_exactly_one_dependency_map_entry(prepared, workflow, works):
    make_repo, _, qgraph = prepared
    expected = {
        str(node): label for label, quanta in qgraph.quanta_by_task.items() for node in quanta.values()
    }
    assert len(expected) == len(make_repo.LABELS) * DETECTORS
    seen = []
    for label, _, entry, node_id in _entries(workflow, works):
        if node_id is not None:
            assert expected.get(node_id) == label, f"{entry['name']} is in a {label} task"
            seen.append(node_id)
    assert sorted(seen) == sorted(expected)


def test_quantum_dependencies_follow_the_quantum_graph(prepared, workflow, works):
    _, _, qgraph = prepared
    node_of_input = {(task, entry["name"]): node_id for _, task, entry, node_id in _entries(workflow, works)}
    parents_of = {
        node_id: {node_of_input[(dep["task"], dep["inputname"])] for dep in entry["dependencies"]}
        for _, _, entry, node_id in _entries(workflow, works)
        if node_id is not None
    }
    xgraph = qgraph.quantum_only_xgraph
    assert len(parents_of) == xgraph.number_of_nodes()
    for node in xgraph.nodes:
        graph_parents = {str(parent) for parent in xgraph.predecessors(node)}
        # Quanta without parents in the graph wait for pipetaskInit (no qgraphNodeId).
        assert parents_of[str(node)] == (graph_parents or {None})


def test_pipetask_init_and_final_job_tasks_exist(works):
    assert len(works["pipetaskInit"]) == 1
    assert len(works["finalJob"]) == 1
    assert len(works["finalJob"][0].dependency_map) == 1


def test_high_memory_label_goes_to_the_high_queue(prepared, works):
    make_repo, _, _ = prepared
    for label, label_works in works.items():
        for work in label_works:
            if label == make_repo.HIGH_MEMORY_LABEL:
                assert (work.task_queue, work.task_rss) == (QUEUES["high"], 6000)
            elif label == "finalJob":
                assert work.task_queue == QUEUES["merge"]
            else:
                assert work.task_queue == QUEUES["conventional"], label


def test_summary_shows_the_routing(prepared):
    make_repo, submit_dir, _ = prepared
    lines = (submit_dir / SUMMARY_FILE).read_text().splitlines()
    high = [line for line in lines if f"_{make_repo.HIGH_MEMORY_LABEL}_" in line]
    assert high and all(QUEUES["high"] in line and " high " in line for line in high)


def test_task_executables_take_the_pseudo_input(works):
    for label_works in works.values():
        for work in label_works:
            assert "${IN/L}" in work.executable
            assert "cmd_line_decoder.py" in work.executable


FAKE_TOOL = """#!/bin/bash
# Stands in for pipetask and butler: every .qg or .yaml argument must name an existing file.
for arg in "$@"; do
    case $arg in
        *=*) ;;  # an option value such as --log-label REPO=<repo>
        *.qg | *.yaml) [[ -f $arg ]] || { echo "no such file: $arg" >&2; exit 66; } ;;
    esac
done
"""


@pytest.fixture(scope="module")
def worker_env(prepared, workflow, tmp_path_factory):
    """Stage the workflow's files as submit would; return a worker environment with fake tools."""
    _, submit_dir, _ = prepared
    end_point = Path(workflow.end_point)
    end_point.mkdir(parents=True, exist_ok=True)
    for name, source in workflow.files_to_stage.items():
        if Path(source).is_dir():
            shutil.copytree(source, end_point / name, dirs_exist_ok=True)
        else:
            shutil.copy(source, end_point / name)
    tools = tmp_path_factory.mktemp("tools")
    (tools / "bin").mkdir()
    for tool in ("pipetask", "butler"):
        (tools / "bin" / tool).write_text(FAKE_TOOL)
        (tools / "bin" / tool).chmod(0o755)
    env = dict(os.environ)
    env.update(
        CTRL_BPS_PANDA_DIR=str(PACKAGE_DIR),
        CTRL_MPEXEC_DIR=str(tools),
        DAF_BUTLER_DIR=str(tools),
        DEMO_WORK_DIR=str(submit_dir.parent),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    return env


@pytest.mark.parametrize(
    "label",
    ["pipetaskInit", "step2", "finalJob"],
)
def test_worker_command_line_finds_the_staged_files(works, worker_env, label, tmp_path):
    # What the pilot does: put the pseudo input in place of ${IN/L} and run the executable.
    work = works[label][0]
    entry = work.dependency_map[0]
    result = subprocess.run(
        ["bash", "-c", work.executable.replace("${IN/L}", entry["name"])],
        cwd=tmp_path,
        env=worker_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_verify_outputs_names_what_is_missing(prepared):
    make_repo, submit_dir, _ = prepared
    repo = submit_dir.parent / "repo"
    assert make_repo.verify_outputs(repo, "no/such/collection") == [
        "output collection 'no/such/collection' does not exist"
    ]
    problems = make_repo.verify_outputs(repo, make_repo.INPUT_COLLECTION)
    assert "add_dataset3 detector=1: missing in 'demo/inputs'" in problems
    assert len(problems) == 2 * len(make_repo.LABELS) * DETECTORS + len(make_repo.LABELS)
