# This file is part of ctrl_bps_panda.
# Copyright (c) 2026 The ctrl_bps_panda developers (see COPYRIGHT).
# SPDX-License-Identifier: BSD-3-Clause OR GPL-3.0-or-later

"""Jobs prepared by this plugin run the same commands under the published decoder as under ours.

A DRP-shaped workflow (``run-qbb`` pipetask jobs and ctrl_bps's own
``final_job.bash``, which calls ``butler aggregate-graph``) is prepared with our
plugin and staged to a local end point; then every job of every task is run by
our decoder and by the decoder of ``lsst-ctrl-bps-panda`` 30.0.0 from PyPI (see
`published_decoder`), each in a fresh working directory, with ``${IN/L}``
replaced by the job's pseudo input as PanDA does.  ``pipetask`` and ``butler``
are stand-ins (``tests/data/compat/bin``) that record their arguments in a
ledger: both ledgers must be identical and complete.  In the ``compact`` mode
(our own pseudo inputs) the published decoder must refuse to run the payload
and say which decoder the job needs.  In the ``events`` mode (``enableEventService``) each event of
an event-service job is run as the pilot runs it, with ``<label>:eventservice_<start>^<k>``.
"""

import json
import os
import re
import shlex
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from lsst.ctrl.bps.panda import PanDAService
from lsst.ctrl.bps.panda.wms.staging import stage_files
from lsst.ctrl.bps.transform import add_final_job
from support.bps_configs import IDF_CLASSES, make_config
from support.paths import DATA_DIR
from support.published_decoder import (
    PACKAGE_DIR,
    PUBLISHED_DIR,
    PublishedDecoder,
    loopback_panda_env,
    published_install,
    run_our_decoder,
)
from support.synthetic import make_drp_workflow

pytestmark = pytest.mark.real_servers

FAKE_STACK = DATA_DIR / "compat"
"""Stands for ``$CTRL_MPEXEC_DIR`` and ``$DAF_BUTLER_DIR``: ``bin/pipetask``, ``bin/butler``."""
RUNNER_PREFIX = "RUN "
WORKFLOW_NAME = "compat"
BUTLER_CONFIG = "s3://butler-compat/repo/butler.yaml"
MAX_JOBS_PER_TASK = 3
"""Splits the larger labels into several tasks: order ids must count across a label's tasks."""
JOB_ENVIRONMENT = {"COMPAT_ENV_THREADS": "1", "COMPAT_ENV_STACK": "<ENV:CTRL_MPEXEC_DIR>/share"}
"""``environment`` of the ``isr`` jobs, which their command line exports (as ctrl_bps passes it)."""
PARALLEL_JOBS = 4

MODE_KEYS = ("enableJobNameMap", "enableQnodeMap", "enableCompactJobNames")
MODES = {
    "plain": {},
    "orderid": {"enableJobNameMap": True},
    "qnode": {"enableQnodeMap": True},
    "compact": {"enableCompactJobNames": True},
    "events": {"enableEventService": "isr:2,calibrate:3"},
}
"""Configuration of each pseudo input mode; the name-mode keys not given are false."""

UNFILLED = re.compile(r"\{[A-Za-z_][A-Za-z0-9_.]*\}|<FILE:|<ENV:")


def mode_config(mode):
    return {key: MODES[mode].get(key, False) for key in MODE_KEYS} | MODES[mode]


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """The published decoder, imported once in its own server process."""
    install_dir = published_install()
    decoder = PublishedDecoder(install_dir, tmp_path_factory.mktemp("published") / "server.log")
    yield decoder
    decoder.close()


def test_published_decoder_server_holds_the_published_package_only(published):
    files = published.module_files
    assert {"lsst.ctrl.bps.panda", "lsst.ctrl.bps.panda.utils"} <= files.keys()
    ours = str(PACKAGE_DIR / "python") + os.sep
    assert all(path.startswith(str(PUBLISHED_DIR.resolve()) + os.sep) for path in files.values()), files
    assert not any(path.startswith(ours) for path in files.values()), files


def end_point_for(kind, directory):
    return f"{directory}/" if kind == "path" else f"{directory.as_uri()}/"


def prepare_and_stage(tmp_path, mode, end_point_kind):
    """Prepare a 16-job workflow with our plugin and stage it; return (generic workflow, prepared)."""
    sources = tmp_path / "sources"
    sources.mkdir()
    gw = make_drp_workflow(
        15, name=WORKFLOW_NAME, detectors=4, patches=2, final=False, submit_dir=str(sources)
    )
    (sources / f"{WORKFLOW_NAME}.qg").write_bytes(b"\0stand-in quantum graph")
    for name in gw:
        if gw.get_job(name).label == "isr":
            gw.get_job(name).environment = dict(JOB_ENVIRONMENT)
    gw.get_job("isr_0_1").request_memory = 6000  # isr in two memory classes: two tasks of one label
    site = {
        "runnerCommand": f"{RUNNER_PREFIX}_cmd_line_",
        "memoryClasses": IDF_CLASSES,
        "mergeQueue": "MERGE",
    }
    config = make_config(
        str(tmp_path / "submit"),
        site=site,
        fileDistributionEndPoint=end_point_for(end_point_kind, tmp_path / "end_point"),
        butlerConfig=BUTLER_CONFIG,
        maxJobsPerTask=MAX_JOBS_PER_TASK,
        **mode_config(mode),
    )
    add_final_job(config, gw, str(sources))  # writes final_job.bash as `bps submit` does
    prepared = PanDAService({}).prepare(config, gw, out_prefix=str(tmp_path / "submit"))
    stage_files(prepared.files_to_stage, prepared.end_point)
    return gw, prepared


def events_of(work):
    """Return the argument the pilot passes for each event of an event-service work, in order.

    iDDS gives PanDA ``<label>:eventservice_<start>^<n>``; the pilot runs event ``k`` (1..n)
    with ``<label>:eventservice_<start>^<k>``, the form the published decoder reads.
    """
    events = []
    for name in work.es_files:
        base, count = name.rsplit("^", 1)
        events += [f"{base}^{k}" for k in range(1, int(count) + 1)]
    assert len(events) == len(work.dependency_map)
    return events


def jobs_of(prepared):
    """Return [(label, pseudo input, decoder arguments)] for every job (or event) of every task."""
    label_of_task = {task.name: task.label for task in prepared.tasks}
    jobs = []
    for work in prepared.idds_workflow.get_all_works():
        assert work.executable.startswith(RUNNER_PREFIX), work.executable
        names = events_of(work) if work.es else [entry["name"] for entry in work.dependency_map]
        for pseudo_input in names:
            # PanDA pastes the pseudo input unquoted into the executable run by bash, for which the
            # event's '^' is a plain character (shlex quotes it anyway).
            plain = pseudo_input.replace("^", "")
            assert shlex.quote(plain) == plain, f"not shell-safe: {pseudo_input!r}"
            line = work.executable[len(RUNNER_PREFIX) :].replace("${IN/L}", pseudo_input)
            args = shlex.split(line)
            assert len(args) == 5, line
            jobs.append((label_of_task[work.task_name], pseudo_input, args))
    return jobs


def job_env(ledger, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "COMPAT_"))}
    env.update(loopback_panda_env())
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        CTRL_MPEXEC_DIR=str(FAKE_STACK),
        DAF_BUTLER_DIR=str(FAKE_STACK),
        COMPAT_LEDGER=str(ledger),
        **extra,
    )
    return env


def read_ledger(path):
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def run_both(published, args, directory, unset=(), **extra_env):
    """Run one job with each decoder in a fresh directory; return {decoder: (run, ledger calls)}."""
    results = {}
    for decoder, run in (("ours", run_our_decoder), ("published", published.run)):
        workdir = directory / decoder
        workdir.mkdir(parents=True)
        ledger = directory / f"{decoder}.ledger"
        env = job_env(ledger, **extra_env)
        for name in unset:
            del env[name]
        outcome = run(args, workdir, env)
        results[decoder] = (outcome, read_ledger(ledger))
    return results


def run_every_job(published, jobs, tmp_path):
    """Run all jobs with both decoders (a few at a time); return results in job order."""
    with ThreadPoolExecutor(max_workers=PARALLEL_JOBS) as pool:
        futures = [
            pool.submit(run_both, published, args, tmp_path / "runs" / f"{number:03d}")
            for number, (_, _, args) in enumerate(jobs)
        ]
        return [future.result() for future in futures]


def unfilled(calls):
    return [arg for call in calls for arg in call["argv"] if UNFILLED.search(arg)]


def describe(label, pseudo_input, decoder, outcome):
    head = f"{label} job {pseudo_input} ({decoder} decoder, exit {outcome.returncode})"
    return f"{head}:\n{outcome.output[-1500:]}"


def names_the_decoder_it_needs(output, tmp_path):
    """Tell whether ``output`` says which decoder the job needs, not counting paths that say "decoder"."""
    text = output
    for path in (PUBLISHED_DIR, PACKAGE_DIR, tmp_path):  # checkout, install and test directories
        text = text.replace(str(path), "")
    text = re.sub(r"\S*(cmd_line_decoder|run_published_decoder)\.py\S*", "", text).lower()
    return "decoder" in text and re.search(r"ctrl_bps_panda|cmd_line_decoder", text) is not None


def quantum_ids(gw):
    return sorted(job.cmdvals["qgraphNodeId"] for job in map(gw.get_job, gw) if "run-qbb" in job.arguments)


def node_ids_run(calls):
    return [
        call["argv"][call["argv"].index("--qgraph-node-id") + 1]
        for call in calls
        if "--qgraph-node-id" in call["argv"]
    ]


@pytest.mark.parametrize("end_point_kind", ["path", "file-uri"])
@pytest.mark.parametrize("mode", ["plain", "orderid", "qnode", "events"])
def test_published_decoder_runs_exactly_our_commands(mode, end_point_kind, published, tmp_path):
    gw, prepared = prepare_and_stage(tmp_path, mode, end_point_kind)
    jobs = jobs_of(prepared)
    assert len(jobs) == len(gw) + 1  # every payload job and the final job

    problems = []
    node_ids = []
    for (label, pseudo_input, _), results in zip(jobs, run_every_job(published, jobs, tmp_path), strict=True):
        (ours, our_calls), (theirs, their_calls) = results["ours"], results["published"]
        if ours.returncode != 0 or not our_calls:
            problems.append(describe(label, pseudo_input, "our", ours))
        # Only the published decoder prints this line: proof that its code ran, not ours.
        if theirs.returncode != 0 or not their_calls or "executable command line:" not in theirs.stdout:
            problems.append(describe(label, pseudo_input, "published", theirs))
        if our_calls != their_calls:
            problems.append(f"{label} job {pseudo_input}: ours ran {our_calls}, published ran {their_calls}")
        if bad := unfilled(our_calls + their_calls):
            problems.append(f"{label} job {pseudo_input}: unfilled placeholders in {bad}")
        node_ids += node_ids_run(our_calls)
        for call in our_calls:
            if label == "isr":
                assert call["env"] == {**JOB_ENVIRONMENT, "COMPAT_ENV_STACK": f"{FAKE_STACK}/share"}, call
            if label == "finalJob":
                assert call["tool"] == "butler" and "aggregate-graph" in call["argv"], call
                assert f"{prepared.end_point}{WORKFLOW_NAME}.qg" in call["argv"], call
    assert not problems, f"{len(problems)} problem(s) in {len(jobs)} jobs:\n" + "\n\n".join(problems[:6])
    assert sorted(node_ids) == quantum_ids(gw)  # each quantum ran once, in the job that carries it


@pytest.mark.parametrize("end_point_kind", ["path", "file-uri"])
def test_published_decoder_refuses_compact_pseudo_inputs(end_point_kind, published, tmp_path):
    gw, prepared = prepare_and_stage(tmp_path, "compact", end_point_kind)
    jobs = jobs_of(prepared)
    problems = []
    node_ids = []
    for (label, pseudo_input, _), results in zip(jobs, run_every_job(published, jobs, tmp_path), strict=True):
        (ours, our_calls), (theirs, their_calls) = results["ours"], results["published"]
        node_ids += node_ids_run(our_calls)
        if ours.returncode != 0 or not our_calls or unfilled(our_calls):
            problems.append(describe(label, pseudo_input, "our", ours) + f"\nran {our_calls}")
        if theirs.returncode == 0 or their_calls or not names_the_decoder_it_needs(theirs.output, tmp_path):
            problems.append(describe(label, pseudo_input, "published", theirs) + f"\nran {their_calls}")
    assert not problems, f"{len(problems)} problem(s) in {len(jobs)} jobs:\n" + "\n\n".join(problems[:6])
    assert sorted(node_ids) == quantum_ids(gw)  # our decoder ran each quantum once


def first_job_of(prepared, label):
    jobs = [job for job in jobs_of(prepared) if job[0] == label]
    assert jobs, f"no {label} job"
    return jobs[0]


@pytest.mark.parametrize("label", ["isr", "finalJob"])
def test_both_decoders_return_the_payloads_exit_code(label, published, tmp_path):
    _, prepared = prepare_and_stage(tmp_path, "plain", "path")
    _, pseudo_input, args = first_job_of(prepared, label)
    results = run_both(published, args, tmp_path / "run", COMPAT_EXIT_CODE="3")
    for decoder, (outcome, calls) in results.items():
        assert outcome.returncode == 3, describe(label, pseudo_input, decoder, outcome)
        assert len(calls) == 1, f"{decoder} decoder: {calls}"
    assert results["ours"][1] == results["published"][1]


def test_unset_worker_variable_stops_both_decoders_before_the_payload(published, tmp_path):
    _, prepared = prepare_and_stage(tmp_path, "plain", "path")
    _, pseudo_input, args = first_job_of(prepared, "isr")
    results = run_both(published, args, tmp_path / "run", unset=["CTRL_MPEXEC_DIR"])
    for decoder, (outcome, calls) in results.items():
        assert outcome.returncode != 0 and calls == [], describe("isr", pseudo_input, decoder, outcome)
        assert "CTRL_MPEXEC_DIR" in outcome.output, describe("isr", pseudo_input, decoder, outcome)


def full_name_form(job):
    """The published form <job>+<key>:<value>+..., with the placeholderParams keys the job's command uses.

    (The published plugin also appends unused keys with empty values; both decoders ignore them.)
    """
    texts = [job.arguments or "", *(str(v) for v in (job.environment or {}).values())]
    used = [key for key in ("qgraphNodeId", "qgraphId") if any(f"{{{key}}}" in text for text in texts)]
    return job.name + "".join(f"+{key}:{job.cmdvals[key]}" for key in used)


def map_of(prepared, key, args):
    """Read the map staged under file ``key`` (named in the job's file list) from the end point."""
    files = dict(entry.split(":", 1) for entry in args[3].split("+"))
    assert key in files, f"no {key} in the file list {args[3]}"
    return json.loads(Path(prepared.end_point.removeprefix("file://"), files[key]).read_text())


@pytest.mark.parametrize("mode", ["plain", "orderid", "qnode"])
def test_pseudo_inputs_have_the_published_form(mode, tmp_path):
    gw, prepared = prepare_and_stage(tmp_path, mode, "path")
    entries = {
        (work.task_name, entry["name"]): entry
        for work in prepared.idds_workflow.get_all_works()
        for entry in work.dependency_map
    }
    for entry in entries.values():  # parents are named as they are in their own task
        for parent in entry["dependencies"]:
            assert (parent["task"], parent["inputname"]) in entries, parent
    jobs = [(label, name, args) for label, name, args in jobs_of(prepared) if label != "finalJob"]
    full_names = {}
    for label, name, args in jobs:
        if mode == "plain":
            full_name = name
        elif mode == "orderid":
            match = re.fullmatch(r"(?P<label>[^:+]+):orderIdMap_(?P<order>[0-9]+)", name)
            assert match and match["label"] == label, name
            full_name = map_of(prepared, "orderIdMapFilename", args)[label][match["order"]]
        else:
            assert name.startswith("PH:") and "+" not in name, name
            assert args[3].split("+").count("qnodemap:qnode_map.json") == 1, args[3]
            full_name = map_of(prepared, "qnodemap", args)[name]
        full_names[full_name.split("+")[0]] = full_name
    assert len(full_names) == len(jobs)
    # Quantum jobs: <job name>+qgraphNodeId:<uuid>..., as the published decoder reads them.
    quantum_jobs = [job for job in map(gw.get_job, gw) if "{qgraphNodeId}" in job.arguments]
    assert {job.name: full_names.get(job.name) for job in quantum_jobs} == {
        job.name: full_name_form(job) for job in quantum_jobs
    }
